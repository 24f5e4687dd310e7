#!/usr/bin/env bash
# Endurance, and faults, of the scale-out path (docs/scale-out.md):
# STREAMS concurrent streaming chats for SECONDS through `blindfold proxy`
# balancing three local enclaves (each on its own swtpm platform), which
# serve the packaged model sealed into an S3 store (SeaweedFS) and get its
# key from two `kbs serve` replicas sharing one identity behind HAProxy
# (TCP passthrough, deploy/balancer/haproxy-config.sh).
#
# With --fault, at half time enclave 1 and broker 1 are killed (SIGKILL);
# enclave 1's machine restarts 8 s later (a fresh swtpm boot, a new TLS
# key) and gets its key from the surviving broker through HAProxy; broker 1
# restarts once enclave 1 serves again.
#
# Prints one JSON document: the load (requests; ok; streams cut by the
# kill, counted apart; errors, goal 0; tokens; TTFT p50/p99), answers per
# enclave boot (from the receipt evidence each answer's signed receipt
# cites: every one must be an enclave of this run), the proxy's view of
# its upstreams, one receipt per enclave boot checked with `blindfold
# receipt verify` against the signed reference, key releases per broker
# (one per connection: a challenge is single-use and bound to its
# connection), and each process's resident memory at start, every tenth of
# the run and at the end (goal: flat once warm). After a fault, enclave 1's
# figures are its restarted process's.
#
#   bench/endurance.sh [SECONDS] [STREAMS] [--fault]
#
# BENCH_FAULT_AT=S kills at S seconds instead of half time;
# BENCH_MAX_TOKENS=N caps each answer (default 48).
#
# Release binaries are built here, unless BLINDFOLD_BIN_DIR names a
# directory with blindfold and blindfold-enclave (the test suite's short
# run, crates/cli/tests/endurance.rs). Needs scripts/setup.sh (the model,
# SeaweedFS, swtpm, haproxy).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
streams=${2:-32}
fault=0
[[ ${3:-} == --fault ]] && fault=1
max_tokens=${BENCH_MAX_TOKENS:-48}
fault_at=${BENCH_FAULT_AT:-$((seconds / 2))}
cache=${BLINDFOLD_CACHE:-$HOME/.cache/blindfold}
model="$cache/model/SmolLM2-135M-Instruct.Q4_1.gguf"
weed="$cache/seaweedfs/weed"
for need in "$model" "$weed"; do
  [[ -e $need ]] || { echo "endurance: $need is missing: run scripts/setup.sh" >&2; exit 2; }
done
command -v haproxy >/dev/null || { echo "endurance: haproxy is missing: run scripts/setup.sh" >&2; exit 2; }
if [[ -n ${BLINDFOLD_BIN_DIR:-} ]]; then
  bin=$BLINDFOLD_BIN_DIR
else
  cargo build -q --release --locked -p blindfold-cli -p blindfold-runtime
  bin=${CARGO_TARGET_DIR:-target}/release
fi
B="$bin/blindfold"
work=$(mktemp -d)
declare -A pid
cleanup() {
  for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for i in 1 2 3; do "$B" platform stop "$work/p$i" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A port whose gRPC twin (port + 10000, SeaweedFS's rule) is free too.
free_pair() {
  python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    if p < 55000:
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 10000)); print(p); break
        except OSError:
            pass'
}
wait_line() { for _ in $(seq 1 1500); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "endurance: no '$2' in $1" >&2; tail -20 "$1" >&2; exit 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo null; }
say() { echo "endurance: $*" >&2; }

# The owner's store: SeaweedFS (conditional writes, which replicas need).
export AWS_ACCESS_KEY_ID=owner-key AWS_SECRET_ACCESS_KEY=owner-secret AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
mkdir -p "$work/s3/data"
printf '{"identities":[{"name":"owner","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}' \
  "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$work/s3/s3.json"
s3port=$(free_pair)
"$weed" server -dir="$work/s3/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -volume.max=4 -master.volumeSizeLimitMB=64 \
  -master.port="$(free_pair)" -volume.port="$(free_pair)" -filer -filer.port="$(free_pair)" \
  -s3 -s3.port="$s3port" -s3.config="$work/s3/s3.json" > "$work/weed.log" 2>&1 &
pid[weed]=$!
disown
export AWS_ENDPOINT_URL="http://127.0.0.1:$s3port"
for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$s3port") 2>/dev/null && break; sleep 0.1; done
store="s3://endurance-models"

say "sealing the model into $store, starting two brokers behind HAProxy"
for key in owner publisher broker-tls; do "$B" keygen -o "$work/$key" >/dev/null; done
"$B" kbs kek -o "$work/kek.hex" >/dev/null
"$B" model seal "$model" --name smollm2 --store "$store" --kek-file "$work/kek.hex" >/dev/null
for i in 1 2 3; do
  "$B" platform init "$work/p$i" >/dev/null
  "$B" platform start "$work/p$i" > "$work/p$i.tcti"
done
cat "$work"/p{1,2,3}/ca.pem > "$work/platform-cas.pem"
start_broker() {
  local i=$1 listen=${2:-127.0.0.1:0}
  "$B" kbs serve --key-store "$store" --kek-file "$work/kek.hex" --owner-public-key "$work/owner.pub" \
    --tls-key "$work/broker-tls.key" --listen "$listen" --state-dir "$work/kbs$i" \
    --platform-ca "$work/platform-cas.pem" 2>> "$work/kbs$i.log" &
  pid[kbs$i]=$!
  disown
  wait_line "$work/kbs$i.log" "listening on"
}
start_broker 1
start_broker 2
broker_addr() { sed -n 's|.*listening on https://\([0-9.:]*\).*|\1|p' "$work/kbs$1.log" | head -1; }
b1=$(broker_addr 1)
hport=$(free_port)
deploy/balancer/haproxy-config.sh --listen "127.0.0.1:$hport" "$b1" "$(broker_addr 2)" > "$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" -db > "$work/haproxy.log" 2>&1 &
pid[haproxy]=$!
disown

say "three enclaves, one signed build, the owner's policy for it"
mkdir "$work/app" && echo "the model is sealed in its owner's store" > "$work/app/README"
"$B" disk build "$work/app" -o "$work/app.img" >/dev/null
"$B" enclave-config --app-disk "$work/app.img.json" --sealed-model smollm2 --store "$store" \
  --broker "https://127.0.0.1:$hport" --broker-spki-sha256 "$("$B" kbs pin --tls-key "$work/broker-tls.key")" \
  -o "$work/enclave.json" >/dev/null
"$B" measure --app-disk "$work/app.img.json" --enclave-config "$work/enclave.json" \
  --sign "$work/publisher.key" -o "$work/measurements.json" >/dev/null
"$B" model policy set smollm2 --reference "$work/measurements.json" --publisher-key "$work/publisher.pub" \
  --owner-key "$work/owner.key" --store "$store" --allow-development >/dev/null
declare -A port
start_enclave() {
  local i=$1
  printf '{"tcti": "%s", "listen": "127.0.0.1:%s"}' "$(cat "$work/p$i.tcti")" "${port[$i]}" > "$work/launch$i.json"
  RAYON_NUM_THREADS=1 RUST_LOG=warn "$bin/blindfold-enclave" --config "$work/enclave.json" \
    --launch "$work/launch$i.json" 2>> "$work/enclave$i.log" &
  pid[enclave$i]=$!
  disown
}
for i in 1 2 3; do
  port[$i]=$(free_port)
  start_enclave "$i"
done
for i in 1 2 3; do wait_line "$work/enclave$i.log" "listening on"; done
# Each boot's receipt evidence, fetched once (it vouches for itself).
receipt_evidence() {
  python3 - "${port[$1]}" <<'PY' > "$work/receipt-evidence-$1-$2.json"
import http.client, ssl, sys
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ssl._create_unverified_context())
c.request("GET", "/.well-known/blindfold/receipt-evidence")
sys.stdout.buffer.write(c.getresponse().read())
PY
}
for i in 1 2 3; do receipt_evidence "$i" first; done
pport=$(free_port)
"$B" proxy "https://127.0.0.1:${port[1]}" "https://127.0.0.1:${port[2]}" "https://127.0.0.1:${port[3]}" \
  --reference "$work/measurements.json" --publisher-key "$work/publisher.pub" --platform-ca "$work/platform-cas.pem" \
  --allow-dev --allow-dev-reference --listen "127.0.0.1:$pport" 2> "$work/proxy.log" &
pid[proxy]=$!
disown
wait_line "$work/proxy.log" "listening on"
memory() {
  local out="{" sep=""
  for name in enclave1 enclave2 enclave3 kbs1 kbs2 proxy; do
    out+="$sep\"$name\": $(rss_kib "${pid[$name]}")"
    sep=", "
  done
  echo "$out}"
}
# Warm every upstream's session before the start figures.
python3 bench/endurance.py "http://127.0.0.1:$pport" smollm2 6 1 4 > /dev/null
mem_start=$(memory)

say "$streams streams for $seconds s$( ((fault)) && echo ", enclave 1 and broker 1 killed at $fault_at s")"
mkdir "$work/receipts"
python3 bench/endurance.py "http://127.0.0.1:$pport" smollm2 "$streams" "$seconds" "$max_tokens" "$work/receipts" \
  > "$work/load.json" &
load=$!
load_started=$SECONDS
fault_log=""
if ((fault)); then
  sleep "$fault_at"
  kill -9 "${pid[enclave1]}" "${pid[kbs1]}"
  fault_log="killed enclave 1 and broker 1 at $fault_at s"
  sleep 8
  "$B" platform stop "$work/p1" >/dev/null
  "$B" platform start "$work/p1" > "$work/p1.tcti"
  : > "$work/enclave1.log"
  released() { grep -c '"verdict":"released"' "$work/kbs$1/audit.jsonl" 2>/dev/null || true; }
  before=$(released 2)
  start_enclave 1
  wait_line "$work/enclave1.log" "listening on"
  restart_key_from="not broker 2"
  (($(released 2) > before)) && restart_key_from="broker 2"
  receipt_evidence 1 restarted
  start_broker 1 "$b1"
  fault_log+="; enclave 1 restarted, its key released by $restart_key_from; broker 1 restarted"
fi
# Memory every tenth of the run, to tell growth to a plateau from a leak.
samples="[]"
while kill -0 "$load" 2>/dev/null; do
  sleep "$(((seconds + 9) / 10))"
  kill -0 "$load" 2>/dev/null || break
  samples=$(python3 -c 'import json, sys; s = json.loads(sys.argv[1]); s.append({"t_s": int(sys.argv[2]), "kib": json.loads(sys.argv[3])}); print(json.dumps(s))' \
    "$samples" "$((SECONDS - load_started))" "$(memory)")
done
wait "$load"
mem_end=$(memory)
proxy_report() {
  python3 -c 'import json, sys, urllib.request; print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1]))))' \
    "http://127.0.0.1:$pport/blindfold/verification"
}
verification=$(proxy_report)
# One receipt per enclave boot that answered, checked against that boot's
# receipt evidence and the signed reference: the boot was verified.
for ev in "$work"/receipt-evidence-*.json; do
  sha=$(sha256sum "$ev" | cut -d' ' -f1)
  [[ -f $work/receipts/$sha.json ]] || continue
  if "$B" receipt verify "$work/receipts/$sha.json" "$ev" --reference "$work/measurements.json" \
    --publisher-key "$work/publisher.pub" --platform-ca "$work/platform-cas.pem" --allow-dev-reference \
    > /dev/null 2>> "$work/receipt-verify.log"; then
    echo "$sha true" >> "$work/receipts-verified"
  else
    echo "$sha false" >> "$work/receipts-verified"
  fi
done
python3 - "$work" "$mem_start" "$mem_end" "$verification" "$fault_log" "$samples" <<'PY'
import glob, hashlib, json, os, sys
work, mem_start, mem_end, verification, fault_log, samples = sys.argv[1:7]
load = json.load(open(f"{work}/load.json"))
boots = {hashlib.sha256(open(p, "rb").read()).hexdigest(): os.path.basename(p)[len("receipt-evidence-"):-len(".json")]
         for p in glob.glob(f"{work}/receipt-evidence-*.json")}
by_boot = {boots.get(h, f"UNKNOWN {h[:16]}"): n for h, n in load.pop("answers_by_receipt_evidence").items()}
verified = {}
if os.path.exists(f"{work}/receipts-verified"):
    for line in open(f"{work}/receipts-verified"):
        sha, ok = line.split()
        verified[boots.get(sha, sha[:16])] = ok == "true"
releases = {}
for log in sorted(glob.glob(f"{work}/kbs*/audit.jsonl")):
    records = [json.loads(l) for l in open(log) if l.strip()]
    released = [r for r in records if r["verdict"] == "released"]
    conns = [r["connection"] for r in released]
    releases[os.path.basename(os.path.dirname(log))] = {
        "released": len(released), "refused": sum(r["verdict"] == "refused" for r in records),
        "one_per_connection": len(conns) == len(set(conns))}
upstreams = [{"upstream": u.get("upstream"), "verified": u.get("verified"), "answered": u.get("answered")}
             for u in json.loads(verification).get("upstreams", [])]
print(json.dumps({"load": load, "answers_by_enclave_boot": by_boot,
                  "every_answer_from_a_known_enclave": all(not k.startswith("UNKNOWN") for k in by_boot),
                  "receipt_verified_per_boot": verified,
                  "proxy_upstreams": upstreams, "key_releases": releases, "fault": fault_log or None,
                  "memory_kib": {"start": json.loads(mem_start), "during": json.loads(samples),
                                 "end": json.loads(mem_end)}}, indent=1))
PY
