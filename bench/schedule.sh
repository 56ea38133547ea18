#!/usr/bin/env bash
# DescribeMaintenanceWindowSchedule for 1,000 windows that all target one node (issue:
# schedules; target < 20 ms). One connection, so the numbers are per-request latency.
#
# usage: bench/schedule.sh [seconds]      (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-8}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CASEMENT_ACCESS_KEY_ID=AKIDBENCH0000000001 CASEMENT_SECRET_ACCESS_KEY=bench-secret CASEMENT_ACCOUNT_ID=123456789012
export AWS_ACCESS_KEY_ID="$CASEMENT_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$CASEMENT_SECRET_ACCESS_KEY"
export AWS_DEFAULT_REGION=us-east-1 CASEMENT_LOG=warn
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }

cargo build --release --locked -p casement
WORK="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$CARGO_TARGET_DIR/release/casement" serve --listen 127.0.0.1:4595 --data-dir "$WORK/data" > "$WORK/casement.log" &
CASEMENT=http://127.0.0.1:4595
for _ in $(seq 50); do curl -sf "$CASEMENT/health" >/dev/null && break; sleep 0.1; done

python3 - "$CASEMENT" <<'PY'
import sys, boto3
c = boto3.client("ssm", endpoint_url=sys.argv[1])
zones = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Adelaide", None]
for i in range(1000):
    args = dict(Name=f"w-{i:04}", Schedule=f"cron({i % 60} {i % 24} ? * * *)", Duration=2, Cutoff=1,
                AllowUnassociatedTargets=True)
    if zones[i % 5]:
        args["ScheduleTimezone"] = zones[i % 5]
    wid = c.create_maintenance_window(**args)["WindowId"]
    c.register_target_with_maintenance_window(WindowId=wid, ResourceType="INSTANCE",
                                              Targets=[{"Key": "InstanceIds", "Values": ["mi-0123456789abcdef0"]}])
print("created 1000 windows targeting mi-0123456789abcdef0", file=sys.stderr)
PY
for n in 10 100; do
    python3 bench/signed_request.py "$CASEMENT" DescribeMaintenanceWindowSchedule \
        "{\"Targets\":[{\"Key\":\"InstanceIds\",\"Values\":[\"mi-0123456789abcdef0\"]}],\"ResourceType\":\"INSTANCE\",\"MaxResults\":$n}" "$WORK/s.lua"
    out="$(wrk -t1 -c1 -d"${DUR}s" --latency -s "$WORK/s.lua" "$CASEMENT" | grep RESULT)"
    echo "RESULT DescribeMaintenanceWindowSchedule-1000-windows-MaxResults-$n ${out#RESULT }"
done
