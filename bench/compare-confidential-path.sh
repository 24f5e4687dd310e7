#!/usr/bin/env bash
# The confidential path at GPU token rates: a fast stand-in engine
# (crates/testdata: fixed tokens at a set pace, standing in for a GPU
# server) reached (a) directly and (b) through `blindfold proxy` →
# attested TLS → `blindfold-enclave` (upstream mode) → the same stand-in,
# with the same streaming client (crates/testdata/examples/sse_load.rs).
# Prints per configuration: tokens/s (b/a), TTFT p50/p99 and ITL p99 of
# both with what the path adds, errors, and the enclave's and proxy's CPU
# time per token.
#
#   bench/compare-confidential-path.sh [TOKENS]
#
# First a cold burst (128 new clients at once through the proxy: errors,
# TTFT); then, with sessions warmed, paced runs stream 100 and 1000
# tokens/s per stream; unpaced runs as fast
# as the stand-in writes. 1, 8, 32 and 128 concurrent streams each.
# BENCH_PACES, BENCH_STREAMS and BENCH_REQUESTS (requests per stream)
# pick a subset: BENCH_PACES=0 BENCH_REQUESTS=200 with few TOKENS shows
# what a request costs rather than a token.
# Release builds; needs swtpm (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-256}
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p blindfold-cli -p blindfold-runtime
cargo build -q --release -p blindfold-testdata --example standin --example sse_load
B="$target/release/blindfold"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$B" platform stop "$work/platform" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# CPU time in ns, summed over the process's threads (/proc/PID/stat counts
# 10 ms ticks, too coarse for a short run; a thread that exits during a run
# would go uncounted, and the enclave's and proxy's runtime workers do not).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }

start_standin() { # INTERVAL_US -> sets standin_addr
  "$target/release/examples/standin" 0 "$1" >"$work/standin.addr" &
  standin_pid=$!
  pids+=("$standin_pid")
  for _ in $(seq 100); do [[ -s $work/standin.addr ]] && break; sleep 0.05; done
  standin_addr=$(cat "$work/standin.addr")
}

# One enclave and one proxy for the whole run; the stand-in behind the
# enclave's fixed upstream port is restarted per pace.
upstream_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$B" platform init "$work/platform" >/dev/null
tcti=$("$B" platform start "$work/platform")
"$B" keygen -o "$work/publisher" >/dev/null
mkdir "$work/app" && echo '{}' >"$work/app/runtime.json"
"$B" disk build "$work/app" -o "$work/app.img" >/dev/null
python3 - "$work" "$tcti" "$upstream_port" <<'PY'
import json, sys
work, tcti, port = sys.argv[1:]
disk = json.load(open(f"{work}/app.img.json"))
json.dump({"tcti": tcti, "listen": "127.0.0.1:0"}, open(f"{work}/launch.json", "w"))
json.dump({"platform": "local", "app_disk": f"{work}/app.img",
           "app_disk_root_hash": disk["root_hash"], "app_disk_hash_offset": disk["hash_offset"],
           "engine": {"upstream": {"address": f"127.0.0.1:{port}", "upstream_model": "standin",
                                   "model_id": "standin", "context_length": 100000}}},
          open(f"{work}/enclave.json", "w"))
PY
"$B" measure --app-disk "$work/app.img.json" --enclave-config "$work/enclave.json" \
  --sign "$work/publisher.key" -o "$work/ref.json" >/dev/null
"$target/release/examples/standin" "$upstream_port" 0 >/dev/null &
standin_pid=$!
pids+=("$standin_pid")
sleep 0.3
RUST_LOG=warn "$target/release/blindfold-enclave" --config "$work/enclave.json" --launch "$work/launch.json" 2>"$work/enclave.log" &
enclave_pid=$!
pids+=("$enclave_pid")
for _ in $(seq 200); do grep -q "listening on" "$work/enclave.log" && break; sleep 0.1; done
enclave_addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/enclave.log" | head -1)
"$B" proxy "https://$enclave_addr" --listen 127.0.0.1:0 --reference "$work/ref.json" \
  --publisher-key "$work/publisher.pub" --platform-ca "$work/platform/ca.pem" --allow-dev --allow-dev-reference 2>"$work/proxy.log" &
proxy_pid=$!
pids+=("$proxy_pid")
for _ in $(seq 200); do grep -q "listening on" "$work/proxy.log" && break; sleep 0.1; done
proxy_addr=$(sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$work/proxy.log" | head -1)

results="$work/results.jsonl"
# A cold burst first: 128 clients at once through the proxy, which holds
# one attested session, so each needs a new one.
cold=$("$target/release/examples/sse_load" "$proxy_addr" 128 1 16)
for pace in ${BENCH_PACES:-100 1000 0}; do
  kill "$standin_pid"; wait "$standin_pid" 2>/dev/null || true
  interval=$((pace > 0 ? 1000000 / pace : 0))
  "$target/release/examples/standin" "$upstream_port" "$interval" >/dev/null &
  standin_pid=$!
  pids+=("$standin_pid")
  sleep 0.2
  for streams in ${BENCH_STREAMS:-1 8 32 128}; do
    requests=${BENCH_REQUESTS:-$((pace == 100 ? 1 : (pace == 1000 ? 4 : 16)))}
    direct=$("$target/release/examples/sse_load" "127.0.0.1:$upstream_port" "$streams" "$requests" "$tokens")
    # Warm: as many attested sessions as streams, so the timed run
    # measures streaming (the cold burst above measures attesting).
    # Warm-up requests last half a second at pace, so they run together
    # and the proxy attests a session for each rather than reusing one.
    "$target/release/examples/sse_load" "$proxy_addr" "$streams" 1 $((pace > 0 ? pace / 2 : 64)) >/dev/null
    e0=$(cpu_ns "$enclave_pid"); p0=$(cpu_ns "$proxy_pid")
    proxied=$("$target/release/examples/sse_load" "$proxy_addr" "$streams" "$requests" "$tokens")
    e1=$(cpu_ns "$enclave_pid"); p1=$(cpu_ns "$proxy_pid")
    echo "{\"pace\":$pace,\"direct\":$direct,\"proxied\":$proxied,\"enclave_ns\":$((e1 - e0)),\"proxy_ns\":$((p1 - p0))}" >>"$results"
  done
done
python3 - "$results" "$cold" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cold = json.loads(sys.argv[2])
print(f"cold burst: {cold['streams']} new clients at once through one proxy: {cold['errors']} errors, "
      f"TTFT p50 {cold['ttft_p50_ms']:.1f} ms, p99 {cold['ttft_p99_ms']:.1f} ms")
print(f"{'pace/stream':>11} {'streams':>7} {'tok/s a':>9} {'tok/s b':>9} {'b/a':>5} "
      f"{'TTFT p50 a':>10} {'+b':>7} {'TTFT p99 +b':>11} {'ITL p99 a':>9} {'+b':>7} {'errors':>6} {'CPU/token':>12}")
for r in rows:
    a, b = r["direct"], r["proxied"]
    pace = "unpaced" if r["pace"] == 0 else f"{r['pace']}/s"
    cpu_us = (r["enclave_ns"] + r["proxy_ns"]) / 1e3 / max(b["tokens"], 1)
    e_us = r["enclave_ns"] / 1e3 / max(b["tokens"], 1)
    print(f"{pace:>11} {b['streams']:>7} {a['tok_s']:>9.0f} {b['tok_s']:>9.0f} {b['tok_s']/a['tok_s']:>5.2f} "
          f"{a['ttft_p50_ms']:>8.2f}ms {b['ttft_p50_ms']-a['ttft_p50_ms']:>+6.2f} {b['ttft_p99_ms']-a['ttft_p99_ms']:>+10.2f} "
          f"{a['itl_p99_ms']:>7.2f}ms {b['itl_p99_ms']-a['itl_p99_ms']:>+6.2f} {a['errors']+b['errors']:>6} "
          f"{cpu_us:>6.1f}µs ({e_us:.1f} enclave)")
print("a: the stand-in directly; b: blindfold proxy -> attested TLS -> blindfold-enclave -> the stand-in.")
print("+b: what the confidential path adds (ms); CPU/token: enclave + proxy CPU time per streamed token.")
PY
