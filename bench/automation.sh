#!/usr/bin/env bash
# Automation and Documents benchmarks (issue: SSM Documents and Automation). Starts a
# release server on a fresh SQLite data dir (or on PostgreSQL: BENCH_DATABASE_URL) and
# runs bench/automation.py against it. Prints RESULT lines; see BENCHMARKS.md.
#
# usage: bench/automation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CASEMENT_ACCESS_KEY_ID=AKIDBENCH0000000001 CASEMENT_SECRET_ACCESS_KEY=bench-secret CASEMENT_ACCOUNT_ID=123456789012
export AWS_ACCESS_KEY_ID="$CASEMENT_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$CASEMENT_SECRET_ACCESS_KEY"
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true CASEMENT_LOG=warn

cargo build --release --locked -p casement
WORK="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
DB=()
[ -n "${BENCH_DATABASE_URL:-}" ] && DB=(--database-url "$BENCH_DATABASE_URL")
"$CARGO_TARGET_DIR/release/casement" serve --listen 127.0.0.1:4593 --data-dir "$WORK/data" \
    --automation-concurrency 1000 "${DB[@]}" > "$WORK/casement.log" &
for _ in $(seq 100); do curl -sf http://127.0.0.1:4593/health >/dev/null && break; sleep 0.1; done
python3 bench/automation.py http://127.0.0.1:4593
