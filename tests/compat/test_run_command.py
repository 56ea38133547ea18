"""Run Command through the AWS CLI and boto3, with a real `casement agent`."""

import json
import subprocess
import tempfile
import time

from conftest import _binary
from test_cli import aws


def start_agent(server, ssm, state_dir):
    act = ssm.create_activation(IamRole="cli-node", RegistrationLimit=1)
    proc = subprocess.Popen(
        [_binary(), "agent", "--endpoint", server.endpoint, "--activation-code", act["ActivationCode"],
         "--activation-id", act["ActivationId"], "--region", "us-west-2", "--state-dir", state_dir,
         "--heartbeat-seconds", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        nodes = ssm.describe_instance_information()["InstanceInformationList"]
        if nodes and nodes[0].get("PlatformType"):
            return proc, nodes[0]["InstanceId"]
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the agent did not register")


def test_cli_send_command_and_wait(server, ssm):
    with tempfile.TemporaryDirectory() as state:
        agent, node = start_agent(server, ssm, state)
        try:
            sent = aws(server, "send-command", "--instance-ids", node, "--document-name", "AWS-RunShellScript",
                       "--comment", "from the cli", "--parameters", 'commands=["echo hello from cli"]')
            command_id = sent["Command"]["CommandId"]
            assert sent["Command"]["Status"] == "Pending"
            assert sent["Command"]["TargetCount"] == 1
            # The CLI's waiter polls get-command-invocation until a final status.
            p = subprocess.run(["aws", "ssm", "wait", "command-executed", "--command-id", command_id,
                                "--instance-id", node, "--endpoint-url", server.endpoint],
                               env=server.cli_env(), capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, p.stderr
            inv = aws(server, "get-command-invocation", "--command-id", command_id, "--instance-id", node)
            assert inv["Status"] == "Success"
            assert inv["StatusDetails"] == "Success"
            assert inv["StandardOutputContent"] == "hello from cli\n"
            assert inv["ResponseCode"] == 0
            assert inv["Comment"] == "from the cli"
            listed = aws(server, "list-command-invocations", "--command-id", command_id, "--details")
            plugin = listed["CommandInvocations"][0]["CommandPlugins"][0]
            assert plugin["Name"] == "aws:runShellScript" and plugin["Output"] == "hello from cli\n"
            commands = aws(server, "list-commands")["Commands"]
            assert [c["CommandId"] for c in commands] == [command_id]
            assert commands[0]["Status"] == "Success" and commands[0]["CompletedCount"] == 1

            # A failing command: the waiter fails, the invocation says why.
            sent = aws(server, "send-command", "--instance-ids", node, "--document-name", "AWS-RunShellScript",
                       "--parameters", 'commands=["echo nope >&2; exit 7"]')
            failed_id = sent["Command"]["CommandId"]
            p = subprocess.run(["aws", "ssm", "wait", "command-executed", "--command-id", failed_id,
                                "--instance-id", node, "--endpoint-url", server.endpoint],
                               env=server.cli_env(), capture_output=True, text=True, timeout=120)
            assert p.returncode != 0
            inv = ssm.get_command_invocation(CommandId=failed_id, InstanceId=node)
            assert (inv["Status"], inv["ResponseCode"], inv["StandardErrorContent"]) == ("Failed", 7, "nope\n")

            # Unknown documents are refused as AWS refuses them.
            p = aws(server, "send-command", "--instance-ids", node, "--document-name", "AWS-Nothing",
                    "--parameters", 'commands=["true"]', check=False)
            assert p.returncode != 0 and "InvalidDocument" in p.stderr
        finally:
            agent.kill()
            agent.wait()


def test_boto3_waiter_and_cancel(server, ssm):
    with tempfile.TemporaryDirectory() as state:
        agent, node = start_agent(server, ssm, state)
        try:
            cmd = ssm.send_command(InstanceIds=[node], DocumentName="AWS-RunShellScript",
                                   Parameters={"commands": ["sleep 30"]})["Command"]["CommandId"]
            deadline = time.time() + 10
            while ssm.get_command_invocation(CommandId=cmd, InstanceId=node)["Status"] != "InProgress":
                assert time.time() < deadline
                time.sleep(0.05)
            ssm.cancel_command(CommandId=cmd)
            deadline = time.time() + 20
            while True:
                inv = ssm.get_command_invocation(CommandId=cmd, InstanceId=node)
                if inv["Status"] not in ("InProgress", "Cancelling", "Pending"):
                    break
                assert time.time() < deadline
                time.sleep(0.1)
            assert inv["Status"] == "Cancelled"
            waiter = ssm.get_waiter("command_executed")
            ok = ssm.send_command(InstanceIds=[node], DocumentName="AWS-RunShellScript",
                                  Parameters={"commands": ["echo done"]})["Command"]["CommandId"]
            waiter.wait(CommandId=ok, InstanceId=node, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
            assert ssm.get_command_invocation(CommandId=ok, InstanceId=node)["StandardOutputContent"] == "done\n"
            info = json.loads(json.dumps(ssm.describe_instance_information()["InstanceInformationList"], default=str))
            assert info[0]["PingStatus"] == "Online" and info[0]["IamRole"] == "cli-node"
        finally:
            agent.kill()
            agent.wait()
