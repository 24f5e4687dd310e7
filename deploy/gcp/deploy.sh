#!/usr/bin/env bash
# Deploys a Blindfold enclave image to Google Cloud as a Shielded VM (vTPM,
# Secure Boot with the image's signing certificate as the only db entry,
# integrity monitoring), or a Confidential VM (SEV-SNP; its trust basis
# stays `hypervisor` until Blindfold has an SNP attester for it): the
# gzip'd tar to Cloud Storage, an image with the UEFI keys, and an instance
# with no service account, no external IP, project SSH keys blocked and the
# serial port off. docs/deploy.md walks through it, and says what could not
# be run from the project's machines.
#
#   deploy/gcp/deploy.sh --export DIR --cert CERT.pem --bucket BUCKET \
#       --project P --zone Z --subnet S [--name NAME] [--machine-type T] \
#       [--confidential]
#
#   --export DIR        `blindfold image export IMAGE --target gcp -o DIR` (disk.tar.gz)
#   --cert CERT.pem     the certificate the UKI was signed with (image build --sign);
#                       it becomes the image's PK, KEK and db
#   --bucket BUCKET     Cloud Storage bucket for the upload
#   --project P, --zone Z, --subnet S   where the instance runs (the subnet's
#                       firewall should let in only the enclave's API port)
#   --name NAME         image and instance name (default blindfold-enclave)
#   --machine-type T    default n2d-standard-4
#   --confidential      a Confidential VM (SEV-SNP) instead of a Shielded VM
#
# BLINDFOLD_DEPLOY_DRY_RUN=1 prints every command instead of running it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/lib.sh
. "$here/../lib.sh"

export_dir='' cert='' bucket='' project='' zone='' subnet='' name=blindfold-enclave
machine_type=n2d-standard-4 confidential=0
while (($#)); do
  case $1 in
    --confidential)
      confidential=1
      shift
      continue
      ;;
  esac
  flag_value "$@"
  case $1 in
    --export) export_dir=$2 ;;
    --cert) cert=$2 ;;
    --bucket) bucket=$2 ;;
    --project) project=$2 ;;
    --zone) zone=$2 ;;
    --subnet) subnet=$2 ;;
    --name) name=$2 ;;
    --machine-type) machine_type=$2 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift 2
done
require_flags export_dir:export cert:cert bucket:bucket project:project zone:zone subnet:subnet
need gcloud openssl
need_file "$export_dir/disk.tar.gz" "the exported disk archive"
need_file "$cert" "the signing certificate"
make_work_dir
openssl x509 -in "$cert" -outform DER -out "$work/db.der"
features=UEFI_COMPATIBLE,GVNIC
if ((confidential)); then
  features+=,SEV_SNP_CAPABLE
fi

say "uploading the disk archive"
run gcloud storage cp "$export_dir/disk.tar.gz" "gs://$bucket/$name.tar.gz" --project "$project"

say "the image: $features, the signing certificate as PK, KEK and db"
run gcloud compute images create "$name" --project "$project" --source-uri "gs://$bucket/$name.tar.gz" \
  --guest-os-features "$features" --platform-key-file "$work/db.der" \
  --key-exchange-key-file "$work/db.der" --signature-database-file "$work/db.der"

say "the instance: vTPM, Secure Boot, no service account, no external IP, serial port off"
vm=(gcloud compute instances create "$name" --project "$project" --zone "$zone" --image "$name"
  --machine-type "$machine_type" --subnet "$subnet" --no-address --no-service-account --no-scopes
  --shielded-secure-boot --shielded-vtpm --shielded-integrity-monitoring
  --metadata "serial-port-enable=FALSE,block-project-ssh-keys=TRUE,enable-oslogin=FALSE")
if ((confidential)); then
  vm+=(--confidential-compute-type SEV_SNP --maintenance-policy TERMINATE)
fi
run "${vm[@]}"
address=$(capture 10.128.0.23 gcloud compute instances describe "$name" --project "$project" --zone "$zone" \
  --format 'value(networkInterfaces[0].networkIP)')
say "instance $name at $address; verify it with:"
say "  blindfold verify https://$address:8443 --reference measurements.json (docs/deploy.md)"
