#!/usr/bin/env bash
# Deploys a Blindfold enclave image to AWS EC2 with NitroTPM and UEFI
# Secure Boot, as the NitroTPM "zero operator access" sample does: the raw
# disk to S3, a snapshot, an AMI registered with --boot-mode uefi
# --tpm-support v2.0 and the Secure Boot variables (our db certificate), an
# instance role that may read sealed models and call kms:Decrypt only with a
# NitroTPM attestation, and an instance launched with no SSH key, no SSM
# agent (the image has none) and IMDSv2 only. docs/deploy.md walks through
# it, and says what could not be run from the project's machines.
#
#   deploy/aws/deploy.sh --export DIR --uefi-data FILE --image-bucket BUCKET \
#       --models-bucket BUCKET --kms-key-arn ARN --subnet ID --security-group ID \
#       [--region REGION] [--name NAME] [--instance-type TYPE] [--role NAME]
#
#   --export DIR        `blindfold image export IMAGE --target aws -o DIR` (disk.raw)
#   --uefi-data FILE    the Secure Boot variables in AWS's format
#                       (scripts/secure-boot-vars.sh CERT OUT.fd FILE)
#   --image-bucket B    S3 bucket the disk is uploaded to for the snapshot
#                       (the account's vmimport role must read it: iam/vmimport-*.json)
#   --models-bucket B   S3 bucket holding the sealed models the enclave reads
#   --kms-key-arn ARN   the owner's KMS key (its key policy: `blindfold model kms-policy`)
#   --subnet ID, --security-group ID   where the instance runs; the group
#                       should let in only the enclave's API port
#   --region REGION     default: $AWS_REGION, else us-east-1
#   --name NAME         AMI, role and instance name prefix (default blindfold-enclave)
#   --instance-type T   a Nitro type with NitroTPM (default m6i.xlarge)
#   --role NAME         instance role (default NAME-instance)
#
# BLINDFOLD_DEPLOY_DRY_RUN=1 prints every command instead of running it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/lib.sh
. "$here/../lib.sh"

export_dir='' uefi_data='' image_bucket='' models_bucket='' kms_key='' subnet='' group=''
region=${AWS_REGION:-us-east-1} name=blindfold-enclave instance_type=m6i.xlarge role=''
while (($#)); do
  flag_value "$@"
  case $1 in
    --export) export_dir=$2 ;;
    --uefi-data) uefi_data=$2 ;;
    --image-bucket) image_bucket=$2 ;;
    --models-bucket) models_bucket=$2 ;;
    --kms-key-arn) kms_key=$2 ;;
    --subnet) subnet=$2 ;;
    --security-group) group=$2 ;;
    --region) region=$2 ;;
    --name) name=$2 ;;
    --instance-type) instance_type=$2 ;;
    --role) role=$2 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift 2
done
require_flags export_dir:export uefi_data:uefi-data image_bucket:image-bucket models_bucket:models-bucket \
  kms_key:kms-key-arn subnet:subnet group:security-group
role=${role:-$name-instance}
need aws
need_file "$export_dir/disk.raw" "the exported raw disk"
need_file "$uefi_data" "the UEFI variables"

make_work_dir
sed "s|@MODELS_BUCKET@|$models_bucket|g; s|@KMS_KEY_ARN@|$kms_key|g" \
  "$here/iam/instance-policy.json" >"$work/instance-policy.json"
key=blindfold/$name.raw

say "uploading the disk to s3://$image_bucket/$key"
run aws s3 cp "$export_dir/disk.raw" "s3://$image_bucket/$key" --region "$region"

say "importing it as a snapshot"
task=$(capture import-snap-0123456789abcdef0 aws ec2 import-snapshot --region "$region" \
  --description "$name" --disk-container "Format=RAW,UserBucket={S3Bucket=$image_bucket,S3Key=$key}" \
  --query ImportTaskId --output text)
snapshot=''
while [[ -z $snapshot ]]; do
  read -r status snap < <(capture "completed snap-0123456789abcdef0" aws ec2 describe-import-snapshot-tasks \
    --region "$region" --import-task-ids "$task" \
    --query 'ImportSnapshotTasks[0].SnapshotTaskDetail.[Status,SnapshotId]' --output text)
  case $status in
    completed) snapshot=$snap ;;
    deleted | deleting) die "the snapshot import $task failed" ;;
    *) sleep 15 ;;
  esac
done

say "registering the AMI (UEFI, NitroTPM 2.0, Secure Boot variables with our db)"
ami=$(capture ami-0123456789abcdef0 aws ec2 register-image --region "$region" --name "$name" \
  --architecture x86_64 --virtualization-type hvm --ena-support \
  --boot-mode uefi --tpm-support v2.0 --imds-support v2.0 \
  --uefi-data "file://$uefi_data" --root-device-name /dev/xvda \
  --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$snapshot,VolumeType=gp3,DeleteOnTermination=true}" \
  --query ImageId --output text)

say "the instance role $role: read sealed models, kms:Decrypt only with a NitroTPM attestation"
run aws iam create-role --role-name "$role" --assume-role-policy-document "file://$here/iam/instance-trust.json"
run aws iam put-role-policy --role-name "$role" --policy-name blindfold-enclave \
  --policy-document "file://$work/instance-policy.json"
run aws iam create-instance-profile --instance-profile-name "$role"
run aws iam add-role-to-instance-profile --instance-profile-name "$role" --role-name "$role"

say "no serial console for this account's instances in $region"
run aws ec2 disable-serial-console-access --region "$region"

say "launching: no SSH key, IMDSv2 only (the enclave's KMS path uses it), no public IP"
instance=$(capture i-0123456789abcdef0 aws ec2 run-instances --region "$region" --image-id "$ami" \
  --instance-type "$instance_type" --count 1 --subnet-id "$subnet" --security-group-ids "$group" \
  --iam-instance-profile "Name=$role" --no-associate-public-ip-address \
  --metadata-options "HttpTokens=required,HttpPutResponseHopLimit=1,HttpEndpoint=enabled" \
  --tag-specifications "ResourceType=instance,Tags=[{Key=Name,Value=$name}]" \
  --query 'Instances[0].InstanceId' --output text)
address=$(capture 10.0.1.23 aws ec2 describe-instances --region "$region" --instance-ids "$instance" \
  --query 'Reservations[0].Instances[0].PrivateIpAddress' --output text)
say "instance $instance (AMI $ami) at $address; verify it with:"
say "  blindfold verify https://$address:8443 --reference pcr_measurements.json (docs/deploy.md)"
