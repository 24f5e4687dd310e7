#!/usr/bin/env bash
# Writes an HAProxy configuration for the operator's side of a multi-enclave
# deployment: one TCP endpoint in front of N enclaves, TLS passed through
# untouched (mode tcp), so each client still attests the session it gets
# with the enclave behind it (the quote binds the enclave's TLS key and the
# session's exporter; a balancer that terminated TLS would break both, and
# clients refuse it). Connections go to the backend with the fewest
# (balance leastconn); a backend that stops accepting TCP connections is
# taken out by HAProxy's checks. The balancer sees only ciphertext: it is
# in the operator's domain and trusted with nothing but availability.
#
#   deploy/balancer/haproxy-config.sh --listen 0.0.0.0:8443 10.0.0.5:8443 10.0.0.6:8443 > haproxy.cfg
#   haproxy -f haproxy.cfg
#
# SNI is not inspected: every connection on the listener goes to the same
# pool of enclaves (one pool per model: one listener each).
set -euo pipefail

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  echo "usage: $0 --listen ADDR:PORT BACKEND:PORT [BACKEND:PORT ...]"
}

listen=""
backends=()
while (($#)); do
  case "$1" in
    --listen)
      listen="${2:?--listen needs ADDR:PORT}"
      shift 2
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*)
      echo "haproxy-config: unknown flag $1" >&2
      usage >&2
      exit 2
      ;;
    *)
      backends+=("$1")
      shift
      ;;
  esac
done
if [[ -z $listen || ${#backends[@]} -eq 0 ]]; then
  usage >&2
  exit 2
fi
for b in "$listen" "${backends[@]}"; do
  if [[ ! $b =~ ^[^:]+:[0-9]+$ ]]; then
    echo "haproxy-config: $b is not ADDR:PORT" >&2
    exit 2
  fi
done

cat <<CFG
global
    maxconn 4096

defaults
    mode tcp
    # Streamed answers keep a connection open for minutes.
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend enclaves
    bind ${listen}
    default_backend enclaves

backend enclaves
    balance leastconn
    default-server check inter 2s fall 2 rise 1
CFG
n=0
for b in "${backends[@]}"; do
  n=$((n + 1))
  echo "    server enclave${n} ${b}"
done
