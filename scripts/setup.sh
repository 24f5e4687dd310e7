#!/usr/bin/env bash
# Installs what Blindfold's tests and tools need on Debian 12 (run as root).
# Skips whatever is already present, so it is cheap to run every time.
#
#   scripts/setup.sh
#
# Debian packages: tpm2-tools (tpm2_quote, tpm2_checkquote, tpm2_eventlog:
# the oracles our verifier is checked against), swtpm + swtpm-tools (the
# software TPM), openssl (nonces, test PKIs, the oracle for RSA-PSS),
# cryptsetup-bin (veritysetup: the oracle for our dm-verity trees), erofs-utils
# (mkfs.erofs builds app disks; fsck.erofs checks them), pesign
# and binutils (Authenticode and section oracles), systemd-boot-efi (the
# UKI stub), qemu-system-x86 + ovmf + mtools + dosfstools (booting a UKI to
# check PCR predictions; this replaces a backports qemu-utils if present),
# libtss2-dev + pkg-config (the attester side links tpm2-tss via tss-esapi).
# Rust: cargo >= 1.80 must already be on PATH (Debian 12's own cargo is too
# old); the script says so if it is not.
set -euo pipefail

need_cmds=(tpm2_quote tpm2_checkquote tpm2_eventlog tpm2_createak swtpm swtpm_setup openssl veritysetup
  pesign objdump qemu-system-x86_64 mcopy mkfs.vfat mkfs.erofs fsck.erofs)
need_cmds+=(pkg-config)
need_files=(/usr/lib/systemd/boot/efi/linuxx64.efi.stub /usr/share/OVMF/OVMF_CODE_4M.fd
  /usr/include/tss2/tss2_esys.h)
pkgs=(tpm2-tools swtpm swtpm-tools openssl cryptsetup-bin pesign binutils systemd-boot-efi
  qemu-system-x86 ovmf mtools dosfstools erofs-utils libtss2-dev pkg-config)

missing=()
for c in "${need_cmds[@]}"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
for f in "${need_files[@]}"; do [[ -e $f ]] || missing+=("$f"); done
if ((${#missing[@]})); then
  echo "setup: installing ${pkgs[*]} (missing: ${missing[*]})" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root (or install ${pkgs[*]} yourself)" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
for c in "${need_cmds[@]}"; do
  command -v "$c" >/dev/null 2>&1 || { echo "setup: $c still missing after install" >&2; exit 2; }
done

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust >= 1.80 (rustup) and re-run" >&2
  exit 2
fi
rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if ((rust_minor < 80)); then
  echo "setup: rustc $(rustc --version) is older than 1.80; install a newer toolchain" >&2
  exit 2
fi
echo "setup: ready (tpm2-tools $(tpm2_quote --version | sed -E 's/.*version="([^"]+)".*/\1/'), $(swtpm --version | head -1), $(rustc --version))" >&2
