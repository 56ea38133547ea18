#!/usr/bin/env bash
# HTTP benchmarks of the API (issue: foundation): GetMaintenanceWindow and
# CreateMaintenanceWindow with SigV4-signed requests at 32 connections, side by side with
# a minimal hyper server (the ceiling), and DescribeMaintenanceWindows page cost with 10
# vs tens of thousands of stored windows. Prints RESULT lines; see BENCHMARKS.md.
#
# usage: bench/run.sh [seconds-per-run]     (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CASEMENT_ACCESS_KEY_ID=AKIDBENCH0000000001 CASEMENT_SECRET_ACCESS_KEY=bench-secret CASEMENT_ACCOUNT_ID=123456789012
export AWS_DEFAULT_REGION=us-east-1 CASEMENT_LOG=warn
export AWS_ACCESS_KEY_ID="$CASEMENT_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$CASEMENT_SECRET_ACCESS_KEY"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }

cargo build --release --locked -p casement -p casement-bench-ceiling
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN/casement-bench-ceiling" 127.0.0.1:4591 > "$WORK/ceiling.log" &
"$BIN/casement" serve --listen 127.0.0.1:4592 --data-dir "$WORK/data" > "$WORK/casement.log" &
CEILING=http://127.0.0.1:4591 CASEMENT=http://127.0.0.1:4592
for _ in $(seq 50); do curl -sf "$CASEMENT/health" >/dev/null && break; sleep 0.1; done

python3 - "$CASEMENT" > "$WORK/ids" <<'PY'
import sys, boto3
c = boto3.client("ssm", endpoint_url=sys.argv[1])
ids = [c.create_maintenance_window(Name=f"bench-{i}", Schedule="rate(1 day)", Duration=2, Cutoff=1,
                                   AllowUnassociatedTargets=False)["WindowId"] for i in range(10)]
print(ids[0])
PY
WID="$(head -n1 "$WORK/ids")"
sign() { python3 bench/signed_request.py "$CASEMENT" "$1" "$2" "$WORK/$3.lua"; }
sign GetMaintenanceWindow "{\"WindowId\":\"$WID\"}" get
sign CreateMaintenanceWindow '{"Name":"bench-create","Schedule":"rate(1 day)","Duration":2,"Cutoff":1,"AllowUnassociatedTargets":false}' create
sign DescribeMaintenanceWindows '{"MaxResults":10}' describe

run() { # name url script
    local out; out="$(wrk -t2 -c32 -d"${DUR}s" --latency -s "$WORK/$3.lua" "$2" | grep RESULT)"
    echo "RESULT $1 ${out#RESULT }"
}
# This machine's neighbours make throughput drift by tens of percent between runs, so
# the ceiling and GetMaintenanceWindow alternate, and each pair is compared.
for round in 1 2 3; do
    sign GetMaintenanceWindow "{\"WindowId\":\"$WID\"}" get
    C="$(run "ceiling-round-$round" "$CEILING" get)"; echo "$C"
    G="$(run "GetMaintenanceWindow-round-$round" "$CASEMENT" get)"; echo "$G"
    python3 -c "import re,sys; r=lambda s: float(re.search(r'rps=(\d+)', s).group(1)); print(f'RATIO round $round GetMaintenanceWindow/ceiling = {r(sys.argv[2])/r(sys.argv[1]):.2f}')" "$C" "$G"
done
run DescribeMaintenanceWindows-10-windows "$CASEMENT" describe
CREATED="$(run CreateMaintenanceWindow "$CASEMENT" create | tee /dev/stderr | sed -n 's/.* requests=\([0-9]*\) .*/\1/p')"
N=$((CREATED + 10))
run "DescribeMaintenanceWindows-first-page-of-$N-windows" "$CASEMENT" describe
MID="$(python3 - "$CASEMENT" <<'PY'
import sys, boto3
c = boto3.client("ssm", endpoint_url=sys.argv[1])
ids = [w["WindowId"] for p in c.get_paginator("describe_maintenance_windows").paginate(PaginationConfig={"PageSize": 100})
       for w in p["WindowIdentities"]]
print(len(ids), ids[len(ids) // 2])
PY
)"
echo "counted ${MID% *} windows through the API" >&2
TOKEN="$(python3 -c "import base64,sys; print(base64.urlsafe_b64encode(('casement:v1:'+sys.argv[1]).encode()).decode().rstrip('='))" "${MID#* }")"
sign DescribeMaintenanceWindows "{\"MaxResults\":10,\"NextToken\":\"$TOKEN\"}" describe-mid
run "DescribeMaintenanceWindows-middle-page-of-$N-windows" "$CASEMENT" describe-mid
