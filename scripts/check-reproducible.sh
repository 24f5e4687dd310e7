#!/usr/bin/env bash
# Builds blindfold-enclave as it ships (cargo profile `enclave`) from this
# checkout and from a copy of it at another path, and checks that the two
# executables are byte-identical: the enclave's SHA-256 is what a measured
# image's PCR 4 and process mode's first runtime event hold, so anyone
# rebuilding a published commit must get the same bytes.
#
#   scripts/check-reproducible.sh
#
# What makes it hold: the toolchain pinned in rust-toolchain.toml, --locked,
# the fixed CPU level and path remapping in .cargo/config.toml, and the
# `enclave` profile (no debug information, no symbols). Both builds share
# CARGO_TARGET_DIR, so only the workspace's own crates are built twice.
# Prints both digests; exits 1 when they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/blindfold/target}
work=$(mktemp -d /tmp/blindfold-reproducible.XXXXXX)
trap 'rm -rf "$work"' EXIT

build() { # build CHECKOUT OUT
  echo "reproducible: building blindfold-enclave in $1" >&2
  (cd "$1" && cargo build --profile enclave --locked -q -p blindfold-runtime --bin blindfold-enclave)
  cp "$CARGO_TARGET_DIR/enclave/blindfold-enclave" "$2"
}

# The second checkout: the same files (committed or not, as git sees them)
# at another path, with a name of another length.
mkdir -p "$work/another/checkout-path"
git ls-files -z --cached --others --exclude-standard |
  tar --null --files-from=- --ignore-failed-read -cf - |
  tar -xf - -C "$work/another/checkout-path"

build "$PWD" "$work/first"
build "$work/another/checkout-path" "$work/second"
first=$(sha256sum "$work/first" | cut -d' ' -f1)
second=$(sha256sum "$work/second" | cut -d' ' -f1)
echo "reproducible: $first  blindfold-enclave built in $PWD" >&2
echo "reproducible: $second  blindfold-enclave built in $work/another/checkout-path" >&2
if [[ $first != "$second" ]]; then
  echo "reproducible: the two builds differ" >&2
  cmp "$work/first" "$work/second" | head -1 >&2 || true
  exit 1
fi
# Nothing of the build machine in the bytes: neither checkout's path nor
# cargo's home (where dependencies' sources are).
for leak in "$PWD" "$work/another" "${CARGO_HOME:-$HOME/.cargo}"; do
  if grep -aqF "$leak" "$work/first"; then
    echo "reproducible: the binary names $leak (a build path)" >&2
    exit 1
  fi
done
echo "reproducible: byte-identical ($(stat -c %s "$work/first") bytes), no build path in them" >&2
