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
cargo test --workspace --locked
