#!/usr/bin/env bash
# Runs every check and test of the workspace, installing what they need.
#
#   scripts/test.sh
#
# Phases: set-up (scripts/setup.sh), formatting, clippy with warnings as
# errors, what each binary links (the enclave no verifier, the CLI no model
# runner), the enclave binary's reproducibility across checkout paths
# (scripts/check-reproducible.sh), then `cargo test` for the whole workspace (unit tests, shared
# test vectors, property tests, and the oracle tests against swtpm,
# tpm2_checkquote, tpm2_eventlog and llama.cpp). Every test binary runs even
# when one fails (--no-fail-fast), so one failure does not hide the state
# of the rest; each phase's time is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

phases=()
phase_started=$SECONDS
phase_done() {
  phases+=("$(printf '%-8s %4ds' "$1" $((SECONDS - phase_started)))")
  phase_started=$SECONDS
}
print_phases() {
  echo "test: time per phase:" >&2
  for p in "${phases[@]}"; do echo "  $p" >&2; done
}

scripts/setup.sh
phase_done set-up
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all --check
else
  echo "test: rustfmt not installed, skipping the format check" >&2
fi
phase_done format
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --workspace --all-targets --locked -- -D warnings
else
  echo "test: clippy not installed, skipping lints" >&2
fi
phase_done clippy
# What each binary links (README, docs/architecture.md): the enclave links
# no verifier, the `blindfold` command no model runner.
links() { cargo tree -p "$1" -e normal --prefix none --locked | sed 's/ (\*)//' | sort -u; }
forbidden_in() {
  local found
  found=$(links "$1" | grep -E "^($2) v" || true)
  if [ -n "$found" ]; then
    echo "test: $1 links what it must not:" >&2
    echo "$found" >&2
    exit 1
  fi
}
forbidden_in blindfold-runtime "regorus|prost|blindfold-attest|blindfold-nitro|blindfold-snp|blindfold-tdx|blindfold-dev-platform"
forbidden_in blindfold-cli "candle-core|candle-nn|tokenizers"
# The verifier's test-only roots (feature test-roots) are for the attester
# tests' swtpm stand-ins; no shipped binary may build with them.
for bin in blindfold-cli blindfold-kbs; do
  if cargo tree -p "$bin" -e normal,features --prefix none --locked -i blindfold-attest 2>/dev/null | grep -q 'feature "test-roots"'; then
    echo "test: $bin builds the verifier with its test-only roots" >&2
    exit 1
  fi
done
echo "test: blindfold-enclave links $(links blindfold-runtime | wc -l) crates, blindfold $(links blindfold-cli | wc -l)" >&2
phase_done links
# The enclave as it ships, built from two checkout paths: the same bytes.
scripts/check-reproducible.sh
phase_done reproducible
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
phase_done tests
print_phases
# One closing line over all test binaries (the last binary alone, often a
# doc-test run with nothing in it, would otherwise close the output).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
