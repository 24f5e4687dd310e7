#!/usr/bin/env bash
# Runs every check and test of the workspace, installing what they need.
#
#   scripts/test.sh
#
# Steps: set-up (scripts/setup.sh), formatting, clippy with warnings as
# errors, then `cargo test` for the whole workspace (unit tests, shared
# test vectors, property tests, and the oracle tests against swtpm,
# tpm2_checkquote and tpm2_eventlog).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all --check
else
  echo "test: rustfmt not installed, skipping the format check" >&2
fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --workspace --all-targets --locked -- -D warnings
else
  echo "test: clippy not installed, skipping lints" >&2
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over all test binaries (the last binary alone, often a
# doc-test run with nothing in it, would otherwise close the output).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
