#!/usr/bin/env bash
# Deploys a Blindfold enclave image to Azure as a Trusted Launch VM (vTPM,
# Secure Boot with the image's signing certificate as the only db entry)
# or a confidential VM (SEV-SNP, the vTPM behind the HCL report), as
# BlindLlama-v2 does: the fixed VHD to a page blob, a Compute Gallery image
# definition (specialized: the enclave runs no provisioning agent, so Azure
# must not wait for one), an image version carrying the db certificate
# (image-version.json), and a VM with no public IP, no admin account and
# boot diagnostics (hence the serial console) off. docs/deploy.md walks
# through it, and says what could not be run from the project's machines.
#
#   deploy/azure/deploy.sh --export DIR --cert CERT.pem --resource-group RG \
#       --storage-account SA --gallery G --subnet-id ID [--container C] \
#       [--name NAME] [--version X.Y.Z] [--size SIZE] [--confidential]
#
#   --export DIR        `blindfold image export IMAGE --target azure -o DIR` (disk.vhd)
#   --cert CERT.pem     the certificate the UKI was signed with (image build --sign)
#   --resource-group RG, --storage-account SA, --gallery G   existing resources
#   --subnet-id ID      the subnet (its network security group should let in
#                       only the enclave's API port)
#   --container C       blob container for the VHD (default blindfold)
#   --name NAME         image definition and VM name (default blindfold-enclave)
#   --version X.Y.Z     gallery image version (default 1.0.0)
#   --size SIZE         VM size (default Standard_D4s_v5; with --confidential
#                       Standard_DC4as_v5)
#   --confidential      a confidential VM (SEV-SNP) instead of Trusted Launch
#
# BLINDFOLD_DEPLOY_DRY_RUN=1 prints every command instead of running it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/lib.sh
. "$here/../lib.sh"

export_dir='' cert='' group='' account='' gallery='' subnet='' container=blindfold
name=blindfold-enclave version=1.0.0 size='' confidential=0
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
    --resource-group) group=$2 ;;
    --storage-account) account=$2 ;;
    --gallery) gallery=$2 ;;
    --subnet-id) subnet=$2 ;;
    --container) container=$2 ;;
    --name) name=$2 ;;
    --version) version=$2 ;;
    --size) size=$2 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift 2
done
require_flags export_dir:export cert:cert group:resource-group account:storage-account gallery:gallery \
  subnet:subnet-id
need az openssl
need_file "$export_dir/disk.vhd" "the exported fixed VHD"
need_file "$cert" "the signing certificate"
if ((confidential)); then
  security_type=ConfidentialVM feature=TrustedLaunchAndConfidentialVmSupported size=${size:-Standard_DC4as_v5}
else
  security_type=TrustedLaunch feature=TrustedLaunchSupported size=${size:-Standard_D4s_v5}
fi
db_certificate=$(openssl x509 -in "$cert" -outform DER | base64 -w0)
blob=$name-$version.vhd

say "uploading the fixed VHD as a page blob"
run az storage blob upload --auth-mode login --account-name "$account" --container-name "$container" \
  --name "$blob" --file "$export_dir/disk.vhd" --type page --overwrite true
account_id=$(capture "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/$group/providers/Microsoft.Storage/storageAccounts/$account" \
  az storage account show --resource-group "$group" --name "$account" --query id --output tsv)

say "the image definition: specialized (no provisioning agent), Gen2, $feature"
run az sig image-definition create --resource-group "$group" --gallery-name "$gallery" \
  --gallery-image-definition "$name" --publisher blindfold --offer enclave --sku "$security_type" \
  --os-type Linux --os-state Specialized --hyper-v-generation V2 --features "SecurityType=$feature"

say "the image version, with the signing certificate as the firmware's db"
run az deployment group create --resource-group "$group" --name "$name-$version" \
  --template-file "$here/image-version.json" \
  --parameters "galleryName=$gallery" "imageDefinitionName=$name" "versionName=$version" \
  "vhdUri=https://$account.blob.core.windows.net/$container/$blob" \
  "storageAccountId=$account_id" "dbCertificate=$db_certificate"
image_id=$(capture "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/$group/providers/Microsoft.Compute/galleries/$gallery/images/$name/versions/$version" \
  az sig image-version show --resource-group "$group" --gallery-name "$gallery" \
  --gallery-image-definition "$name" --gallery-image-version "$version" --query id --output tsv)

say "the VM: $security_type, vTPM and Secure Boot on, no public IP, no admin account"
vm=(az vm create --resource-group "$group" --name "$name" --image "$image_id" --specialized
  --size "$size" --security-type "$security_type" --enable-secure-boot true --enable-vtpm true
  --subnet "$subnet" --public-ip-address "" --nsg "")
if ((confidential)); then
  vm+=(--os-disk-security-encryption-type VMGuestStateOnly)
fi
run "${vm[@]}"
say "boot diagnostics off: no serial console"
run az vm boot-diagnostics disable --resource-group "$group" --name "$name"
address=$(capture 10.0.1.23 az vm list-ip-addresses --resource-group "$group" --name "$name" \
  --query '[0].virtualMachine.network.privateIpAddresses[0]' --output tsv)
say "VM $name at $address; verify it with:"
say "  blindfold verify https://$address:8443 --reference measurements.json (docs/deploy.md)"
