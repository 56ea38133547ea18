"""A window really runs, seen through boto3: an at() window a few seconds ahead with a
LAMBDA task against a local server speaking Lambda's Invoke protocol, then every history
call, and GetMaintenanceWindowExecutionTaskInvocation member by member."""

import base64
import datetime
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from conftest import Server


class FakeLambda(BaseHTTPRequestHandler):
    calls = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        FakeLambda.calls.append((self.path, body.decode()))
        out = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("x-amzn-RequestId", "11111111-2222-3333-4444-%012d" % len(FakeLambda.calls))
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def lambda_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeLambda)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


def test_window_runs_and_history_answers(lambda_url):
    server = Server("--lambda-endpoint", lambda_url)
    try:
        ssm = server.client()
        due = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
        wid = ssm.create_maintenance_window(
            Name="boto3-engine", Schedule="at(%s)" % due.strftime("%Y-%m-%dT%H:%M:%S"), Duration=1, Cutoff=0,
            AllowUnassociatedTargets=True)["WindowId"]
        ssm.register_task_with_maintenance_window(
            WindowId=wid, TaskArn="arn:aws:lambda:us-west-2:444455556666:function:f", TaskType="LAMBDA",
            Priority=0,
            TaskInvocationParameters={"Lambda": {"Payload": b'{"window":"{{WINDOW_ID}}"}'}})

        deadline = time.time() + 30
        while True:
            execs = ssm.describe_maintenance_window_executions(WindowId=wid)["WindowExecutions"]
            if execs and execs[0]["Status"] not in ("PENDING", "IN_PROGRESS"):
                break
            assert time.time() < deadline, execs
            time.sleep(0.2)
        e = execs[0]
        assert e["Status"] == "SUCCESS"
        assert isinstance(e["StartTime"], datetime.datetime)
        assert abs((e["StartTime"] - due.replace(microsecond=0)).total_seconds()) <= 1.5

        paged = [x for page in ssm.get_paginator("describe_maintenance_window_executions").paginate(WindowId=wid)
                 for x in page["WindowExecutions"]]
        assert [x["WindowExecutionId"] for x in paged] == [e["WindowExecutionId"]]
        before = ssm.describe_maintenance_window_executions(
            WindowId=wid, Filters=[{"Key": "ExecutedBefore", "Values": ["2020-01-01T00:00:00Z"]}])
        assert before["WindowExecutions"] == []

        got = ssm.get_maintenance_window_execution(WindowExecutionId=e["WindowExecutionId"])
        assert got["Status"] == "SUCCESS" and len(got["TaskIds"]) == 1
        tasks = ssm.describe_maintenance_window_execution_tasks(WindowExecutionId=e["WindowExecutionId"])
        t = tasks["WindowExecutionTaskIdentities"][0]
        assert (t["TaskType"], t["Status"], t["TaskArn"]) == (
            "LAMBDA", "SUCCESS", "arn:aws:lambda:us-west-2:444455556666:function:f")
        task = ssm.get_maintenance_window_execution_task(
            WindowExecutionId=e["WindowExecutionId"], TaskId=t["TaskExecutionId"])
        assert task["Type"] == "LAMBDA" and task["Priority"] == 0
        invs = ssm.describe_maintenance_window_execution_task_invocations(
            WindowExecutionId=e["WindowExecutionId"], TaskId=t["TaskExecutionId"])
        inv = invs["WindowExecutionTaskInvocationIdentities"][0]
        full = ssm.get_maintenance_window_execution_task_invocation(
            WindowExecutionId=e["WindowExecutionId"], TaskId=t["TaskExecutionId"], InvocationId=inv["InvocationId"])
        full.pop("ResponseMetadata")
        assert set(full) == {"WindowExecutionId", "TaskExecutionId", "InvocationId", "ExecutionId", "TaskType",
                             "Parameters", "Status", "StartTime", "EndTime"}
        for k in ("WindowExecutionId", "TaskExecutionId", "InvocationId"):
            assert len(full[k]) == 36
        assert isinstance(full["StartTime"], datetime.datetime) and full["EndTime"] >= full["StartTime"]
        params = json.loads(full["Parameters"])
        assert json.loads(params["payload"]) == {"window": wid}
        assert full["ExecutionId"].startswith("11111111-2222-3333-4444-")
        assert full == {k: v for k, v in inv.items()}
        assert FakeLambda.calls and FakeLambda.calls[-1][0].endswith("/invocations")

        with pytest.raises(ClientError) as err:
            ssm.get_maintenance_window_execution_task_invocation(
                WindowExecutionId=e["WindowExecutionId"], TaskId=t["TaskExecutionId"],
                InvocationId="00000000-0000-0000-0000-000000000000")
        assert err.value.response["Error"]["Code"] == "DoesNotExistException"
        with pytest.raises(ClientError) as err:
            server.client(validate=False).get_maintenance_window_execution(WindowExecutionId="nope")
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert ssm.cancel_maintenance_window_execution(
            WindowExecutionId=e["WindowExecutionId"])["WindowExecutionId"] == e["WindowExecutionId"]
    finally:
        server.stop()
