#!/usr/bin/env bash
# dm-verity tree over the same 1 GiB file: `veritysetup format` vs
# `blindfold verity format` with 1 and 2 hashing threads, in one run.
#
#   bench/compare-veritysetup.sh [SIZE_MIB] [RUNS]
#
# Prints the mean wall time of each (RUNS runs, default 3, file in the page
# cache) and the ratios ours/theirs. Same salt, same UUID; the script also
# checks that both wrote the same root hash.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024} runs=${2:-3}
scripts/setup.sh
cargo build --profile enclave --locked -p blindfold-cli >&2
bin=${CARGO_TARGET_DIR:-target}/enclave/blindfold
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c $((size * 1024 * 1024)) /dev/urandom >"$work/data"
salt=$(printf '%064x' 42) uuid=12345678-1234-1234-1234-123456789abc
cat "$work/data" >/dev/null # warm the page cache

mean_ns() {
  local start end
  start=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do "$@" >"$work/out" 2>&1; done
  end=$(date +%s%N)
  echo $(((end - start) / runs))
}
root() { grep "Root hash" "$work/out" | awk '{print $NF}'; }

theirs=$(mean_ns veritysetup format "$work/data" "$work/h1" --salt "$salt" --uuid "$uuid")
theirs_root=$(root)
one=$(mean_ns "$bin" verity format "$work/data" "$work/h2" --salt "$salt" --uuid "$uuid" --threads 1)
one_root=$(root)
two=$(mean_ns "$bin" verity format "$work/data" "$work/h3" --salt "$salt" --uuid "$uuid" --threads 2)
[[ $theirs_root == "$one_root" && $one_root == "$(root)" ]] || { echo "root hashes differ" >&2; exit 1; }
cmp -s "$work/h1" "$work/h2" && cmp -s "$work/h1" "$work/h3" || { echo "hash files differ" >&2; exit 1; }

ms() { awk -v n="$1" 'BEGIN { printf "%.0f ms", n / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "data: ${size} MiB, $runs runs each, $(nproc) cores; root hash $theirs_root (identical)"
echo "| tool | time | ratio ours/veritysetup |"
echo "|---|---|---|"
echo "| veritysetup format | $(ms "$theirs") | 1.00 |"
echo "| blindfold verity format --threads 1 | $(ms "$one") | $(ratio "$one" "$theirs") |"
echo "| blindfold verity format --threads 2 | $(ms "$two") | $(ratio "$two" "$theirs") |"
