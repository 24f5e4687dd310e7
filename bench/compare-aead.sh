#!/usr/bin/env bash
# Sealing speed on one core against OpenSSL run in the same script:
# AES-256-GCM alone in each provider vs `openssl speed -evp aes-256-gcm`
# on the same chunk size (goal: ring >= 0.8x), and the whole sealed-model
# format (AES-256-GCM + SHA-256 of the plaintext, no I/O) sealing and
# opening TOTAL bytes, next to `openssl speed -evp sha256` (the digest sets
# the ceiling when the cipher is this fast).
#
#   bench/compare-aead.sh [CHUNK_BYTES] [TOTAL_BYTES] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
chunk=${1:-4194304}
total=${2:-1073741824}
seconds=${3:-3}
cargo build -q --release -p blindfold-sealed --example aead_speed
bin=${CARGO_TARGET_DIR:-target}/release/examples/aead_speed
ours=$(taskset -c 0 "$bin" "$chunk" "$total" "$seconds")
# openssl speed prints "<name> <k/s for each size>"; with one -bytes size
# the last field is 1000s of bytes per second.
openssl_rate() {
  taskset -c 0 openssl speed -seconds "$seconds" -bytes "$chunk" -evp "$1" 2>/dev/null \
    | awk -v n="$1" 'tolower($1) == tolower(n) || tolower($1) == "aes-256-gcm" { v = $NF } END { sub(/k$/, "", v); print v * 1000 }'
}
gcm=$(openssl_rate aes-256-gcm)
sha=$(openssl_rate sha256)
field() { awk -v k="$1" '$1 == k { print $2 }' <<<"$ours"; }
mb() { awk -v b="$1" 'BEGIN { printf "%8.0f MB/s", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo "chunk $chunk bytes, one core ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo "openssl aes-256-gcm     $(mb "$gcm")"
for p in Ring RustCrypto; do
  v=$(field "aes-256-gcm-$p")
  echo "$(printf '%-23s' "aes-256-gcm $p") $(mb "$v")   $(ratio "$v" "$gcm") of openssl"
done
echo "openssl sha256          $(mb "$sha")"
echo "seal (gcm + sha256)     $(mb "$(field seal)")   $(ratio "$(field seal)" "$sha") of openssl sha256 alone"
echo "open (gcm + sha256)     $(mb "$(field open)")   $(ratio "$(field open)" "$sha") of openssl sha256 alone"
