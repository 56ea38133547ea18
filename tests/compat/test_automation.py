"""Automation runbooks through boto3: start, follow, stop, pause, approve, branch, child
executions, unsupported actions, and AWS's errors."""

import json
import time

import botocore.exceptions
import pytest

from conftest import AKID

CHOOSE = """
schemaVersion: '0.3'
description: Sleep long or short
parameters:
  Mode:
    type: String
    allowedValues: [fast, slow]
    default: fast
  Label:
    type: String
    default: run
mainSteps:
  - name: choose
    action: aws:branch
    inputs:
      Choices:
        - NextStep: quick
          Variable: '{{ Mode }}'
          StringEquals: fast
      Default: slowly
  - name: slowly
    action: aws:sleep
    isEnd: true
    inputs:
      Duration: PT2S
  - name: quick
    action: aws:sleep
    inputs:
      Duration: PT0S
  - name: after
    action: aws:sleep
    inputs:
      Duration: PT0S
outputs: [choose.Nothing]
"""


def code(exc):
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def wait_status(ssm, id, statuses, timeout=20):
    deadline = time.time() + timeout
    while True:
        e = ssm.get_automation_execution(AutomationExecutionId=id)["AutomationExecution"]
        if e["AutomationExecutionStatus"] in statuses:
            return e
        assert time.time() < deadline, e
        time.sleep(0.05)


def create(ssm, name, content):
    ssm.create_document(Name=name, Content=content, DocumentType="Automation", DocumentFormat="YAML")


def steps(e):
    return {s["StepName"]: s for s in e["StepExecutions"]}


def test_a_branch_picks_its_way_and_unrun_steps_stay_pending(ssm):
    create(ssm, "choose", CHOOSE)
    fast = ssm.start_automation_execution(DocumentName="choose")["AutomationExecutionId"]
    e = wait_status(ssm, fast, {"Success", "Failed"})
    assert e["AutomationExecutionStatus"] == "Success", e
    s = steps(e)
    assert [x["StepName"] for x in e["StepExecutions"]] == ["choose", "slowly", "quick", "after"]
    assert (s["choose"]["StepStatus"], s["slowly"]["StepStatus"], s["quick"]["StepStatus"]) == \
        ("Success", "Pending", "Success")
    assert s["after"]["StepStatus"] == "Success"
    assert json.loads(s["quick"]["Inputs"]["Duration"]) == "PT0S"
    assert e["Parameters"] == {"Mode": ["fast"], "Label": ["run"]}
    assert e["Mode"] == "Auto" and e["DocumentName"] == "choose" and e["DocumentVersion"] == "1"
    assert e["Outputs"] == {"choose.Nothing": ["No output available yet because the step is not successfully executed"]}
    assert e["ExecutedBy"].endswith(":root")

    slow = ssm.start_automation_execution(DocumentName="choose", Parameters={"Mode": ["slow"]})["AutomationExecutionId"]
    running = wait_status(ssm, slow, {"InProgress"})
    deadline = time.time() + 10
    while running.get("CurrentStepName") != "slowly":
        assert time.time() < deadline, running
        running = ssm.get_automation_execution(AutomationExecutionId=slow)["AutomationExecution"]
    assert running["CurrentAction"] == "aws:sleep"
    e = wait_status(ssm, slow, {"Success", "Failed"})
    s = steps(e)
    assert (s["slowly"]["StepStatus"], s["quick"]["StepStatus"], s["after"]["StepStatus"]) == \
        ("Success", "Pending", "Pending")
    assert (e["ExecutionEndTime"] - s["slowly"]["ExecutionStartTime"]).total_seconds() >= 1.9

    listed = ssm.describe_automation_executions(Filters=[{"Key": "DocumentNamePrefix", "Values": ["cho"]}])
    ids = [m["AutomationExecutionId"] for m in listed["AutomationExecutionMetadataList"]]
    assert ids == [slow, fast]
    assert listed["AutomationExecutionMetadataList"][0]["AutomationType"] == "Local"
    only_slow = ssm.describe_automation_executions(Filters=[{"Key": "ExecutionId", "Values": [slow]}])
    assert [m["AutomationExecutionId"] for m in only_slow["AutomationExecutionMetadataList"]] == [slow]
    none = ssm.describe_automation_executions(Filters=[{"Key": "ExecutionStatus", "Values": ["Failed"]}])
    assert none["AutomationExecutionMetadataList"] == []
    page = ssm.describe_automation_executions(MaxResults=1)
    assert len(page["AutomationExecutionMetadataList"]) == 1 and "NextToken" in page

    rev = ssm.describe_automation_step_executions(AutomationExecutionId=slow, ReverseOrder=True)["StepExecutions"]
    assert [x["StepName"] for x in rev] == ["after", "quick", "slowly", "choose"]
    only = ssm.describe_automation_step_executions(
        AutomationExecutionId=slow, Filters=[{"Key": "StepExecutionStatus", "Values": ["PENDING"]}])
    assert [x["StepName"] for x in only["StepExecutions"]] == ["quick", "after"]


def test_start_errors(ssm):
    create(ssm, "choose-errors", CHOOSE)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.start_automation_execution(DocumentName="choose-errors", Parameters={"Mode": ["medium"]})
    assert code(e) == ("InvalidAutomationExecutionParametersException",
                       'Parameter "Mode" has value "medium" not found in [fast, slow].')
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.start_automation_execution(DocumentName="no-such-runbook")
    assert code(e)[0] == "AutomationDefinitionNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.start_automation_execution(DocumentName="choose-errors", DocumentVersion="9")
    assert code(e)[0] == "AutomationDefinitionVersionNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.start_automation_execution(DocumentName="AWS-RunShellScript")
    assert code(e)[0] == "AutomationDefinitionNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.get_automation_execution(AutomationExecutionId="00000000-0000-0000-0000-000000000000")
    assert code(e)[0] == "AutomationExecutionNotFoundException"
    # A ClientToken makes a start idempotent.
    token = "6f5bd8a8-0d3c-4b66-9f8e-2a1b2c3d4e5f"
    a = ssm.start_automation_execution(DocumentName="choose-errors", ClientToken=token)["AutomationExecutionId"]
    b = ssm.start_automation_execution(DocumentName="choose-errors", ClientToken=token)["AutomationExecutionId"]
    assert a == b
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.start_automation_execution(DocumentName="choose-errors", ClientToken=token, Parameters={"Mode": ["slow"]})
    assert code(e)[0] == "IdempotentParameterMismatch"


def test_stop_mid_sleep(ssm):
    create(ssm, "long-sleep", """
schemaVersion: '0.3'
mainSteps:
  - {name: nap, action: aws:sleep, inputs: {Duration: PT10M}}
  - {name: never, action: aws:sleep, inputs: {Duration: PT0S}}
""")
    id = ssm.start_automation_execution(DocumentName="long-sleep")["AutomationExecutionId"]
    e = wait_status(ssm, id, {"InProgress"})
    deadline = time.time() + 10
    while steps(e)["nap"]["StepStatus"] != "InProgress":
        assert time.time() < deadline, e
        e = ssm.get_automation_execution(AutomationExecutionId=id)["AutomationExecution"]
    ssm.stop_automation_execution(AutomationExecutionId=id)
    e = wait_status(ssm, id, {"Cancelled"})
    s = steps(e)
    assert s["nap"]["StepStatus"] == "Cancelled" and "ExecutionEndTime" in s["nap"]
    assert s["never"]["StepStatus"] == "Pending"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ssm.stop_automation_execution(AutomationExecutionId=id)
    assert code(err)[0] == "InvalidAutomationStatusUpdateException"


def test_pause_resume_and_approvals(ssm):
    create(ssm, "gated", f"""
schemaVersion: '0.3'
mainSteps:
  - {{name: hold, action: aws:pause, inputs: {{}}}}
  - name: ask
    action: aws:approve
    inputs:
      Approvers: [{AKID}]
      Message: go?
  - {{name: done, action: aws:sleep, inputs: {{Duration: PT0S}}}}
""")
    id = ssm.start_automation_execution(DocumentName="gated")["AutomationExecutionId"]
    e = wait_status(ssm, id, {"Waiting"})
    assert e["CurrentStepName"] == "hold"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ssm.send_automation_signal(AutomationExecutionId=id, SignalType="Approve")
    assert code(err)[0] == "InvalidAutomationSignalException"
    ssm.send_automation_signal(AutomationExecutionId=id, SignalType="Resume")
    deadline = time.time() + 10
    while e.get("CurrentStepName") != "ask" or e["AutomationExecutionStatus"] != "Waiting":
        assert time.time() < deadline, e
        e = ssm.get_automation_execution(AutomationExecutionId=id)["AutomationExecution"]
    ssm.send_automation_signal(AutomationExecutionId=id, SignalType="Approve",
                               Payload={"Comment": ["looks good"]})
    e = wait_status(ssm, id, {"Success", "Failed"})
    assert e["AutomationExecutionStatus"] == "Success", e
    ask = steps(e)["ask"]
    assert ask["Outputs"]["ApprovalStatus"] == ["Approved"]
    assert json.loads(ask["Outputs"]["ApproverDecisions"][0])["Approver"] == AKID

    rejected = ssm.start_automation_execution(DocumentName="gated")["AutomationExecutionId"]
    wait_status(ssm, rejected, {"Waiting"})
    ssm.send_automation_signal(AutomationExecutionId=rejected, SignalType="Resume")
    e = ssm.get_automation_execution(AutomationExecutionId=rejected)["AutomationExecution"]
    deadline = time.time() + 10
    while e.get("CurrentStepName") != "ask" or e["AutomationExecutionStatus"] != "Waiting":
        assert time.time() < deadline, e
        e = ssm.get_automation_execution(AutomationExecutionId=rejected)["AutomationExecution"]
    ssm.send_automation_signal(AutomationExecutionId=rejected, SignalType="Reject")
    e = wait_status(ssm, rejected, {"Success", "Failed"})
    assert e["AutomationExecutionStatus"] == "Failed"
    assert steps(e)["ask"]["StepStatus"] == "Failed" and steps(e)["done"]["StepStatus"] == "Pending"
    assert AKID in e["FailureMessage"]


def test_unsupported_action_fails_its_step_and_continue_goes_on(ssm):
    create(ssm, "needs-ec2", """
schemaVersion: '0.3'
mainSteps:
  - name: image
    action: aws:createImage
    onFailure: Continue
    inputs: {InstanceId: i-0123456789abcdef0, ImageName: x}
  - {name: later, action: aws:sleep, inputs: {Duration: PT0S}}
""")
    id = ssm.start_automation_execution(DocumentName="needs-ec2")["AutomationExecutionId"]
    e = wait_status(ssm, id, {"Success", "Failed"})
    s = steps(e)
    assert s["image"]["StepStatus"] == "Failed"
    assert s["image"]["FailureMessage"].startswith(
        "Step fails when it is validating and resolving the step inputs. The action aws:createImage is not supported")
    assert s["image"]["FailureDetails"]["FailureStage"] == "InputValidation"
    assert s["later"]["StepStatus"] == "Success"
    assert e["AutomationExecutionStatus"] == "Success"


def test_a_child_automation_reports_to_its_parent(ssm):
    create(ssm, "child-book", """
schemaVersion: '0.3'
parameters:
  Wait: {type: String}
mainSteps:
  - {name: nap, action: aws:sleep, inputs: {Duration: '{{ Wait }}'}}
""")
    create(ssm, "parent-book", """
schemaVersion: '0.3'
mainSteps:
  - name: child
    action: aws:executeAutomation
    inputs:
      DocumentName: child-book
      RuntimeParameters:
        Wait: [PT0S]
outputs: [child.ExecutionId]
""")
    parent = ssm.start_automation_execution(DocumentName="parent-book")["AutomationExecutionId"]
    e = wait_status(ssm, parent, {"Success", "Failed"})
    assert e["AutomationExecutionStatus"] == "Success", e
    child = e["Outputs"]["child.ExecutionId"][0]
    c = ssm.get_automation_execution(AutomationExecutionId=child)["AutomationExecution"]
    assert c["ParentAutomationExecutionId"] == parent and c["AutomationExecutionStatus"] == "Success"
    assert c["Parameters"] == {"Wait": ["PT0S"]}
    kids = ssm.describe_automation_executions(Filters=[{"Key": "ParentExecutionId", "Values": [parent]}])
    assert [k["AutomationExecutionId"] for k in kids["AutomationExecutionMetadataList"]] == [child]


def test_executions_beyond_the_concurrency_limit_wait_pending():
    from conftest import Server
    s = Server("--automation-concurrency", "1")
    try:
        ssm = s.client()
        create(ssm, "hold-on", "schemaVersion: '0.3'\nmainSteps:\n  - {name: hold, action: aws:pause, inputs: {}}\n")
        first = ssm.start_automation_execution(DocumentName="hold-on")["AutomationExecutionId"]
        wait_status(ssm, first, {"Waiting"})
        second = ssm.start_automation_execution(DocumentName="hold-on")["AutomationExecutionId"]
        time.sleep(1.5)
        assert ssm.get_automation_execution(AutomationExecutionId=second)["AutomationExecution"][
            "AutomationExecutionStatus"] == "Pending"
        ssm.send_automation_signal(AutomationExecutionId=first, SignalType="Resume")
        wait_status(ssm, first, {"Success"})
        wait_status(ssm, second, {"Waiting"})
        ssm.stop_automation_execution(AutomationExecutionId=second)
        wait_status(ssm, second, {"Cancelled"})
    finally:
        s.stop()


def test_a_step_past_its_timeout_times_out(ssm):
    create(ssm, "impatient", """
schemaVersion: '0.3'
mainSteps:
  - {name: hold, action: aws:pause, timeoutSeconds: 1, inputs: {}}
  - {name: never, action: aws:sleep, inputs: {Duration: PT0S}}
""")
    id = ssm.start_automation_execution(DocumentName="impatient")["AutomationExecutionId"]
    e = wait_status(ssm, id, {"Success", "Failed", "TimedOut"})
    assert e["AutomationExecutionStatus"] == "TimedOut", e
    s = steps(e)
    assert s["hold"]["StepStatus"] == "TimedOut" and s["never"]["StepStatus"] == "Pending"
    assert (s["hold"]["ExecutionEndTime"] - s["hold"]["ExecutionStartTime"]).total_seconds() >= 1


def test_executions_carry_tags(ssm):
    create(ssm, "tagged-book", "schemaVersion: '0.3'\nmainSteps:\n  - {name: s, action: aws:sleep, inputs: {Duration: PT0S}}\n")
    id = ssm.start_automation_execution(DocumentName="tagged-book", Tags=[{"Key": "team", "Value": "ops"}])[
        "AutomationExecutionId"]
    assert ssm.list_tags_for_resource(ResourceType="Automation", ResourceId=id)["TagList"] == \
        [{"Key": "team", "Value": "ops"}]
    found = ssm.describe_automation_executions(Filters=[{"Key": "TagKey", "Values": ["team"]}])
    assert [m["AutomationExecutionId"] for m in found["AutomationExecutionMetadataList"]] == [id]


def test_interactive_mode_waits_for_each_step_to_be_started(ssm):
    create(ssm, "by-hand", """
schemaVersion: '0.3'
mainSteps:
  - {name: one, action: aws:sleep, inputs: {Duration: PT0S}}
  - {name: two, action: aws:sleep, inputs: {Duration: PT0S}}
""")
    id = ssm.start_automation_execution(DocumentName="by-hand", Mode="Interactive")["AutomationExecutionId"]
    e = wait_status(ssm, id, {"Waiting"})
    assert e["Mode"] == "Interactive" and steps(e)["one"]["StepStatus"] == "Pending"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ssm.send_automation_signal(AutomationExecutionId=id, SignalType="StartStep", Payload={"StepName": ["two"]})
    assert code(err)[0] == "InvalidAutomationSignalException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ssm.send_automation_signal(AutomationExecutionId=id, SignalType="StartStep", Payload={"StepName": ["three"]})
    assert code(err)[0] == "AutomationStepNotFoundException"
    ssm.send_automation_signal(AutomationExecutionId=id, SignalType="StartStep", Payload={"StepName": ["one"]})
    deadline = time.time() + 10
    while steps(e)["one"]["StepStatus"] != "Success" or e["AutomationExecutionStatus"] != "Waiting":
        assert time.time() < deadline, e
        e = ssm.get_automation_execution(AutomationExecutionId=id)["AutomationExecution"]
    assert steps(e)["two"]["StepStatus"] == "Pending"
    ssm.send_automation_signal(AutomationExecutionId=id, SignalType="StartStep", Payload={"StepName": ["two"]})
    e = wait_status(ssm, id, {"Success"})


def test_ssm_api_steps_call_this_server_as_the_account(ssm):
    ssm.create_document(Name="probe-target", Content=CHOOSE, DocumentType="Automation", DocumentFormat="YAML")
    create(ssm, "api-steps", """
schemaVersion: '0.3'
parameters:
  Name: {type: String, default: probe-target}
mainSteps:
  - name: describe
    action: aws:executeAwsApi
    inputs:
      Service: ssm
      Api: DescribeDocument
      Name: '{{ Name }}'
    outputs:
      - {Name: Status, Selector: $.Document.Status, Type: String}
      - {Name: Version, Selector: $.Document.LatestVersion, Type: String}
  - name: ready
    action: aws:waitForAwsResourceProperty
    inputs:
      Service: ssm
      Api: get_document
      Name: '{{ Name }}'
      PropertySelector: $.Status
      DesiredValues: [Active]
  - name: check
    action: aws:assertAwsResourceProperty
    onFailure: Continue
    inputs:
      Service: ssm
      Api: DescribeDocument
      Name: '{{ Name }}'
      PropertySelector: $.Document.DocumentType
      DesiredValues: [Command]
  - name: missing
    action: aws:executeAwsApi
    onFailure: Continue
    inputs: {Service: ssm, Api: GetDocument, Name: no-such-document}
  - name: elsewhere
    action: aws:executeAwsApi
    onFailure: Continue
    inputs: {Service: ec2, Api: DescribeInstances}
outputs: [describe.Status]
""")
    id = ssm.start_automation_execution(DocumentName="api-steps")["AutomationExecutionId"]
    e = wait_status(ssm, id, {"Success", "Failed"})
    s = steps(e)
    assert s["describe"]["Outputs"] == {"Status": ["Active"], "Version": ["1"]}, s["describe"]
    assert e["Outputs"] == {"describe.Status": ["Active"]}
    assert s["ready"]["StepStatus"] == "Success"
    assert s["check"]["StepStatus"] == "Failed"
    assert s["check"]["FailureMessage"] == \
        "Property value 'Automation' from the API output is not in the desired values. Desired values: ['Command'].."
    assert s["missing"]["FailureMessage"] == (
        "Step fails when it is Execute/Invoke action. An error occurred (InvalidDocument) when calling the GetDocument "
        "operation: The specified document does not exist.. Please refer to Automation Service Troubleshooting Guide "
        "for more diagnosis details.")
    assert "Service ec2 cannot be called here" in s["elsewhere"]["FailureMessage"]


def test_a_stop_runs_the_steps_on_cancel_target(ssm):
    create(ssm, "with-cleanup", """
schemaVersion: '0.3'
mainSteps:
  - {name: work, action: aws:sleep, onCancel: 'step:cleanup', inputs: {Duration: PT10M}}
  - {name: more, action: aws:sleep, inputs: {Duration: PT0S}}
  - {name: cleanup, action: aws:sleep, inputs: {Duration: PT1S}}
""")
    id = ssm.start_automation_execution(DocumentName="with-cleanup")["AutomationExecutionId"]
    e = wait_status(ssm, id, {"InProgress"})
    deadline = time.time() + 10
    while steps(e)["work"]["StepStatus"] != "InProgress":
        assert time.time() < deadline, e
        e = ssm.get_automation_execution(AutomationExecutionId=id)["AutomationExecution"]
    ssm.stop_automation_execution(AutomationExecutionId=id)
    e = wait_status(ssm, id, {"Cancelling"})
    e = wait_status(ssm, id, {"Cancelled"})
    s = steps(e)
    assert (s["work"]["StepStatus"], s["more"]["StepStatus"], s["cleanup"]["StepStatus"]) == \
        ("Cancelled", "Pending", "Success")


def test_loops_for_each_and_do_while(ssm):
    create(ssm, "loops", """
schemaVersion: '0.3'
parameters:
  Items: {type: StringList, default: [AWS-RunShellScript, AWS-RunPowerShellScript]}
mainSteps:
  - name: each
    action: aws:loop
    inputs:
      Iterators: '{{ Items }}'
      Steps:
        - name: look
          action: aws:executeAwsApi
          inputs: {Service: ssm, Api: GetDocument, Name: '{{ each.CurrentIteratorValue }}'}
          outputs:
            - {Name: Name, Selector: $.Name, Type: String}
        - {name: rest, action: aws:sleep, inputs: {Duration: PT0S}}
  - name: again
    action: aws:loop
    inputs:
      MaxIterations: 3
      LoopCondition: {Variable: '{{ status.Status }}', StringEquals: Active}
      Steps:
        - name: status
          action: aws:executeAwsApi
          inputs: {Service: ssm, Api: DescribeDocument, Name: AWS-RunShellScript}
          outputs:
            - {Name: Status, Selector: $.Document.Status, Type: String}
  - name: after
    action: aws:sleep
    inputs: {Duration: '{{ look.Name }}'}
    onFailure: Continue
""")
    id = ssm.start_automation_execution(DocumentName="loops")["AutomationExecutionId"]
    e = wait_status(ssm, id, {"Success", "Failed"})
    assert e["AutomationExecutionStatus"] == "Success", e
    names = [(s["StepName"], s.get("ParentStepDetails", {}).get("Iteration")) for s in e["StepExecutions"]]
    assert names == [("each", None), ("look", 1), ("rest", 1), ("look", 2), ("rest", 2),
                     ("again", None), ("status", 1), ("status", 2), ("status", 3), ("after", None)], names
    looks = [s for s in e["StepExecutions"] if s["StepName"] == "look"]
    assert [s["Outputs"]["Name"] for s in looks] == [["AWS-RunShellScript"], ["AWS-RunPowerShellScript"]]
    assert [s["ParentStepDetails"]["IteratorValue"] for s in looks] == ["AWS-RunShellScript", "AWS-RunPowerShellScript"]
    each = steps(e)["each"]
    assert each["Outputs"]["CurrentIteration"] == ["2"]
    assert steps(e)["again"]["Outputs"]["CurrentIteration"] == ["3"]
    # A step after the loop sees its steps' latest outputs.
    assert json.loads(steps(e)["after"]["Inputs"]["Duration"]) == "AWS-RunPowerShellScript"
    inner = ssm.describe_automation_step_executions(
        AutomationExecutionId=id, Filters=[{"Key": "ParentStepExecutionId", "Values": [each["StepExecutionId"]]}])
    assert [s["StepName"] for s in inner["StepExecutions"]] == ["look", "rest", "look", "rest"]


def test_rate_control_runs_one_child_per_target(ssm):
    create(ssm, "per-value", """
schemaVersion: '0.3'
parameters:
  Wait: {type: String}
mainSteps:
  - {name: nap, action: aws:sleep, inputs: {Duration: '{{ Wait }}'}}
""")
    parent = ssm.start_automation_execution(
        DocumentName="per-value", TargetParameterName="Wait", MaxConcurrency="2", MaxErrors="0",
        Targets=[{"Key": "ParameterValues", "Values": ["PT0S", "PT1S", "PT0S"]}])["AutomationExecutionId"]
    e = wait_status(ssm, parent, {"Success", "Failed"})
    assert e["AutomationExecutionStatus"] == "Success", e
    assert e["ResolvedTargets"] == {"ParameterValues": ["PT0S", "PT1S"], "Truncated": False}
    assert e["TargetParameterName"] == "Wait" and e["MaxConcurrency"] == "2"
    kids = ssm.describe_automation_executions(Filters=[{"Key": "ParentExecutionId", "Values": [parent]}])
    kids = kids["AutomationExecutionMetadataList"]
    assert len(kids) == 2 and all(k["AutomationExecutionStatus"] == "Success" for k in kids)
    waits = sorted(ssm.get_automation_execution(AutomationExecutionId=k["AutomationExecutionId"])[
        "AutomationExecution"]["Parameters"]["Wait"][0] for k in kids)
    assert waits == ["PT0S", "PT1S"]

    # MaxErrors 0: the first failure stops the rest.
    failing = ssm.start_automation_execution(
        DocumentName="per-value", TargetParameterName="Wait", MaxConcurrency="1", MaxErrors="0",
        Targets=[{"Key": "ParameterValues", "Values": ["bad", "PT0S", "PT1S"]}])["AutomationExecutionId"]
    e = wait_status(ssm, failing, {"Success", "Failed"})
    assert e["AutomationExecutionStatus"] == "Failed" and e["FailureMessage"] == "1 of 3 targets failed."
    kids = ssm.describe_automation_executions(Filters=[{"Key": "ParentExecutionId", "Values": [failing]}])
    assert len(kids["AutomationExecutionMetadataList"]) == 1

    with pytest.raises(botocore.exceptions.ClientError) as err:
        ssm.start_automation_execution(DocumentName="per-value", TargetParameterName="Nope",
                                       Targets=[{"Key": "ParameterValues", "Values": ["PT0S"]}])
    assert code(err)[0] == "InvalidAutomationExecutionParametersException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ssm.start_automation_execution(DocumentName="per-value", TargetParameterName="Wait",
                                       Targets=[{"Key": "tag:Role", "Values": ["nothing-has-this"]}])
    assert code(err)[0] == "InvalidTarget"
