#!/usr/bin/env bash
# Sealing memory stays flat: `blindfold model seal` of a sparse SIZE file
# (default 10 GiB) into a directory store, peak resident memory and time
# from GNU time (`/usr/bin/time -v`), next to `openssl dgst -sha256` of the
# same file run in the same script (the digest alone, the floor for a
# streamed seal that hashes every byte). Needs SIZE free on the disk for
# the sealed copy; everything is deleted at the end.
#
#   bench/seal-memory.sh [SIZE]      # SIZE for truncate(1): 10G, 1G, 256M
#   BLINDFOLD_BIN_DIR=DIR bench/seal-memory.sh   # use DIR/blindfold, build nothing
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-10G}
if [[ -n ${BLINDFOLD_BIN_DIR:-} ]]; then
  bin=$BLINDFOLD_BIN_DIR/blindfold
else
  cargo build -q --release -p blindfold-cli
  bin=${CARGO_TARGET_DIR:-target}/release/blindfold
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s "$size" "$work/weights.gguf"
"$bin" kbs kek -o "$work/kek.hex" 2>/dev/null
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt"
  local rss wall
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$work/time.txt")
  printf '%-24s peak %7.1f MB   wall %s\n' "$label" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$wall"
  echo "$rss"  > "$work/$label.rss"
}
echo "sealing a $size sparse file ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
measure "openssl-sha256" openssl dgst -sha256 "$work/weights.gguf"
measure "blindfold-model-seal" "$bin" model seal "$work/weights.gguf" --name bench \
  --store "file://$work/store" --kek-file "$work/kek.hex"
sealed=$(du -sb "$work/store" | cut -f1)
echo "sealed store: $((sealed / 1048576)) MiB; peak memory is $(awk -v a="$(cat "$work/blindfold-model-seal.rss")" \
  -v s="$(numfmt --from=iec "$size")" 'BEGIN { printf "%.4f%%", a * 1024 * 100 / s }') of the file's size"
