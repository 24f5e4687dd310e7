#!/usr/bin/env bash
# The measured image's two timings: `blindfold image build` (UKI + app disk
# with the packaged model on one GPT disk) and boot-to-verified (from `vm
# run` to the first `blindfold verify` that passes with the measured-boot
# reference), with the dm-verity tree of the app disk set against
# `veritysetup format` over the same bytes, in one run.
#
#   bench/measured-image.sh [RUNS]
#
# RUNS (default 3) image builds and boots; prints each mean and the
# verity ratio. KVM is used when it really works (as `vm run` decides),
# else TCG; the line says which. Builds blindfold and blindfold-enclave
# with the `enclave` profile (as shipped).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
scripts/setup.sh --demo --vm >&2
cargo build --profile enclave --locked -q -p blindfold-runtime >&2
cargo build --profile enclave --locked -q -p blindfold-cli >&2
bin=${CARGO_TARGET_DIR:-target}/enclave
B=$bin/blindfold
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache=${BLINDFOLD_CACHE:-$HOME/.cache/blindfold}
model=$cache/model/SmolLM2-135M-Instruct.Q4_1.gguf

cat >"$work/enclave.json" <<'EOF'
{"platform": "local",
 "network": {"address": "10.0.2.15/24", "gateway": "10.0.2.2", "listen_port": 8443},
 "engine": {"embedded": {"gguf": "/app/model.gguf", "model_id": "smollm2"}}}
EOF
cat >"$work/image.toml" <<EOF
[kernel]
dir = "$cache/kernel/6.1.0-57-amd64"
[boot]
stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
[enclave]
binary = "$bin/blindfold-enclave"
config = "enclave.json"
[app.files]
"model.gguf" = "$model"
EOF

now() { date +%s%N; }
secs() { awk -v n="$1" 'BEGIN { printf "%.2f s", n / 1e9 }'; }

total=0
for ((i = 0; i < runs; i++)); do
  rm -rf "$work/image"
  start=$(now)
  "$B" image build --config "$work/image.toml" -o "$work/image" >/dev/null 2>&1
  total=$((total + $(now) - start))
done
build=$((total / runs))

# The app disk's verity tree alone: ours (inside image build) against
# veritysetup over the same erofs bytes.
app_bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data_size"])' "$work/image/app.img.json")
part_start=$(python3 - "$work/image/disk.img" <<'PY'
import struct, sys
with open(sys.argv[1], 'rb') as f:
    f.seek(1024 + 128)          # the second GPT entry: the app disk
    entry = f.read(128)
print(struct.unpack('<Q', entry[32:40])[0] * 512)
PY
)
dd if="$work/image/disk.img" of="$work/app-data" bs=4096 iflag=skip_bytes,count_bytes skip="$part_start" count="$app_bytes" status=none
mean_ns() {
  local start
  start=$(now)
  for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1; done
  echo $((($(now) - start) / runs))
}
salt=$(printf '%064x' 42)
uuid=12345678-1234-1234-1234-123456789abc
theirs=$(mean_ns veritysetup format "$work/app-data" "$work/h1" --salt "$salt" --uuid "$uuid")
ours=$(mean_ns "$B" verity format "$work/app-data" "$work/h2" --salt "$salt" --uuid "$uuid")
cmp -s "$work/h1" "$work/h2" || { echo "bench: the two hash trees differ" >&2; exit 1; }

"$B" platform init "$work/platform" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$B" platform reference "$work/image" --platform "$work/platform" --port "$port" -o "$work/firmware.log" >/dev/null 2>&1
"$B" measure --image "$work/image" --firmware-log "$work/firmware.log" -o "$work/measurements.json" >/dev/null

total=0
each=
accel=
for ((i = 0; i < runs; i++)); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  start=$(now)
  "$B" vm run "$work/image" --platform "$work/platform" --port "$port" >"$work/vm.out" 2>&1 &
  vm=$!
  "$B" verify "https://127.0.0.1:$port" --reference "$work/measurements.json" --reference-unsigned \
    --platform-ca "$work/platform/ca.pem" --allow-dev --wait 300 >/dev/null
  took=$(($(now) - start))
  total=$((total + took))
  each="$each${each:+, }$(secs "$took")"
  accel=$(grep -o 'KVM\|TCG' "$work/vm.out" | head -1)
  kill "$vm"
  wait "$vm" || true
done
boot=$((total / runs))

echo "image build (packaged model, $(stat -c %s "$work/image/disk.img") byte disk): $(secs "$build") mean of $runs"
echo "boot to verified ($accel, measured-boot reference): $(secs "$boot") mean of $runs ($each)"
echo "verity tree of the app disk ($app_bytes bytes, $(nproc) cores): veritysetup $(secs "$theirs"), ours $(secs "$ours"): $(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.2f", a / b }')x"
