#!/usr/bin/env bash
# The verifying proxy's cost: the same streaming requests sent through
# `blindfold proxy` → attested TLS → `blindfold-enclave`, and directly to
# the same engine over plain HTTP on loopback (no TLS, no attestation;
# crates/api/examples/serve.rs), at concurrency 1, 8 and 32, with the same
# client (bench/loadgen.py). Prints tokens/s and time to first token for
# both and the overhead. Goal: under 3% in tokens/s and under 2 ms added to
# time-to-first-token.
#
#   bench/compare-proxy.sh [MAX_TOKENS] [REQUESTS_PER_CLIENT]
set -euo pipefail
cd "$(dirname "$0")/.."
max_tokens=${1:-32}
per_client=${2:-2}
cache=${BLINDFOLD_CACHE:-$HOME/.cache/blindfold}
model="$cache/model/SmolLM2-135M-Instruct.Q4_1.gguf"
[[ -f $model ]] || { echo "bench: run scripts/setup.sh first (the model)" >&2; exit 2; }
cargo build -q --release -p blindfold-cli -p blindfold-runtime
cargo build -q --release -p blindfold-api --example serve
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$bin/blindfold" platform stop "$work/platform" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_line() { for _ in $(seq 1 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "bench: no '$2' in $1" >&2; cat "$1" >&2; exit 1; }

B="$bin/blindfold"
$B platform init "$work/platform" >/dev/null
tcti=$($B platform start "$work/platform")
$B keygen -o "$work/publisher" >/dev/null
mkdir "$work/app" && echo '{}' > "$work/app/runtime.json"
$B disk build "$work/app" -o "$work/app.img" >/dev/null
eport=$(free_port)
python3 - "$work" "$tcti" "$eport" "$model" <<'PY'
import json, sys
work, tcti, port, model = sys.argv[1:5]
disk = json.load(open(f"{work}/app.img.json"))
json.dump({"tcti": tcti, "listen": f"127.0.0.1:{port}"}, open(f"{work}/launch.json", "w"))
json.dump({"platform": "local", "app_disk": f"{work}/app.img",
           "app_disk_root_hash": disk["root_hash"], "app_disk_hash_offset": disk["hash_offset"],
           "engine": {"embedded": {"gguf": model, "model_id": "smollm2"}}}, open(f"{work}/enclave.json", "w"))
PY
$B measure --app-disk "$work/app.img.json" --enclave-config "$work/enclave.json" --sign "$work/publisher.key" \
  -o "$work/measurements.json" >/dev/null
RAYON_NUM_THREADS=2 RUST_LOG=warn "$bin/blindfold-enclave" --config "$work/enclave.json" --launch "$work/launch.json" 2> "$work/enclave.log" &
pids+=($!)
wait_line "$work/enclave.log" "listening on"
pport=$(free_port)
$B proxy "https://127.0.0.1:$eport" --reference "$work/measurements.json" --publisher-key "$work/publisher.pub" \
  --platform-ca "$work/platform/ca.pem" --allow-dev --allow-dev-reference --listen "127.0.0.1:$pport" 2> "$work/proxy.log" &
pids+=($!)
wait_line "$work/proxy.log" "listening on"
for c in 1 8 32; do
  python3 bench/loadgen.py "http://127.0.0.1:$pport" smollm2 "$c" "$per_client" "$max_tokens" >> "$work/proxy.jsonl"
done
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

dport=$(free_port)
printf '{"listen":"127.0.0.1:%s","engine":{"embedded":{"gguf":"%s","model_id":"smollm2"}}}' "$dport" "$model" > "$work/serve.json"
RAYON_NUM_THREADS=2 RUST_LOG=warn "$bin/examples/serve" "$work/serve.json" > "$work/serve.log" 2>&1 &
pids+=($!)
wait_line "$work/serve.log" "listening on"
for c in 1 8 32; do
  python3 bench/loadgen.py "http://127.0.0.1:$dport" smollm2 "$c" "$per_client" "$max_tokens" >> "$work/direct.jsonl"
done
python3 - "$work/proxy.jsonl" "$work/direct.jsonl" <<'PY'
import json, sys
proxy = [json.loads(l) for l in open(sys.argv[1])]
direct = [json.loads(l) for l in open(sys.argv[2])]
print(f"{'concurrency':<11} {'direct tok/s':>12} {'proxy tok/s':>12} {'overhead':>9} {'direct TTFT':>12} {'proxy TTFT':>11} {'added':>9}")
for p, d in zip(proxy, direct):
    over = (d['tokens_per_s'] - p['tokens_per_s']) / d['tokens_per_s'] * 100
    print(f"{p['concurrency']:<11} {d['tokens_per_s']:>12.1f} {p['tokens_per_s']:>12.1f} {over:>8.1f}% {d['ttft_p50_ms']:>9.1f} ms {p['ttft_p50_ms']:>8.1f} ms {p['ttft_p50_ms'] - d['ttft_p50_ms']:>6.1f} ms")
PY
