#!/usr/bin/env bash
# Our verifier vs tpm2-tools on the same files, same machine.
#
#   bench/compare-tpm2-tools.sh [RUNS]
#
# For each operation it reports: our in-process time (criterion mean, from
# `cargo bench`), our CLI as a process, the tpm2-tools command as a process
# (mean over RUNS spawns, default 200), and the ratios ours/theirs.
# Operations: quote verification with an RSA-2048 AK (keylime swtpm sample)
# and a P-256 AK (crates/tpm/testdata/swtpm-p256-quote) against
# tpm2_checkquote; parse + replay of all banks of the largest three-bank
# shared event log against tpm2_eventlog.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
scripts/setup.sh
target=${CARGO_TARGET_DIR:-target}
shared=../shared/testdata
k=$shared/tpm2-quotes/keylime-swtpm-quote
p=crates/tpm/testdata/swtpm-p256-quote
# The largest three-bank log; tpm2_eventlog 5.4 crashes on the largest log of
# all (ga-option_rom_eventlog), whose in-process figure is printed below.
log=$shared/tcg-eventlogs/gtt-ubuntu-2404-amd-sevsnp/ubuntu-2404-amd-sevsnp.bin

echo "building and running criterion benches (cargo bench)..." >&2
cargo build --release --locked -p blindfold-cli >&2
cargo bench --locked --bench quote --bench replay >&2
bin=$target/release/blindfold

criterion_ns() { # mean in ns from criterion's estimates.json
  grep -o '"mean":{"confidence_interval":{[^}]*},"point_estimate":[0-9.e+-]*' \
    "$target/criterion/$1/new/estimates.json" | sed 's/.*://'
}
spawn_ns() { # mean wall time in ns of RUNS runs of a command
  local start end
  "$@" >/dev/null 2>&1 || { echo "command failed: $*" >&2; exit 1; }
  start=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1; done
  end=$(date +%s%N)
  echo $(((end - start) / runs))
}
fmt_us() { awk -v n="$1" 'BEGIN { printf "%.1f µs", n / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f (%.0f× faster)", a / b, b / a }'; }

row() { # name criterion-id ours-cmd... -- theirs-cmd...
  local name=$1 id=$2; shift 2
  local ours=() theirs=()
  while [[ $1 != -- ]]; do ours+=("$1"); shift; done; shift
  theirs=("$@")
  local in_proc our_proc their_proc
  in_proc=$(criterion_ns "$id")
  our_proc=$(spawn_ns "${ours[@]}")
  their_proc=$(spawn_ns "${theirs[@]}")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$(fmt_us "$in_proc")" "$(fmt_us "$our_proc")" \
    "$(fmt_us "$their_proc")" "$(ratio "$in_proc" "$their_proc")" "$(ratio "$our_proc" "$their_proc")"
}

echo
echo "machine: $(nproc) cores, $(uname -m); $runs spawns per process figure"
echo
echo "| operation | ours in-process | ours (process) | tpm2-tools (process) | ratio in-process/theirs | ratio process/theirs |"
echo "|---|---|---|---|---|---|"
row "quote verify RSA-2048" quote_verify_rsa2048 \
  "$bin" quote verify --ak "$k/akpub.pem" --message "$k/quote.out" --signature "$k/quotesig.out" \
  --pcrs "$k/quotepcr.out" --nonce db1db298db6d60e6385b7231743e9c3056a18003 -- \
  tpm2_checkquote -u "$k/akpub.pem" -m "$k/quote.out" -s "$k/quotesig.out" -f "$k/quotepcr.out" \
  -g sha256 -q db1db298db6d60e6385b7231743e9c3056a18003
row "quote verify P-256" quote_verify_p256 \
  "$bin" quote verify --ak "$p/ak.pem" --message "$p/msg" --signature "$p/sig" --pcrs "$p/pcrs" \
  --nonce "$(cat "$p/nonce.hex")" -- \
  tpm2_checkquote -u "$p/ak.pem" -m "$p/msg" -s "$p/sig" -f "$p/pcrs" -g sha256 -q "$(cat "$p/nonce.hex")"
row "event log replay ($(basename "$log"), $(stat -c %s "$log") bytes)" eventlog_replay_ubuntu2404_3banks \
  "$bin" eventlog replay --json "$log" -- \
  tpm2_eventlog "$log"
echo
echo "largest shared log (ga-option_rom_eventlog, 72 KB), in-process parse + replay:" \
  "$(fmt_us "$(criterion_ns eventlog_replay_largest)") (tpm2_eventlog 5.4 crashes on it)"
