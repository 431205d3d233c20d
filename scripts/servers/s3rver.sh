#!/usr/bin/env bash
# S3-compatible test server (s3rver 3.7.1, Node) on 127.0.0.1, keys S3RVER/S3RVER, region us-east-1.
#   scripts/servers/s3rver.sh install   npm-install s3rver@3.7.1 into $INTAKE_CACHE_DIR (default ~/.cache/intake),
#                                       outside the git tree; installs nodejs+npm from Debian when npm is missing (root)
#   scripts/servers/s3rver.sh start     starts http on ${INTAKE_S3_PORT:-4569} and https on ${INTAKE_S3_TLS_PORT:-4570}
#                                       (self-signed certificate for 127.0.0.1), data under $INTAKE_SERVERS_DIR/s3rver;
#                                       prints 'export INTAKE_TEST_S3=...' and 'export INTAKE_TEST_S3_TLS=...'
#   scripts/servers/s3rver.sh restart   stops them and starts them again on the same data, ports and certificate:
#                                       an S3 outage of a second or two (bench/chaos uses it)
#   scripts/servers/s3rver.sh stop      stops the two node processes this script started (by their PIDs)
# Path-style addressing only (--no-vhost-buckets); tests create their own buckets with random names.
set -euo pipefail
VERSION=3.7.1
PORT=${INTAKE_S3_PORT:-4569}
TLS_PORT=${INTAKE_S3_TLS_PORT:-4570}
D=${INTAKE_SERVERS_DIR:-/tmp/intake-servers}
S3=$D/s3rver
CACHE=${INTAKE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/intake}
PKG=$CACHE/s3rver-$VERSION
BIN=$PKG/node_modules/s3rver/bin/s3rver.js

installed() { [ -f "$BIN" ] && command -v node >/dev/null; }

env_lines() {
  echo "export INTAKE_TEST_S3='url=http://127.0.0.1:$PORT;access_key=S3RVER;secret_key=S3RVER;region=us-east-1'"
  echo "export INTAKE_TEST_S3_TLS='url=https://127.0.0.1:$TLS_PORT;access_key=S3RVER;secret_key=S3RVER;region=us-east-1;ca_file=$S3/tls.crt'"
}

# True while the PID in file $1 is a live s3rver (a recycled PID of another program is not ours to stop).
ours() { [ -f "$1" ] && grep -qs s3rver "/proc/$(cat "$1")/cmdline"; }

answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' -k "$1" || true)" != 000 ]; }

# Starts the two node processes on the data under $S3 and waits until both answer.
launch() {
  # s3rver encrypts its listing continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider:
  # without it every listing that needs a second page answers 500.
  local legacy=(); node --openssl-legacy-provider -e 0 2>/dev/null && legacy=(--openssl-legacy-provider)
  # stdin/stdout/stderr away from the caller's: test.sh reads this script's stdout to its end.
  node "${legacy[@]}" "$BIN" -d "$S3/data" -a 127.0.0.1 -p "$PORT" --no-vhost-buckets --silent \
    </dev/null >>"$S3/http.log" 2>&1 & echo $! >"$S3/http.pid"
  node "${legacy[@]}" "$BIN" -d "$S3/data" -a 127.0.0.1 -p "$TLS_PORT" --no-vhost-buckets --silent \
    --key "$S3/tls.key" --cert "$S3/tls.crt" </dev/null >>"$S3/https.log" 2>&1 & echo $! >"$S3/https.pid"
  for _ in $(seq 100); do
    if answers "http://127.0.0.1:$PORT/" && answers "https://127.0.0.1:$TLS_PORT/"; then return 0; fi
    ours "$S3/http.pid" && ours "$S3/https.pid" || break
    sleep 0.2
  done
  echo "s3rver.sh: s3rver did not answer on 127.0.0.1:$PORT/$TLS_PORT; logs in $S3" >&2
  cat "$S3"/*.log >&2 || true
  return 1
}

case "${1:-}" in
  install)
    if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    command -v openssl >/dev/null && command -v curl >/dev/null || {
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends openssl curl ca-certificates >/dev/null
    }
    if ! installed; then
      mkdir -p "$PKG"
      npm install --prefix "$PKG" --no-audit --no-fund --no-save --loglevel=error "s3rver@$VERSION" >&2
    fi
    ;;
  start)
    installed || { echo "s3rver.sh: s3rver is not installed; run '$0 install'" >&2; exit 1; }
    if ours "$S3/http.pid" && ours "$S3/https.pid"; then env_lines; exit 0; fi
    "$0" stop
    rm -rf "$S3"; mkdir -p "$S3/data"
    # A throwaway CA-less self-signed certificate for 127.0.0.1: tests trust it through ca_file.
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:TRUE" \
      -keyout "$S3/tls.key" -out "$S3/tls.crt" >/dev/null 2>&1
    launch && { env_lines; exit 0; }
    "$0" stop
    exit 1
    ;;
  restart)
    [ -f "$S3/tls.crt" ] || { echo "s3rver.sh: no s3rver data under $S3; use '$0 start'" >&2; exit 1; }
    "$0" stop
    launch || { "$0" stop; exit 1; }
    ;;
  stop)
    for f in "$S3/http.pid" "$S3/https.pid"; do
      if ours "$f"; then
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if ours "$f"; then kill -9 "$pid" 2>/dev/null || true; fi
      fi
      rm -f "$f"
    done
    ;;
  *) echo "usage: $0 install|start|restart|stop" >&2; exit 2 ;;
esac
