//! Automation runbooks end to end, with real `casement agent` processes: a window's
//! AUTOMATION task running a runbook on tagged nodes (aws:runCommand, aws:branch on its
//! output, aws:sleep), a failing command under onFailure Abort and Continue, and a
//! server killed mid-runbook that resumes without running any step twice (SQLite, and
//! PostgreSQL with another server taking over).

use std::time::{Duration, Instant};

use aws_sdk_ssm::types::{
    DocumentFormat, DocumentType, MaintenanceWindowAutomationParameters, MaintenanceWindowResourceType,
    MaintenanceWindowTaskInvocationParameters, MaintenanceWindowTaskType, ResourceTypeForTagging, Tag, Target,
};
use serde_json::Value;

use crate::common::{at_in, create_window, first_task_invocations, wait_for_executions, Server};
use crate::nodes::{activation, fleet, Agent};
use crate::run_command::final_invocation;

/// Run a command on the node the execution is for, branch on what it printed, then
/// sleep a little.
const ON_NODE: &str = r#"
schemaVersion: "0.3"
parameters:
  InstanceId:
    type: String
  Command:
    type: String
    default: echo ok from $(hostname)
mainSteps:
  - name: run
    action: aws:runCommand
    inputs:
      DocumentName: AWS-RunShellScript
      InstanceIds: ["{{ InstanceId }}"]
      Parameters:
        commands: ["{{ Command }}"]
  - name: check
    action: aws:branch
    inputs:
      Choices:
        - NextStep: rest
          Variable: "{{ run.Output }}"
          Contains: ok from
      Default: odd
  - name: odd
    action: aws:pause
    isEnd: true
    inputs: {}
  - name: rest
    action: aws:sleep
    inputs:
      Duration: PT1S
outputs: [run.CommandId, run.Output]
"#;

async fn create_runbook(c: &aws_sdk_ssm::Client, name: &str, content: &str) {
    c.create_document()
        .name(name)
        .content(content)
        .document_type(DocumentType::Automation)
        .document_format(DocumentFormat::Yaml)
        .send()
        .await
        .expect("create runbook");
}

/// Poll GetAutomationExecution until it ends.
async fn finished(c: &aws_sdk_ssm::Client, id: &str, secs: u64) -> aws_sdk_ssm::types::AutomationExecution {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let e = c.get_automation_execution().automation_execution_id(id).send().await.expect("get automation");
        let e = e.automation_execution().expect("execution").clone();
        if matches!(
            e.automation_execution_status().map(|s| s.as_str()),
            Some("Success" | "Failed" | "TimedOut" | "Cancelled")
        ) {
            return e;
        }
        assert!(Instant::now() < deadline, "automation did not finish: {e:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn step<'a>(e: &'a aws_sdk_ssm::types::AutomationExecution, name: &str) -> &'a aws_sdk_ssm::types::StepExecution {
    e.step_executions().iter().find(|s| s.step_name() == Some(name)).unwrap_or_else(|| panic!("no step {name}"))
}

fn status(s: &aws_sdk_ssm::types::StepExecution) -> &str {
    s.step_status().map(|s| s.as_str()).unwrap_or_default()
}

#[tokio::test]
async fn a_window_runs_a_runbook_on_two_tagged_nodes() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (_agents, ids) = fleet(&s, 2, tmp.path()).await;
    for id in &ids {
        c.add_tags_to_resource()
            .resource_type(ResourceTypeForTagging::ManagedInstance)
            .resource_id(id)
            .tags(Tag::builder().key("Role").value("web").build().unwrap())
            .send()
            .await
            .unwrap();
    }
    create_runbook(&c, "check-node", ON_NODE).await;
    let window = create_window(&c, "runbook-window", &at_in(3), false).await;
    let target = c
        .register_target_with_maintenance_window()
        .window_id(&window)
        .resource_type(MaintenanceWindowResourceType::Instance)
        .targets(Target::builder().key("tag:Role").values("web").build())
        .send()
        .await
        .unwrap()
        .window_target_id()
        .unwrap()
        .to_owned();
    c.register_task_with_maintenance_window()
        .window_id(&window)
        .task_type(MaintenanceWindowTaskType::Automation)
        .task_arn("check-node")
        .targets(Target::builder().key("WindowTargetIds").values(&target).build())
        .max_concurrency("1")
        .max_errors("0")
        .task_invocation_parameters(
            MaintenanceWindowTaskInvocationParameters::builder()
                .automation(
                    MaintenanceWindowAutomationParameters::builder()
                        .document_version("$LATEST")
                        .parameters("InstanceId", vec!["{{RESOURCE_ID}}".into()])
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let execs = wait_for_executions(&c, &window, 1, 60).await;
    assert_eq!(execs[0].status().unwrap().as_str(), "SUCCESS", "{execs:?}");
    let invs = first_task_invocations(&c, execs[0].window_execution_id().unwrap()).await;
    assert_eq!(invs.len(), 2);
    let mut seen = Vec::new();
    for inv in &invs {
        assert_eq!(inv.status().unwrap().as_str(), "SUCCESS", "{inv:?}");
        // The invocation's ExecutionId is the automation execution.
        let automation = inv.execution_id().unwrap();
        let e = c.get_automation_execution().automation_execution_id(automation).send().await.unwrap();
        let e = e.automation_execution().unwrap();
        assert_eq!(e.automation_execution_status().unwrap().as_str(), "Success");
        let node = e.parameters().unwrap()["InstanceId"][0].clone();
        assert!(e.executed_by().unwrap().contains(":assumed-role/"), "{e:?}");
        let run = step(e, "run");
        assert_eq!(status(run), "Success");
        let inputs: Value = serde_json::from_str(&run.inputs().unwrap()["InstanceIds"]).unwrap();
        assert_eq!(inputs, serde_json::json!([node]));
        let command = run.outputs().unwrap()["CommandId"][0].clone();
        assert_eq!(run.outputs().unwrap()["Status"], ["Success"]);
        assert_eq!(
            (status(step(e, "check")), status(step(e, "odd")), status(step(e, "rest"))),
            ("Success", "Pending", "Success")
        );
        // The command the step ran is an ordinary Run Command command, with the output.
        let out = final_invocation(&c, &command, &node, 5).await;
        assert!(out.standard_output_content().unwrap().starts_with("ok from "), "{out:?}");
        assert_eq!(e.outputs().unwrap()["run.Output"][0], out.standard_output_content().unwrap());
        seen.push(node);
    }
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn a_failing_command_step_aborts_or_continues() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (_agents, ids) = fleet(&s, 1, tmp.path()).await;
    create_runbook(&c, "check-node", ON_NODE).await;
    create_runbook(
        &c,
        "check-node-continue",
        &ON_NODE.replace("    action: aws:runCommand\n", "    action: aws:runCommand\n    onFailure: Continue\n"),
    )
    .await;

    let start = |doc: &str| {
        c.start_automation_execution()
            .document_name(doc)
            .parameters("InstanceId", vec![ids[0].clone()])
            .parameters("Command", vec!["echo failing; exit 3".into()])
    };
    let aborted = start("check-node").send().await.unwrap();
    let e = finished(&c, aborted.automation_execution_id().unwrap(), 30).await;
    assert_eq!(e.automation_execution_status().unwrap().as_str(), "Failed");
    let run = step(&e, "run");
    assert_eq!(status(run), "Failed");
    let message = run.failure_message().unwrap();
    assert!(message.starts_with("Step fails when it is verifying the command has completed. Command "), "{message}");
    assert!(message.contains("Status=[Failed], ResponseCode=[3], Output=[failing\n]"), "{message}");
    assert_eq!(e.failure_message(), Some(message));
    assert_eq!((status(step(&e, "check")), status(step(&e, "rest"))), ("Pending", "Pending"));

    // With onFailure Continue the runbook goes on; the branch sees no "ok from" and ends
    // at the pause step, which waits for a Resume.
    let continued = start("check-node-continue").send().await.unwrap();
    let id = continued.automation_execution_id().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = c.get_automation_execution().automation_execution_id(&id).send().await.unwrap();
        let e = e.automation_execution().unwrap();
        if e.current_step_name() == Some("odd") && e.automation_execution_status().unwrap().as_str() == "Waiting" {
            assert_eq!(status(step(e, "run")), "Failed");
            break;
        }
        assert!(Instant::now() < deadline, "{e:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.send_automation_signal()
        .automation_execution_id(&id)
        .signal_type(aws_sdk_ssm::types::SignalType::Resume)
        .send()
        .await
        .unwrap();
    let e = finished(&c, &id, 30).await;
    // The failed step was not critical (onFailure Continue): the execution succeeds.
    assert_eq!(e.automation_execution_status().unwrap().as_str(), "Success", "{e:?}");
    assert_eq!(status(step(&e, "rest")), "Pending");
}

/// A runbook whose two command steps each append a line to a file on the node: after
/// any number of server kills, the file holds exactly two lines.
fn counting_runbook(marker: &std::path::Path) -> String {
    format!(
        r#"
schemaVersion: "0.3"
parameters:
  InstanceId: {{type: String}}
mainSteps:
  - name: first
    action: aws:runCommand
    inputs:
      DocumentName: AWS-RunShellScript
      InstanceIds: ["{{{{ InstanceId }}}}"]
      Parameters:
        commands: ["echo first >> {m}", "sleep 2"]
  - name: nap
    action: aws:sleep
    inputs: {{Duration: PT3S}}
  - name: second
    action: aws:runCommand
    inputs:
      DocumentName: AWS-RunShellScript
      InstanceIds: ["{{{{ InstanceId }}}}"]
      Parameters:
        commands: ["echo second >> {m}"]
"#,
        m = marker.display()
    )
}

/// Create the counting runbook and start it on `node`.
async fn start_counting(c: &aws_sdk_ssm::Client, marker: &std::path::Path, node: &str) -> String {
    create_runbook(c, "counting", &counting_runbook(marker)).await;
    let started =
        c.start_automation_execution().document_name("counting").parameters("InstanceId", vec![node.into()]).send();
    started.await.unwrap().automation_execution_id().unwrap().to_owned()
}

async fn wait_for_step(c: &aws_sdk_ssm::Client, id: &str, name: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = c.get_automation_execution().automation_execution_id(id).send().await.unwrap();
        if status(step(e.automation_execution().unwrap(), name)) == want {
            return;
        }
        assert!(Instant::now() < deadline, "step {name} never became {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn a_killed_server_resumes_a_runbook_without_repeating_a_step() {
    let data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let s = Server::spawn(data.path(), &["--listen", &listen]);
    let c = s.sdk();
    let (code_, act) = activation(&c, 1).await;
    let agent = Agent::start(&s.endpoint, &code_, &act, &tmp.path().join("node"));
    let node = agent.instance_id();
    let marker = tmp.path().join("marker");
    let id = start_counting(&c, &marker, &node).await;

    // kill -9 while the first command runs on the node…
    wait_for_step(&c, &id, "first", "InProgress").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.kill();
    let s = Server::spawn(data.path(), &["--listen", &listen]);
    let c = s.sdk();
    // …and again in the middle of the sleep.
    wait_for_step(&c, &id, "nap", "InProgress").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.kill();
    let s = Server::spawn(data.path(), &["--listen", &listen]);
    let c = s.sdk();
    let e = finished(&c, &id, 60).await;
    assert_eq!(e.automation_execution_status().unwrap().as_str(), "Success", "{e:?}");
    let nap = step(&e, "nap");
    let slept = nap.execution_end_time().unwrap().secs() - nap.execution_start_time().unwrap().secs();
    assert!((2..=6).contains(&slept), "the sleep slept its remainder, not again from the start: {slept} s");
    let lines = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(lines, "first\nsecond\n", "each command step ran exactly once");
    let commands = c.list_commands().instance_id(&node).send().await.unwrap();
    assert_eq!(commands.commands().len(), 2);
}

#[tokio::test]
async fn another_server_takes_over_a_runbook_on_postgresql() {
    let Some(db) = crate::postgres::fresh_database() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped");
        return;
    };
    let (dir_a, dir_b, tmp) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lease = ["--database-url", db.as_str(), "--execution-lease-seconds", "2"];
    let a = Server::spawn(dir_a.path(), &lease);
    let b = Server::spawn(dir_b.path(), &lease);
    let (ca, cb) = (a.sdk(), b.sdk());
    let (code_, act) = activation(&cb, 1).await;
    let agent = Agent::start(&b.endpoint, &code_, &act, &tmp.path().join("node"));
    let node = agent.instance_id();
    let marker = tmp.path().join("marker");
    let id = start_counting(&ca, &marker, &node).await;
    // Server a drives the runbook; it dies during the sleep and b takes over after the
    // lease.
    wait_for_step(&cb, &id, "nap", "InProgress").await;
    a.kill();
    let e = finished(&cb, &id, 60).await;
    assert_eq!(e.automation_execution_status().unwrap().as_str(), "Success", "{e:?}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "first\nsecond\n");
}

/// aws:invokeLambdaFunction and aws:executeStateMachine reach the same endpoints as the
/// LAMBDA and STEP_FUNCTIONS tasks (here a local stand-in for both services).
#[tokio::test]
async fn runbook_steps_call_lambda_and_step_functions() {
    let fake = crate::fake_aws::FakeAws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = crate::engine_e2e::spawn(&fake, &dir.path().join("data"), &dir.path().join("events.jsonl"));
    let c = s.sdk();
    create_runbook(
        &c,
        "outside",
        r#"
schemaVersion: "0.3"
parameters:
  Word: {type: String, default: hello}
mainSteps:
  - name: invoke
    action: aws:invokeLambdaFunction
    inputs:
      FunctionName: arn:aws:lambda:us-east-1:111122223333:function:echo
      InputPayload: {word: "{{ Word }}"}
    outputs:
      - {Name: Echoed, Selector: $.Payload.echo, Type: String}
  - name: machine
    action: aws:executeStateMachine
    inputs:
      stateMachineArn: arn:aws:states:us-east-1:111122223333:stateMachine:sm
      input: '{"word": "{{ Word }}"}'
  - name: failing
    action: aws:invokeLambdaFunction
    inputs:
      FunctionName: echo
      Payload: '{"please": "fail"}'
"#,
    )
    .await;
    let id = c.start_automation_execution().document_name("outside").send().await.unwrap();
    let e = finished(&c, id.automation_execution_id().unwrap(), 30).await;
    let invoke = step(&e, "invoke");
    assert_eq!(status(invoke), "Success", "{e:?}");
    assert_eq!(invoke.outputs().unwrap()["StatusCode"], ["200"]);
    assert_eq!(invoke.outputs().unwrap()["Echoed"], [r#"{"word":"hello"}"#]);
    let machine = step(&e, "machine");
    assert_eq!(status(machine), "Success", "{e:?}");
    assert_eq!(machine.outputs().unwrap()["status"], ["SUCCEEDED"]);
    let failing = step(&e, "failing");
    assert_eq!(status(failing), "Failed");
    assert!(failing.failure_message().unwrap().contains("The function returned an error (Unhandled)"), "{e:?}");
    assert_eq!(e.automation_execution_status().unwrap().as_str(), "Failed");
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.lambda.len(), 2, "each Lambda step invoked its function once");
    assert_eq!(seen.sfn_starts.len(), 1);
    assert_eq!(seen.sfn_starts[0]["input"], r#"{"word": "hello"}"#);
}
