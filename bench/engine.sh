#!/usr/bin/env bash
# Engine benchmarks (issue: the execution engine). Prints RESULT lines; see BENCHMARKS.md.
#  1. 10,000 windows due in the same second: every execution recorded within 2 s, none twice.
#  2. One task over 1,000 targets, MaxConcurrency 100, instant local Lambda: all final in 2 s.
#  3. 1,000,000 stored invocations: a DescribeMaintenanceWindowExecutionTaskInvocations
#     page (< 5 ms), and GetMaintenanceWindowExecutionTaskInvocation throughput against the
#     minimal hyper ceiling, alternating rounds (≥ 60%).
#
# usage: bench/engine.sh [seconds-per-run] [invocations]   (needs wrk for part 3)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
N_INV="${2:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CASEMENT_ACCESS_KEY_ID=AKIDBENCH0000000001 CASEMENT_SECRET_ACCESS_KEY=bench-secret CASEMENT_ACCOUNT_ID=123456789012
export AWS_DEFAULT_REGION=us-east-1 CASEMENT_LOG=warn
export AWS_ACCESS_KEY_ID="$CASEMENT_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$CASEMENT_SECRET_ACCESS_KEY"
export AWS_EC2_METADATA_DISABLED=true

cargo build --release --locked -p casement -p casement-bench-ceiling -p casement-bench-engine
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN/fire" 10000
"$BIN/fanout" 1000

command -v wrk >/dev/null || { echo "part 3 needs wrk (apt-get install wrk)"; exit 1; }
echo "seeding $N_INV invocations..." >&2
read -r EXEC TASK INV MIDDLE < <("$BIN/seed_invocations" "$WORK/data" "$N_INV")
"$BIN/casement-bench-ceiling" 127.0.0.1:4591 > "$WORK/ceiling.log" &
"$BIN/casement" serve --listen 127.0.0.1:4592 --data-dir "$WORK/data" > "$WORK/casement.log" &
CEILING=http://127.0.0.1:4591 CASEMENT=http://127.0.0.1:4592
for _ in $(seq 100); do curl -sf "$CASEMENT/health" >/dev/null && break; sleep 0.1; done

sign() { python3 bench/signed_request.py "$CASEMENT" "$1" "$2" "$WORK/$3.lua"; }
run() { # name url script [connections]
    # wrk needs at least as many connections as threads.
    local c="${4:-32}" t=2; [ "$c" -lt 2 ] && t=1
    local out; out="$(wrk -t"$t" -c"$c" -d"${DUR}s" --latency -s "$WORK/$3.lua" "$2" | grep RESULT)"
    echo "RESULT $1 ${out#RESULT }"
}
TOKEN="$(python3 -c "import base64,sys; print(base64.urlsafe_b64encode(('casement:v1:'+sys.argv[1]).encode()).decode().rstrip('='))" "$MIDDLE")"
sign DescribeMaintenanceWindowExecutionTaskInvocations \
    "{\"WindowExecutionId\":\"$EXEC\",\"TaskId\":\"$TASK\",\"MaxResults\":10,\"NextToken\":\"$TOKEN\"}" page
run "DescribeMaintenanceWindowExecutionTaskInvocations-middle-page-of-$N_INV-1-connection" "$CASEMENT" page 1
for round in 1 2 3; do
    sign GetMaintenanceWindowExecutionTaskInvocation \
        "{\"WindowExecutionId\":\"$EXEC\",\"TaskId\":\"$TASK\",\"InvocationId\":\"$INV\"}" get
    C="$(run "ceiling-round-$round" "$CEILING" get)"; echo "$C"
    G="$(run "GetMaintenanceWindowExecutionTaskInvocation-round-$round" "$CASEMENT" get)"; echo "$G"
    python3 -c "import re,sys; r=lambda s: float(re.search(r'rps=(\d+)', s).group(1)); print(f'RATIO round $round GetMaintenanceWindowExecutionTaskInvocation/ceiling = {r(sys.argv[2])/r(sys.argv[1]):.2f}')" "$C" "$G"
done
