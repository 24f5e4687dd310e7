#!/usr/bin/env bash
# Makes an OVMF variable store with Secure Boot on and one certificate
# enrolled as PK, KEK and db (owner GUID below), for `blindfold vm run
# --secure-boot --efi-vars OUT.fd` and `blindfold platform reference` with
# the same flags. With a third argument, also writes the same variables in
# AWS's `register-image --uefi-data` format.
#
#   scripts/secure-boot-vars.sh CERT.pem OUT.fd [OUT-aws-uefi-data.bin]
#
# Needs virt-firmware (PyPI), which scripts/setup.sh installs into
# ~/.cache/blindfold/venv. Nothing secret is read: only the certificate.
set -euo pipefail

# The owner GUID of Blindfold's enrolled entries; PCR 7's authority event
# carries it, so it is fixed.
owner=8ae2d9b4-4f43-4a6e-9c5d-1b7a0e5f3c21

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 CERT.pem OUT.fd [OUT-aws-uefi-data.bin]" >&2
  exit 2
fi
cert=$1
out=$2
aws=${3:-}
cache=${BLINDFOLD_CACHE:-$HOME/.cache/blindfold}
fw_vars=$cache/venv/bin/virt-fw-vars
command -v virt-fw-vars >/dev/null 2>&1 && fw_vars=$(command -v virt-fw-vars)
if [[ ! -x $fw_vars ]]; then
  echo "secure-boot-vars: virt-fw-vars not found (scripts/setup.sh installs virt-firmware)" >&2
  exit 2
fi
template=${OVMF_VARS_TEMPLATE:-/usr/share/OVMF/OVMF_VARS_4M.fd}
args=(--input "$template" --output "$out"
  --set-pk "$owner" "$cert" --add-kek "$owner" "$cert" --add-db "$owner" "$cert" --secure-boot)
[[ -n $aws ]] && args+=(--output-aws "$aws")
"$fw_vars" "${args[@]}" >/dev/null
echo "wrote $out${aws:+ and $aws} (Secure Boot on; PK, KEK and db: $(openssl x509 -in "$cert" -noout -subject))"
