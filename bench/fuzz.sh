#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes (crates/fuzz-targets) with
# libFuzzer through cargo fuzz, on the pinned stable toolchain (sanitizer
# off: stable Rust has none), SECONDS per target (default 600), growing the
# corpora in fuzz/corpus/<target>/ and minimizing them after (kept to the
# 200 smallest inputs of at most 8 KiB each, for the repository; the
# hand-made seeds in fuzz/seeds/<target>/ are read as well). Prints, per
# target, the runs, the corpus size and whether it crashed (a crash's input
# is kept in fuzz/artifacts/<target>/; the script then exits 1 at the end).
#
#   bench/fuzz.sh [SECONDS] [TARGET ...]
#
# cargo-fuzz is installed into ~/.cache/blindfold/cargo-fuzz once. The
# corpora are replayed as ordinary tests by crates/fuzz-targets/tests/replay.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
cache=${BLINDFOLD_CACHE:-$HOME/.cache/blindfold}
export PATH="$cache/cargo-fuzz/bin:$PATH"
export CARGO_TARGET_DIR="$cache/fuzz-target"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz into $cache/cargo-fuzz (once)" >&2
  cargo install cargo-fuzz --locked --root "$cache/cargo-fuzz"
fi
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^blindfold-fuzz$')
fi
triple=x86_64-unknown-linux-gnu
cd fuzz
# Built once; the binaries then run directly (cargo fuzz run would rebuild
# whenever a source changed during a long run).
cargo fuzz build -s none --target "$triple" >&2
bin="$CARGO_TARGET_DIR/$triple/release"
printf '%-16s %12s %8s %s\n' target runs corpus result
crashed=0
for t in "${targets[@]}"; do
  log=$(mktemp)
  mkdir -p "corpus/$t" "artifacts/$t"
  # Hand-made seeds (fuzz/seeds/<target>/) are read, never rewritten.
  seeds=()
  [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
  if "$bin/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -artifact_prefix="artifacts/$t/" \
    "corpus/$t" "${seeds[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (fuzz/artifacts/$t)"
  fi
  # (A crashed run prints no total.)
  runs=$(grep -o 'Done [0-9]* runs' "$log" | awk '{print $2}' | tail -1 || true)
  # Minimized: only inputs that reach code no other input reaches.
  merged=$(mktemp -d)
  if "$bin/$t" -merge=1 -rss_limit_mb=2048 "$merged" "corpus/$t" >/dev/null 2>&1; then
    rm -rf "corpus/$t" && mv "$merged" "corpus/$t" && chmod 755 "corpus/$t"
  else
    rm -rf "$merged"
  fi
  # The repository keeps a bounded corpus: inputs up to 8 KiB, the 200
  # smallest.
  find "corpus/$t" -type f -size +8k -delete
  find "corpus/$t" -type f -printf '%s %p\n' | sort -n | tail -n +201 | cut -d' ' -f2- | xargs -r rm -f
  printf '%-16s %12s %8s %s\n' "$t" "${runs:-?}" "$(find "corpus/$t" -type f | wc -l)" "$result"
  if [[ $result != ok ]]; then
    tail -30 "$log" >&2
    crashed=1
  fi
  rm -f "$log"
done
exit "$crashed"
