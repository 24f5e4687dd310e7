#!/usr/bin/env bash
# Our embedded engine vs llama.cpp's llama-server on the same GGUF file,
# the same thread count (2) and the same machine, over HTTP with the same
# client (bench/loadgen.py): generated tokens/s and time to first token at
# concurrency 1, 4 and 16, printed as ratios (ours / llama.cpp).
#
#   bench/compare-llama-server.sh [MAX_TOKENS] [REQUESTS_PER_CLIENT]
#
# llama-server runs with -t 2 and, for concurrency above 1, -np equal to
# the concurrency with continuous batching on (its best configuration);
# ours with 2 threads and a batch of up to 16. Each request asks
# llama-server not to start from another request's KV cache
# (`cache_prompt: false`, see bench/loadgen.py): Blindfold never shares a
# cache between requests, so both do the same work per request. Needs scripts/setup.sh (the
# model and the llama-server build).
set -euo pipefail
cd "$(dirname "$0")/.."
max_tokens=${1:-128}
per_client=${2:-2}
cache=${BLINDFOLD_CACHE:-$HOME/.cache/blindfold}
model="$cache/model/SmolLM2-135M-Instruct.Q4_1.gguf"
llama="$cache/llama.cpp/bin/llama-server"
[[ -f $model && -x $llama ]] || { echo "bench: run scripts/setup.sh first (model and llama-server)" >&2; exit 2; }
cargo build -q --release -p blindfold-api --example serve
serve="${CARGO_TARGET_DIR:-target}/release/examples/serve"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "bench: $1 never answered" >&2; exit 1; }

ours_port=$(free_port)
printf '{"listen":"127.0.0.1:%s","engine":{"embedded":{"gguf":"%s","model_id":"smollm2","max_batch":16}}}' \
  "$ours_port" "$model" > "$work/serve.json"
RAYON_NUM_THREADS=2 CANDLE_NUM_THREADS=2 RUST_LOG=warn "$serve" "$work/serve.json" > /dev/null 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$ours_port/health"

printf '%-11s %12s %12s %7s %14s %14s\n' concurrency "ours tok/s" "llama tok/s" ratio "ours TTFT p50" "llama TTFT p50"
for c in 1 4 16; do
  ours=$(python3 bench/loadgen.py "http://127.0.0.1:$ours_port" smollm2 "$c" "$per_client" "$max_tokens")
  lport=$(free_port)
  args=(-m "$model" --host 127.0.0.1 --port "$lport" -t 2 -c $((c * (max_tokens + 64) + 256)))
  ((c > 1)) && args+=(-np "$c" -cb)
  "$llama" "${args[@]}" > /dev/null 2>&1 &
  lpid=$!
  pids+=($lpid)
  wait_http "http://127.0.0.1:$lport/health"
  ref=$(python3 bench/loadgen.py "http://127.0.0.1:$lport" smollm2 "$c" "$per_client" "$max_tokens" --no-prompt-cache)
  kill "$lpid"; wait "$lpid" 2>/dev/null || true
  python3 - "$ours" "$ref" <<'PY'
import json, sys
o, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{o['concurrency']:<11} {o['tokens_per_s']:>12.1f} {r['tokens_per_s']:>12.1f} {o['tokens_per_s']/r['tokens_per_s']:>6.2f}x"
      f" {o['ttft_p50_ms']:>11.1f} ms {r['ttft_p50_ms']:>11.1f} ms")
PY
done
