#!/usr/bin/env bash
# Takes a fresh TPM 2.0 quote from a throw-away swtpm with tpm2-tools.
#
#   scripts/swtpm-quote.sh OUTDIR KEY SCHEME [BANKS]
#     KEY     rsa | rsa3072 | ecc | ecc384
#     SCHEME  rsassa | rsapss | ecdsa
#     BANKS   PCR selection for the quote (default sha256:0,1,16,23)
#
# If EXTEND_LIST names a file, each of its lines is passed to
# `tpm2_pcrextend` before the quote (e.g. `4:sha1=<hex>,sha256=<hex>`), so
# a test can play an event log into the TPM.
#
# TPM_STARTUP says how the TPM starts (PCR 0's initial value):
#   clear (default)  TPM2_Startup(CLEAR) at locality 0: PCR 0 = 0…0
#   locality3        TPM2_Startup(CLEAR) sent at locality 3: PCR 0 = 0…03
#   hcrtm            an H-CRTM sequence (_TPM_Hash_Start/Data/End through
#                    swtpm's control channel) over the bytes of the file
#                    HCRTM_DATA, then TPM2_Startup: PCR 0 = H(0…04 || H(data))
#   hcrtm-locality3  the H-CRTM sequence, then Startup at locality 3 (the
#                    TPM keeps PCR 0 from the H-CRTM)
#
# Writes into OUTDIR: ak.pub (TPM2B_PUBLIC), ak.pem (SPKI), msg
# (TPMS_ATTEST), sig (TPMT_SIGNATURE), pcrs (tpm2-tools PCR file),
# nonce.hex (the random qualifying data), hash (the quote's hash).
# PCRs 16 and 23 are extended with random values first. swtpm is stopped
# before the script returns.
set -euo pipefail
out=$1 key=$2 scheme=$3 sel=${4:-sha256:0,1,16,23}
mkdir -p "$out"
state=$(mktemp -d)
# The swtpm TCTI expects the control port right after the command port.
# Ports come from below Linux's ephemeral range (32768+), where client
# connections of parallel tests could hold them; a bind that still fails
# (another test won the race) is retried on another pair.
trap 'kill "$(cat "$state/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$state"' EXIT
startup=${TPM_STARTUP:-clear}
flags=not-need-init,startup-clear
[[ $startup == clear ]] || flags=not-need-init
started=
for _ in $(seq 20); do
  port=$(( (RANDOM % 6000) * 2 + 20000 ))
  if swtpm socket --tpm2 --tpmstate dir="$state" \
    --server type=tcp,port="$port",bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
    --flags "$flags" --daemon --pid file="$state/pid" 2>"$state/err"; then
    started=1
    break
  fi
done
[[ -n $started ]] || { echo "swtpm did not start: $(cat "$state/err")" >&2; exit 1; }
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port"
# TPM2_Startup(CLEAR) as raw bytes on the command port, at the locality the
# control channel set (tpm2-tools' swtpm TCTI would reset it to 0).
startup_at_locality3() {
  swtpm_ioctl --tcp "127.0.0.1:$((port + 1))" -l 3
  python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(bytes.fromhex("80010000000c000001440000"))
r = s.recv(64)
assert r[6:10] == b"\0\0\0\0", "TPM2_Startup failed: " + r.hex()
PY
}
case $startup in
  clear) ;;
  locality3) startup_at_locality3 ;;
  hcrtm | hcrtm-locality3)
    swtpm_ioctl --tcp "127.0.0.1:$((port + 1))" -h - <"${HCRTM_DATA:?HCRTM_DATA must name the H-CRTM data file}"
    if [[ $startup == hcrtm ]]; then tpm2_startup -c; else startup_at_locality3; fi
    ;;
  *) echo "unknown TPM_STARTUP $startup" >&2; exit 2 ;;
esac
for _ in $(seq 50); do tpm2_getrandom 1 >/dev/null 2>&1 && break; sleep 0.05; done

case $key in
  rsa) G=rsa; hash=sha256 ;;
  rsa3072) G=rsa3072; hash=sha384 ;;
  ecc) G=ecc; hash=sha256 ;;
  ecc384) G=ecc384; hash=sha384 ;;
  *) echo "unknown key type $key" >&2; exit 2 ;;
esac
flush() { tpm2_flushcontext -t >/dev/null; }
tpm2_createek -c "$state/ek.ctx" -G rsa -u "$state/ek.pub" >/dev/null; flush
tpm2_createak -C "$state/ek.ctx" -c "$state/ak.ctx" -G "$G" -g "$hash" -s "$scheme" \
  -u "$out/ak.pub" -n "$state/ak.name" >/dev/null; flush
tpm2_readpublic -c "$state/ak.ctx" -f pem -o "$out/ak.pem" >/dev/null; flush
if [[ -n ${EXTEND_LIST:-} ]]; then
  while read -r spec || [[ -n $spec ]]; do [[ -n $spec ]] && tpm2_pcrextend "$spec"; done <"$EXTEND_LIST"
fi
tpm2_pcrextend "16:sha256=$(openssl rand -hex 32)"
tpm2_pcrextend "23:sha256=$(openssl rand -hex 32)"
nonce=$(openssl rand -hex 32)
tpm2_quote -c "$state/ak.ctx" -l "$sel" -q "$nonce" -m "$out/msg" -s "$out/sig" \
  -o "$out/pcrs" -g "$hash" --scheme "$scheme" >/dev/null; flush
echo "$nonce" >"$out/nonce.hex"
echo "$hash" >"$out/hash"
