#!/usr/bin/env python3
"""Automation and Documents benchmarks against a running server (bench/automation.sh).

Prints RESULT lines (see BENCHMARKS.md):
  1. one runbook of 100 `aws:sleep PT0S` steps: its time from start to end, as the
     server recorded it, and the overhead per step;
  2. 1,000 executions of a 3-step runbook started at once: the time from the first start
     request to the last execution's end;
  3. CreateDocument and GetDocument of a 60 KB YAML document: latency percentiles as
     boto3 sees them (so they include the client's own cost).
"""
import concurrent.futures
import os
import statistics
import sys
import time

import boto3
import botocore.config

endpoint = sys.argv[1]
cfg = botocore.config.Config(retries={"max_attempts": 1}, max_pool_connections=64)
ssm = boto3.client("ssm", endpoint_url=endpoint, config=cfg)


def wait(ids, timeout=120):
    pending, ends = set(ids), {}
    deadline = time.time() + timeout
    while pending:
        assert time.time() < deadline, f"{len(pending)} executions did not finish"
        for i in list(pending):
            e = ssm.get_automation_execution(AutomationExecutionId=i)["AutomationExecution"]
            if e["AutomationExecutionStatus"] in ("Success", "Failed", "TimedOut", "Cancelled"):
                assert e["AutomationExecutionStatus"] == "Success", e
                ends[i] = e
                pending.discard(i)
        time.sleep(0.05)
    return ends


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


# 1. 100 steps.
steps = "\n".join(f"  - {{name: s{i}, action: aws:sleep, inputs: {{Duration: PT0S}}}}" for i in range(100))
ssm.create_document(Name="bench-hundred", DocumentType="Automation", DocumentFormat="YAML",
                    Content=f"schemaVersion: '0.3'\nmainSteps:\n{steps}\n")
runs = []
for _ in range(5):
    t0 = time.time()
    i = ssm.start_automation_execution(DocumentName="bench-hundred")["AutomationExecutionId"]
    e = wait([i])[i]
    wall = time.time() - t0
    server = (e["ExecutionEndTime"] - e["ExecutionStartTime"]).total_seconds()
    runs.append((server, wall))
    print(f"RUN hundred-steps server={server*1000:.0f}ms wall={wall*1000:.0f}ms", flush=True)
best = statistics.median(r[0] for r in runs)
print(f"RESULT runbook-100-sleep-steps median_server_ms={best*1000:.0f} median_wall_ms="
      f"{statistics.median(r[1] for r in runs)*1000:.0f} per_step_ms={best*10:.2f} (target <= 500 ms, <= 5 ms/step)")

# 2. 1,000 at once.
ssm.create_document(Name="bench-three", DocumentType="Automation", DocumentFormat="YAML", Content="""
schemaVersion: '0.3'
parameters:
  Mode: {type: String, default: fast, allowedValues: [fast, slow]}
mainSteps:
  - name: pick
    action: aws:branch
    inputs:
      Choices: [{NextStep: nap, Variable: '{{ Mode }}', StringEquals: fast}]
  - {name: nap, action: aws:sleep, inputs: {Duration: PT0S}}
  - {name: done, action: aws:sleep, inputs: {Duration: PT0S}}
""")
n = int(os.environ.get("BENCH_AUTOMATIONS", "1000"))
t0 = time.time()
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    ids = list(pool.map(lambda _: ssm.start_automation_execution(DocumentName="bench-three")["AutomationExecutionId"],
                        range(n)))
started = time.time() - t0
ends = wait(ids)
last_end = max(e["ExecutionEndTime"].timestamp() for e in ends.values())
print(f"RESULT automations-{n}-three-steps starts_s={started:.2f} all_final_s={last_end - t0:.2f} "
      f"(target all final within 5 s)")

# 3. 60 KB YAML.
body = "schemaVersion: '0.3'\ndescription: |\n" + "".join(
    f"  line {i:05d} of a long description that makes this document sixty kilobytes\n" for i in range(780)) + \
    "mainSteps:\n  - {name: s, action: aws:sleep, inputs: {Duration: PT0S}}\n"
assert 58_000 < len(body) < 64 * 1024, len(body)
create, get = [], []
for i in range(300):
    t = time.perf_counter()
    ssm.create_document(Name=f"bench-big-{i}", Content=body, DocumentType="Automation", DocumentFormat="YAML")
    create.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    ssm.get_document(Name=f"bench-big-{i}")
    get.append((time.perf_counter() - t) * 1000)
for name, xs in (("CreateDocument", create), ("GetDocument", get)):
    print(f"RESULT {name}-60KB-yaml n={len(xs)} p50_ms={pct(xs, 50):.2f} p99_ms={pct(xs, 99):.2f} "
          f"max_ms={max(xs):.2f} (target p99 <= 10 ms)")
