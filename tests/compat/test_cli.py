"""The AWS CLI (v1, botocore) against a real Casement."""

import json
import subprocess


def aws(server, *args, check=True):
    p = subprocess.run(["aws", "ssm", *args, "--endpoint-url", server.endpoint, "--output", "json"],
                       capture_output=True, text=True, env=server.cli_env())
    if check:
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout) if p.stdout.strip() else {}
    return p


def test_cli_quick_start(server):
    wid = aws(server, "create-maintenance-window", "--name", "cli-window", "--schedule", "cron(0 16 ? * TUE *)",
              "--duration", "4", "--cutoff", "1", "--allow-unassociated-targets",
              "--tags", "Key=Env,Value=dev")["WindowId"]
    got = aws(server, "get-maintenance-window", "--window-id", wid)
    assert got["Name"] == "cli-window" and got["Duration"] == 4 and got["AllowUnassociatedTargets"] is True
    tid = aws(server, "register-target-with-maintenance-window", "--window-id", wid, "--resource-type", "INSTANCE",
              "--targets", "Key=InstanceIds,Values=mi-0123456789abcdef0")["WindowTargetId"]
    task = aws(server, "register-task-with-maintenance-window", "--window-id", wid, "--task-arn",
               "AWS-RunShellScript", "--task-type", "RUN_COMMAND", "--targets", f"Key=WindowTargetIds,Values={tid}",
               "--max-concurrency", "1", "--max-errors", "1", "--priority", "0",
               "--task-invocation-parameters", '{"RunCommand":{"Parameters":{"commands":["df -h"]}}}')["WindowTaskId"]
    tasks = aws(server, "describe-maintenance-window-tasks", "--window-id", wid)["Tasks"]
    assert [t["WindowTaskId"] for t in tasks] == [task]
    listed = aws(server, "describe-maintenance-windows", "--filters", "Key=Name,Values=cli")["WindowIdentities"]
    assert [w["WindowId"] for w in listed] == [wid]
    tags = aws(server, "list-tags-for-resource", "--resource-type", "MaintenanceWindow", "--resource-id", wid)
    assert tags["TagList"] == [{"Key": "Env", "Value": "dev"}]
    assert aws(server, "add-tags-to-resource", "--resource-type", "MaintenanceWindow", "--resource-id", wid,
               "--tags", "Key=Owner,Value=me") == {}
    aws(server, "update-maintenance-window", "--window-id", wid, "--no-enabled")
    assert aws(server, "get-maintenance-window", "--window-id", wid)["Enabled"] is False
    aws(server, "delete-maintenance-window", "--window-id", wid)
    p = aws(server, "get-maintenance-window", "--window-id", wid, check=False)
    assert p.returncode != 0
    assert "DoesNotExistException" in p.stderr and f"Maintenance window {wid} does not exist" in p.stderr


def test_cli_reports_validation_errors(server):
    p = aws(server, "create-maintenance-window", "--name", "bad", "--schedule", "rate(1 day)",
            "--duration", "2", "--cutoff", "5", "--no-allow-unassociated-targets", check=False)
    assert p.returncode != 0
    assert "ValidationException" in p.stderr
    assert "Cuttoff was 5 but must be smaller than 1 (Duration - 1 )" in p.stderr


def test_cli_schedule(server):
    wid = aws(server, "create-maintenance-window", "--name", "cli-sched", "--schedule", "rate(7 days)",
              "--start-date", "2031-01-01T00:00:00Z", "--duration", "2", "--cutoff", "0",
              "--no-allow-unassociated-targets")["WindowId"]
    out = aws(server, "describe-maintenance-window-schedule", "--window-id", wid, "--max-items", "3")
    times = [e["ExecutionTime"] for e in out["ScheduledWindowExecutions"]]
    assert times == ["2031-01-01T00:00Z", "2031-01-08T00:00Z", "2031-01-15T00:00Z"]
    assert aws(server, "get-maintenance-window", "--window-id", wid)["NextExecutionTime"] == "2031-01-01T00:00Z"
