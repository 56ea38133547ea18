#!/usr/bin/env bash
# Connection exhaustion (issue: hardening): a release server limited to 256 file
# descriptors, with its default timeouts (header 10 s, idle 60 s), held by 600
# connections that never send a complete request (and reconnect when closed). Prints how
# long a client on a new connection waits for its first answer, and how its requests go
# for 60 s.
#
# usage: bench/connections.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CASEMENT_ACCESS_KEY_ID=AKIDBENCH0000000001 CASEMENT_SECRET_ACCESS_KEY=bench-secret
export AWS_ACCESS_KEY_ID="$CASEMENT_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$CASEMENT_SECRET_ACCESS_KEY"
export AWS_DEFAULT_REGION=us-east-1 CASEMENT_LOG=warn
cargo build --release --locked -p casement
WORK="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
(ulimit -n 256 && exec "$CARGO_TARGET_DIR/release/casement" serve --listen 127.0.0.1:4594 --data-dir "$WORK/data") \
    > "$WORK/casement.log" 2>&1 &
for _ in $(seq 100); do curl -sf http://127.0.0.1:4594/health >/dev/null && break; sleep 0.1; done
ulimit -n 4096
# Hogs that reconnect as soon as they are closed, then (a fresh server) hogs that do not.
python3 bench/connections.py http://127.0.0.1:4594 10
kill %1 2>/dev/null || true; wait 2>/dev/null || true
rm -rf "$WORK/data"
(ulimit -n 256 && exec "$CARGO_TARGET_DIR/release/casement" serve --listen 127.0.0.1:4594 --data-dir "$WORK/data") \
    > "$WORK/casement.log" 2>&1 &
for _ in $(seq 100); do curl -sf http://127.0.0.1:4594/health >/dev/null && break; sleep 0.1; done
python3 bench/connections.py http://127.0.0.1:4594 10 once
