#!/usr/bin/env bash
# Managed-node benchmarks (issue: managed nodes, Run Command and the agent).
#  1. 1,000 simulated agents long-polling one server: one SendCommand to all of them,
#     from SendCommand to each agent's first reply (p50 < 50 ms, p99 < 250 ms).
#  2. An idle `casement agent`: resident memory (< 10 MiB) and CPU time over a minute.
#
# usage: bench/agents.sh [agents] [rounds] [idle-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
ROUNDS="${2:-3}"
IDLE="${3:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CASEMENT_ACCESS_KEY_ID=AKIDBENCH0000000001 CASEMENT_SECRET_ACCESS_KEY=bench-secret CASEMENT_LOG=warn
cargo build --release --locked -p casement -p casement-bench-agents
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# Two sockets per simulated agent (its poll and its replies), on each side.
ulimit -n 16384

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ="$(getconf CLK_TCK)"

"$BIN/casement" serve --listen 127.0.0.1:4593 --data-dir "$WORK/data" > "$WORK/casement.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:4593/health >/dev/null && break; sleep 0.1; done
"$BIN/agents_delivery" http://127.0.0.1:4593 "$CASEMENT_ACCESS_KEY_ID" "$CASEMENT_SECRET_ACCESS_KEY" "$N" "$ROUNDS" \
    > "$WORK/delivery.out" 2>&1 &
DELIVERY=$!
# The server's CPU over the rounds only (after the nodes are registered): the measure
# that stays comparable between builds on a host whose latency swings.
until grep -q "registered and tagged" "$WORK/delivery.out" || ! kill -0 "$DELIVERY" 2>/dev/null; do sleep 0.05; done
S0="$(cpu_ticks "$SERVER")"
status=0
wait "$DELIVERY" || status=$?
S1="$(cpu_ticks "$SERVER")"
cat "$WORK/delivery.out"
[ "$status" -eq 0 ] || exit "$status"
python3 -c "import sys; t, hz, r = map(int, sys.argv[1:]); print(f'RESULT delivery-server-cpu rounds={r} cpu_ms={t*1000/hz:.0f} per_round_ms={t*1000/hz/r:.0f}')" "$((S1 - S0))" "$HZ" "$ROUNDS"

# Part 2: one real agent, registered, then left idle. It runs from its own copy of the
# binary, as on a node where no server runs (a binary shared with the running server
# would count the server's pages in the agent's resident size).
ACT="$(python3 - <<'PY'
import boto3
c = boto3.client("ssm", endpoint_url="http://127.0.0.1:4593", region_name="us-east-1",
                 aws_access_key_id="AKIDBENCH0000000001", aws_secret_access_key="bench-secret")
a = c.create_activation(IamRole="idle")
print(a["ActivationCode"], a["ActivationId"])
PY
)"
read -r CODE ID <<< "$ACT"
cp "$BIN/casement" "$WORK/casement-node"
"$WORK/casement-node" agent --endpoint http://127.0.0.1:4593 --activation-code "$CODE" --activation-id "$ID" \
    --state-dir "$WORK/agent" > "$WORK/agent.log" 2>&1 &
AGENT=$!
sleep 5
ticks() { awk '{print $14 + $15}' "/proc/$AGENT/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$AGENT/status"; }
STARTUP_RSS="$(rss)"
T0="$(ticks)"
sleep "$IDLE"
T1="$(ticks)"
RSS="$(rss)"
python3 -c "import sys; s, rss, t0, t1, hz, idle = map(int, sys.argv[1:]); print(f'RESULT idle-agent rss_after_start_mib={s/1024:.1f} rss_idle_mib={rss/1024:.1f} cpu_ms_over_{idle}s={(t1-t0)*1000/hz:.0f} cpu_percent={(t1-t0)/hz/idle*100:.3f}')" "$STARTUP_RSS" "$RSS" "$T0" "$T1" "$HZ" "$IDLE"
