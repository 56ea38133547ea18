"""boto3 against a real Casement: every served operation, every member, SSM's errors."""

import base64
import datetime

import pytest
from botocore.exceptions import ClientError


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def make_window(ssm, name="w-1", **kw):
    args = dict(Name=name, Schedule="rate(1 day)", Duration=2, Cutoff=1, AllowUnassociatedTargets=True)
    args.update(kw)
    return ssm.create_maintenance_window(**args)["WindowId"]


def test_window_members_round_trip(ssm):
    wid = ssm.create_maintenance_window(
        Name="nightly", Description="patch at night", StartDate="2030-01-01T00:00:00Z",
        EndDate="2031-01-01T00:00:00Z", Schedule="cron(0 2 ? * * *)", ScheduleTimezone="Asia/Seoul",
        ScheduleOffset=1, Duration=3, Cutoff=1, AllowUnassociatedTargets=False, ClientToken="c-1",
        Tags=[{"Key": "Team", "Value": "ops"}])["WindowId"]
    got = ssm.get_maintenance_window(WindowId=wid)
    for k, v in dict(WindowId=wid, Name="nightly", Description="patch at night", StartDate="2030-01-01T00:00:00Z",
                     EndDate="2031-01-01T00:00:00Z", Schedule="cron(0 2 ? * * *)", ScheduleTimezone="Asia/Seoul",
                     ScheduleOffset=1, Duration=3, Cutoff=1, AllowUnassociatedTargets=False, Enabled=True).items():
        assert got[k] == v, k
    # DateTime members arrive as epoch numbers that botocore turns into aware datetimes.
    assert isinstance(got["CreatedDate"], datetime.datetime)
    age = datetime.datetime.now(datetime.timezone.utc) - got["CreatedDate"]
    assert abs(age.total_seconds()) < 60
    assert got["ResponseMetadata"]["RequestId"]
    assert ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=wid)["TagList"] == [
        {"Key": "Team", "Value": "ops"}]

    upd = ssm.update_maintenance_window(WindowId=wid, Enabled=False, Cutoff=2)
    assert upd["Enabled"] is False and upd["Cutoff"] == 2 and upd["Name"] == "nightly"
    ids = [w["WindowId"] for w in ssm.describe_maintenance_windows(
        Filters=[{"Key": "Enabled", "Values": ["false"]}])["WindowIdentities"]]
    assert ids == [wid]
    assert ssm.delete_maintenance_window(WindowId=wid)["WindowId"] == wid
    with pytest.raises(ClientError) as e:
        ssm.get_maintenance_window(WindowId=wid)
    assert code(e) == "DoesNotExistException"
    assert e.value.response["Error"]["Message"] == f"Maintenance window {wid} does not exist"


def test_paginator_walks_every_window(ssm):
    made = sorted(make_window(ssm, f"page-{i:02}") for i in range(25))
    pages = list(ssm.get_paginator("describe_maintenance_windows").paginate(PaginationConfig={"PageSize": 10}))
    assert [len(p["WindowIdentities"]) for p in pages] == [10, 10, 5]
    assert sorted(w["WindowId"] for p in pages for w in p["WindowIdentities"]) == made


def test_targets_and_tasks(ssm):
    wid = make_window(ssm, AllowUnassociatedTargets=False)
    tid = ssm.register_target_with_maintenance_window(
        WindowId=wid, ResourceType="INSTANCE", Targets=[{"Key": "tag:Env", "Values": ["prod"]}],
        OwnerInformation="owner", Name="prod-nodes", Description="d")["WindowTargetId"]
    targets = ssm.describe_maintenance_window_targets(WindowId=wid)["Targets"]
    assert targets == [{"WindowId": wid, "WindowTargetId": tid, "ResourceType": "INSTANCE",
                        "Targets": [{"Key": "tag:Env", "Values": ["prod"]}], "OwnerInformation": "owner",
                        "Name": "prod-nodes", "Description": "d"}]
    payload = b'{"id": "{{WINDOW_ID}}"}'
    task_id = ssm.register_task_with_maintenance_window(
        WindowId=wid, Targets=[{"Key": "WindowTargetIds", "Values": [tid]}], TaskArn="AWS-RunShellScript",
        TaskType="RUN_COMMAND", Priority=2, MaxConcurrency="2", MaxErrors="1", Name="echo",
        TaskInvocationParameters={"RunCommand": {"Parameters": {"commands": ["echo hi"]}, "TimeoutSeconds": 60}},
    )["WindowTaskId"]
    lambda_id = ssm.register_task_with_maintenance_window(
        WindowId=wid, TaskArn="arn:aws:lambda:us-west-2:444455556666:function:f", TaskType="LAMBDA",
        TaskInvocationParameters={"Lambda": {"Payload": payload, "Qualifier": "1"}})["WindowTaskId"]
    got = ssm.get_maintenance_window_task(WindowId=wid, WindowTaskId=task_id)
    assert got["TaskInvocationParameters"] == {
        "RunCommand": {"Parameters": {"commands": ["echo hi"]}, "TimeoutSeconds": 60}}
    assert got["Priority"] == 2 and got["TaskType"] == "RUN_COMMAND" and got["Name"] == "echo"
    lam = ssm.get_maintenance_window_task(WindowId=wid, WindowTaskId=lambda_id)
    assert lam["TaskInvocationParameters"]["Lambda"]["Payload"] == payload  # blob round-trips
    assert "Targets" not in lam or lam["Targets"] == []
    tasks = ssm.describe_maintenance_window_tasks(
        WindowId=wid, Filters=[{"Key": "TaskType", "Values": ["RUN_COMMAND"]}])["Tasks"]
    assert [t["WindowTaskId"] for t in tasks] == [task_id] and tasks[0]["Type"] == "RUN_COMMAND"

    with pytest.raises(ClientError) as e:
        ssm.deregister_target_from_maintenance_window(WindowId=wid, WindowTargetId=tid, Safe=True)
    assert code(e) == "TargetInUseException"
    ssm.deregister_task_from_maintenance_window(WindowId=wid, WindowTaskId=task_id)
    ssm.deregister_target_from_maintenance_window(WindowId=wid, WindowTargetId=tid, Safe=True)
    assert ssm.describe_maintenance_window_targets(WindowId=wid)["Targets"] == []


def test_server_side_validation(server):
    raw = server.client(validate=False)
    with pytest.raises(ClientError) as e:
        raw.describe_maintenance_windows(MaxResults=5)
    assert code(e) == "ValidationException"
    assert e.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '5' at 'maxResults' failed to satisfy constraint: "
        "Member must have value greater than or equal to 10")
    with pytest.raises(ClientError) as e:
        raw.get_maintenance_window(WindowId="mw-123")
    assert code(e) == "ValidationException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_signature_errors(server):
    with pytest.raises(ClientError) as e:
        server.client(secret="wrong").describe_maintenance_windows()
    assert code(e) == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        server.client(akid="AKIDNOBODY0000000000").describe_maintenance_windows()
    assert code(e) == "UnrecognizedClientException"


def test_regions_isolate(server):
    west = server.client()
    east = server.client(region="eu-central-1")
    make_window(west)
    assert len(west.describe_maintenance_windows()["WindowIdentities"]) == 1
    assert east.describe_maintenance_windows()["WindowIdentities"] == []


def test_schedules(ssm):
    wid = ssm.create_maintenance_window(
        Name="sched", Schedule="cron(0 9 ? * WED *)", ScheduleTimezone="America/Los_Angeles", Duration=2, Cutoff=1,
        AllowUnassociatedTargets=True)["WindowId"]
    nxt = ssm.get_maintenance_window(WindowId=wid)["NextExecutionTime"]
    # Wednesday 09:00 Pacific, in AWS's string form.
    when = datetime.datetime.strptime(nxt, "%Y-%m-%dT%H:%M%z")
    assert when.weekday() == 2 and when.hour == 9 and when.minute == 0
    assert nxt.endswith(("-08:00", "-07:00"))
    pages = list(ssm.get_paginator("describe_maintenance_window_schedule").paginate(
        WindowId=wid, PaginationConfig={"MaxItems": 6, "PageSize": 4}))
    times = [e["ExecutionTime"] for p in pages for e in p["ScheduledWindowExecutions"]]
    assert len(times) == 6 and times[0] == nxt
    parsed = [datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M%z") for t in times]
    assert all((b - a) == datetime.timedelta(days=7) for a, b in zip(parsed, parsed[1:]))
    with pytest.raises(ClientError) as e:
        ssm.update_maintenance_window(WindowId=wid, Schedule="rate(1 hours)")
    assert code(e) == "ValidationException"
