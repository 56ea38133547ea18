//! Windows really run: a `casement serve` process fires an at() window a few seconds
//! ahead, runs LAMBDA and STEP_FUNCTIONS tasks against local servers speaking those
//! services' wire protocols, and serves the history through the AWS SDK for Rust.

use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_ssm::primitives::Blob;
use aws_sdk_ssm::types::{
    MaintenanceWindowExecutionStatus as Status, MaintenanceWindowLambdaParameters,
    MaintenanceWindowStepFunctionsParameters, MaintenanceWindowTaskInvocationParameters, MaintenanceWindowTaskType,
    Target,
};
use serde_json::Value;

use crate::common::{at_in, code, wait_for_executions, Server, AKID, SECRET};
use crate::fake_aws::FakeAws;

fn target(key: &str, values: &[&str]) -> Target {
    Target::builder().key(key).set_values(Some(values.iter().map(|s| s.to_string()).collect())).build()
}

pub(crate) fn spawn(fake: &FakeAws, dir: &std::path::Path, events_file: &std::path::Path) -> Server {
    spawn_with(fake, dir, events_file, &[])
}

fn spawn_with(fake: &FakeAws, dir: &std::path::Path, events_file: &std::path::Path, args: &[&str]) -> Server {
    let mut env: Vec<(String, String)> = fake.env();
    env.push(("CASEMENT_EVENTS_FILE".into(), events_file.display().to_string()));
    env.push(("CASEMENT_ACCESS_KEY_ID".into(), AKID.into()));
    env.push(("CASEMENT_SECRET_ACCESS_KEY".into(), SECRET.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Server::spawn_with_env(dir, args, &env).0
}

async fn lambda_task(c: &aws_sdk_ssm::Client, window: &str, targets: Vec<Target>, payload: &str) -> String {
    c.register_task_with_maintenance_window()
        .window_id(window)
        .task_type(MaintenanceWindowTaskType::Lambda)
        .task_arn("arn:aws:lambda:us-east-1:111122223333:function:patch")
        .set_targets(Some(targets))
        .priority(0)
        .max_concurrency("2")
        .max_errors("1")
        .task_invocation_parameters(
            MaintenanceWindowTaskInvocationParameters::builder()
                .lambda(
                    MaintenanceWindowLambdaParameters::builder()
                        .payload(Blob::new(payload.as_bytes()))
                        .qualifier("live")
                        .client_context("eyJjdXN0b20iOnt9fQ==")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("register lambda task")
        .window_task_id()
        .unwrap()
        .to_owned()
}

async fn step_functions_task(c: &aws_sdk_ssm::Client, window: &str, priority: i32, input: &str) -> String {
    c.register_task_with_maintenance_window()
        .window_id(window)
        .task_type(MaintenanceWindowTaskType::StepFunctions)
        .task_arn("arn:aws:states:us-east-1:111122223333:stateMachine:sm")
        .priority(priority)
        .task_invocation_parameters(
            MaintenanceWindowTaskInvocationParameters::builder()
                .step_functions(MaintenanceWindowStepFunctionsParameters::builder().input(input).build())
                .build(),
        )
        .send()
        .await
        .expect("register step functions task")
        .window_task_id()
        .unwrap()
        .to_owned()
}

async fn window(c: &aws_sdk_ssm::Client, name: &str, secs_ahead: i64) -> String {
    c.create_maintenance_window()
        .name(name)
        .schedule(at_in(secs_ahead))
        .duration(2)
        .cutoff(1)
        .allow_unassociated_targets(true)
        .send()
        .await
        .expect("create window")
        .window_id()
        .unwrap()
        .to_owned()
}

fn uuid_like(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 36 && s.matches('-').count() == 4)
}

/// Read the events file until it holds `n` events (delivery is asynchronous).
async fn events_in_file(path: &std::path::Path, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("event JSON")).collect();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} events in {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_at_window_runs_lambda_and_step_functions_tasks_and_serves_its_history() {
    at_window_runs_and_serves_its_history(&[]).await;
}

/// The same on PostgreSQL (when `TEST_DATABASE_URL` is set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_at_window_runs_on_postgresql_too() {
    let Some(db) = crate::postgres::fresh_database() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped");
        return;
    };
    at_window_runs_and_serves_its_history(&["--database-url", &db]).await;
}

async fn at_window_runs_and_serves_its_history(args: &[&str]) {
    let fake = FakeAws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let events_file = dir.path().join("events.jsonl");
    let server = spawn_with(&fake, &dir.path().join("data"), &events_file, args);
    let c = server.sdk();

    let id = window(&c, "e2e", 3).await;
    let nodes = ["i-00000000000000001", "i-00000000000000002"];
    let tid = c
        .register_target_with_maintenance_window()
        .window_id(&id)
        .resource_type(aws_sdk_ssm::types::MaintenanceWindowResourceType::Instance)
        .targets(target("InstanceIds", &nodes))
        .owner_information("team-e2e")
        .send()
        .await
        .unwrap()
        .window_target_id()
        .unwrap()
        .to_owned();
    lambda_task(
        &c,
        &id,
        vec![target("WindowTargetIds", &[&tid])],
        r#"{"node":"{{TARGET_ID}}","execution":"{{WINDOW_EXECUTION_ID}}"}"#,
    )
    .await;
    step_functions_task(&c, &id, 1, r#"{"window":"{{WINDOW_ID}}"}"#).await;
    let due = chrono::Utc::now() + chrono::Duration::seconds(3);

    let execs = wait_for_executions(&c, &id, 1, 40).await;
    let e = &execs[0];
    assert_eq!(e.status(), Some(&Status::Success), "{e:?}");
    assert_eq!(e.window_id(), Some(id.as_str()));
    let start = e.start_time().unwrap().as_secs_f64();
    assert!((start - due.timestamp() as f64).abs() <= 1.5, "fired at its time: {start} vs {due}");
    let exec_id = e.window_execution_id().unwrap().to_owned();

    let got = c.get_maintenance_window_execution().window_execution_id(&exec_id).send().await.unwrap();
    assert_eq!(got.status(), Some(&Status::Success));
    assert_eq!(got.task_ids().len(), 2);
    assert!(got.end_time().unwrap().as_secs_f64() >= start);

    let tasks = c.describe_maintenance_window_execution_tasks().window_execution_id(&exec_id).send().await.unwrap();
    let tasks = tasks.window_execution_task_identities();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].task_type(), Some(&MaintenanceWindowTaskType::Lambda), "priority 0 first");
    assert_eq!(tasks[1].task_type(), Some(&MaintenanceWindowTaskType::StepFunctions));
    assert!(tasks[1].start_time().unwrap().as_secs_f64() >= tasks[0].end_time().unwrap().as_secs_f64());
    let lambda_exec = tasks[0].task_execution_id().unwrap().to_owned();
    let sfn_exec = tasks[1].task_execution_id().unwrap().to_owned();
    let filtered = c
        .describe_maintenance_window_execution_tasks()
        .window_execution_id(&exec_id)
        .filters(aws_sdk_ssm::types::MaintenanceWindowFilter::builder().key("STATUS").values("FAILED").build())
        .send()
        .await
        .unwrap();
    assert!(filtered.window_execution_task_identities().is_empty());

    let t = c
        .get_maintenance_window_execution_task()
        .window_execution_id(&exec_id)
        .task_id(&lambda_exec)
        .send()
        .await
        .unwrap();
    assert_eq!(t.r#type(), Some(&MaintenanceWindowTaskType::Lambda));
    assert_eq!(t.task_arn(), Some("arn:aws:lambda:us-east-1:111122223333:function:patch"));
    assert_eq!((t.priority(), t.max_concurrency(), t.max_errors()), (0, Some("2"), Some("1")));
    assert_eq!(t.status(), Some(&Status::Success));
    let instance_ids = &t.task_parameters()[0]["aws:InstanceId"];
    assert_eq!(instance_ids.values(), nodes);

    let invs = c
        .describe_maintenance_window_execution_task_invocations()
        .window_execution_id(&exec_id)
        .task_id(&lambda_exec)
        .send()
        .await
        .unwrap();
    let invs = invs.window_execution_task_invocation_identities();
    assert_eq!(invs.len(), 2);
    for (inv, node) in invs.iter().zip(nodes) {
        assert_eq!(inv.status(), Some(&Status::Success));
        assert_eq!(inv.window_target_id(), Some(tid.as_str()));
        assert_eq!(inv.owner_information(), Some("team-e2e"));
        assert_eq!(inv.task_type(), Some(&MaintenanceWindowTaskType::Lambda));
        assert!(!inv.execution_id().unwrap().is_empty(), "Lambda's request ID");
        let p: Value = serde_json::from_str(inv.parameters().unwrap()).unwrap();
        let payload: Value = serde_json::from_str(p["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["node"], node);
        assert_eq!(payload["execution"], exec_id.as_str());
    }

    // GetMaintenanceWindowExecutionTaskInvocation, member by member as its page documents.
    let inv_id = invs[0].invocation_id().unwrap();
    let body = format!(r#"{{"WindowExecutionId":"{exec_id}","TaskId":"{lambda_exec}","InvocationId":"{inv_id}"}}"#);
    let raw = server.call("GetMaintenanceWindowExecutionTaskInvocation", &body).await;
    assert_eq!(raw.status, 200);
    let v = raw.json();
    let members: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = members.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "EndTime",
            "ExecutionId",
            "InvocationId",
            "OwnerInformation",
            "Parameters",
            "StartTime",
            "Status",
            "TaskExecutionId",
            "TaskType",
            "WindowExecutionId",
            "WindowTargetId"
        ]
    );
    for m in ["WindowExecutionId", "TaskExecutionId", "InvocationId", "WindowTargetId"] {
        assert!(uuid_like(&v[m]), "{m} is a 36-character ID: {}", v[m]);
    }
    assert!(v["StartTime"].is_number() && v["EndTime"].is_number(), "epoch-number times");
    assert!(v["EndTime"].as_f64() >= v["StartTime"].as_f64());
    assert!(serde_json::from_str::<Value>(v["Parameters"].as_str().unwrap()).is_ok(), "Parameters is a JSON string");
    assert_eq!((v["TaskType"].as_str(), v["Status"].as_str()), (Some("LAMBDA"), Some("SUCCESS")));
    assert_eq!(v["OwnerInformation"], "team-e2e");
    let sdk = c
        .get_maintenance_window_execution_task_invocation()
        .window_execution_id(&exec_id)
        .task_id(&lambda_exec)
        .invocation_id(inv_id)
        .send()
        .await
        .unwrap();
    assert_eq!(sdk.execution_id(), v["ExecutionId"].as_str());
    assert_eq!(sdk.parameters(), v["Parameters"].as_str());

    // Step Functions: the ExecutionId is the execution ARN, named after the invocation.
    let sfn_invs = c
        .describe_maintenance_window_execution_task_invocations()
        .window_execution_id(&exec_id)
        .task_id(&sfn_exec)
        .send()
        .await
        .unwrap();
    let sfn_inv = &sfn_invs.window_execution_task_invocation_identities()[0];
    assert_eq!(sfn_inv.status(), Some(&Status::Success));
    assert_eq!(
        sfn_inv.execution_id().unwrap(),
        format!("arn:aws:states:us-east-1:111122223333:execution:sm:{}", sfn_inv.invocation_id().unwrap())
    );
    assert_eq!(sfn_inv.window_target_id(), None, "targetless");

    {
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen.lambda.len(), 2);
        for (function, qualifier, ctx, _) in &seen.lambda {
            assert_eq!(function, "arn:aws:lambda:us-east-1:111122223333:function:patch");
            assert_eq!(qualifier.as_deref(), Some("live"));
            assert_eq!(ctx.as_deref(), Some("eyJjdXN0b20iOnt9fQ=="));
        }
        assert_eq!(seen.sfn_starts.len(), 1);
        assert_eq!(seen.sfn_starts[0]["input"], format!(r#"{{"window":"{id}"}}"#));
    }

    // Events: 3 registrations, then the execution's 12 state changes, in every sink.
    let events = events_in_file(&events_file, 15).await;
    let types: Vec<&str> = events.iter().map(|e| e["detail-type"].as_str().unwrap()).collect();
    assert_eq!(types.iter().filter(|t| t.contains("Registration")).count(), 3);
    assert_eq!(types.iter().filter(|t| t.starts_with("Maintenance Window Execution")).count(), 2);
    assert_eq!(types.iter().filter(|t| t.contains("Task Execution")).count(), 4);
    assert_eq!(types.iter().filter(|t| t.contains("Invocation")).count(), 6);
    assert_eq!(events.last().unwrap()["detail"]["status"], "SUCCESS");
    for _ in 0..100 {
        let (wh, eb) = {
            let s = fake.seen.lock().unwrap();
            (s.webhook.len(), s.eventbridge.len())
        };
        if wh >= 15 && eb >= 15 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = fake.seen.lock().unwrap();
    assert_eq!(s.webhook.len(), 15);
    assert_eq!(s.webhook, events, "the webhook gets the same events in the same order");
    assert_eq!(s.eventbridge.len(), 15);
    assert_eq!(s.eventbridge[3]["Source"], "aws.ssm");
    assert_eq!(s.eventbridge[3]["DetailType"], events[3]["detail-type"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_functions_and_state_machines_fail_the_window() {
    let fake = FakeAws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(&fake, &dir.path().join("data"), &dir.path().join("events.jsonl"));
    let c = server.sdk();
    let id = window(&c, "failing", 2).await;
    lambda_task(&c, &id, vec![target("InstanceIds", &["i-00000000000000001"])], r#"{"please":"fail"}"#).await;
    step_functions_task(&c, &id, 0, r#"{"please":"fail"}"#).await;
    let e = &wait_for_executions(&c, &id, 1, 40).await[0];
    assert_eq!(e.status(), Some(&Status::Failed));
    assert_eq!(e.status_details(), Some("One or more tasks in the orchestration failed."));
    let exec_id = e.window_execution_id().unwrap();
    let tasks = c.describe_maintenance_window_execution_tasks().window_execution_id(exec_id).send().await.unwrap();
    for t in tasks.window_execution_task_identities() {
        assert_eq!(t.status(), Some(&Status::Failed));
        let invs = c
            .describe_maintenance_window_execution_task_invocations()
            .window_execution_id(exec_id)
            .task_id(t.task_execution_id().unwrap())
            .filters(aws_sdk_ssm::types::MaintenanceWindowFilter::builder().key("STATUS").values("FAILED").build())
            .send()
            .await
            .unwrap();
        let inv = &invs.window_execution_task_invocation_identities()[0];
        let details = inv.status_details().unwrap();
        assert!(details.contains("on purpose"), "{details}");
        assert!(details.len() <= 250);
    }
}

/// An endpoint that answers HTTP 500 with a web page: the StatusDetails says so in
/// words, once, with no Rust debug output.
#[tokio::test]
async fn a_failing_endpoint_is_described_in_words() {
    let fake = FakeAws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(&fake, &dir.path().join("data"), &dir.path().join("events.jsonl"));
    let c = server.sdk();
    let id = window(&c, "proxy-down", 2).await;
    lambda_task(&c, &id, vec![target("InstanceIds", &["i-00000000000000001"])], r#"{"please":"html500"}"#).await;
    let e = &wait_for_executions(&c, &id, 1, 40).await[0];
    assert_eq!(e.status(), Some(&Status::Failed));
    let exec_id = e.window_execution_id().unwrap();
    let tasks = c.describe_maintenance_window_execution_tasks().window_execution_id(exec_id).send().await.unwrap();
    let task = tasks.window_execution_task_identities()[0].task_execution_id().unwrap();
    let invs = c
        .describe_maintenance_window_execution_task_invocations()
        .window_execution_id(exec_id)
        .task_id(task)
        .send()
        .await
        .unwrap();
    let details = invs.window_execution_task_invocation_identities()[0].status_details().unwrap();
    assert_eq!(
        details,
        "Lambda Invoke failed: HTTP 500, not an answer of the service: <html><body><h1>500 Internal Server Error</h1></body></html>"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_shows_cancelling_until_running_work_ends() {
    let fake = FakeAws::start().await;
    fake.release.store(false, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(&fake, &dir.path().join("data"), &dir.path().join("events.jsonl"));
    let c = server.sdk();
    let id = window(&c, "cancelled", 2).await;
    step_functions_task(&c, &id, 0, "{}").await;
    let later = step_functions_task(&c, &id, 1, "{}").await;
    let exec_id = loop {
        let out = c.describe_maintenance_window_executions().window_id(&id).send().await.unwrap();
        if let Some(e) = out.window_executions().first() {
            break e.window_execution_id().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    while fake.seen.lock().unwrap().sfn_starts.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = c.cancel_maintenance_window_execution().window_execution_id(&exec_id).send().await.unwrap();
    assert_eq!(out.window_execution_id(), Some(exec_id.as_str()));
    let e = c.get_maintenance_window_execution().window_execution_id(&exec_id).send().await.unwrap();
    assert_eq!(e.status(), Some(&Status::Cancelling));
    fake.release.store(true, Ordering::SeqCst);
    let e = &wait_for_executions(&c, &id, 1, 30).await[0];
    assert_eq!(e.status(), Some(&Status::Cancelled));
    let got = c.get_maintenance_window_execution().window_execution_id(&exec_id).send().await.unwrap();
    assert_eq!(got.task_ids().len(), 1, "the priority-1 task {later} never started");
    assert_eq!(fake.seen.lock().unwrap().sfn_starts.len(), 1);
}

#[tokio::test]
async fn history_calls_answer_bad_ids_as_aws_does() {
    let server = Server::start();
    let c = server.sdk();
    let unknown = "11111111-2222-3333-4444-555555555555";
    let err = c.get_maintenance_window_execution().window_execution_id("not-an-id").send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = c.get_maintenance_window_execution().window_execution_id(unknown).send().await.unwrap_err();
    assert_eq!(code(&err), "DoesNotExistException");
    assert_eq!(
        err.as_service_error().unwrap().meta().message(),
        Some(format!("Maintenance window execution {unknown} does not exist").as_str())
    );
    let err = c
        .get_maintenance_window_execution_task_invocation()
        .window_execution_id(unknown)
        .task_id(unknown)
        .invocation_id(unknown)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DoesNotExistException");
    let err = c
        .get_maintenance_window_execution_task_invocation()
        .window_execution_id(unknown)
        .task_id("short")
        .invocation_id(unknown)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = c.cancel_maintenance_window_execution().window_execution_id(unknown).send().await.unwrap_err();
    assert_eq!(code(&err), "DoesNotExistException");
    let err = c
        .describe_maintenance_window_execution_task_invocations()
        .window_execution_id(unknown)
        .task_id(unknown)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DoesNotExistException");
    let err = c
        .describe_maintenance_window_executions()
        .window_id("mw-0123456789abcdef0")
        .filters(
            aws_sdk_ssm::types::MaintenanceWindowFilter::builder().key("ExecutedAfter").values("yesterday").build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let none = c.describe_maintenance_window_executions().window_id("mw-0123456789abcdef0").send().await.unwrap();
    assert!(none.window_executions().is_empty());
}

/// Unique events by their `id` (delivery is at least once: a crash may repeat some).
fn unique(events: Vec<Value>) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    events.into_iter().filter(|e| seen.insert(e["id"].as_str().unwrap_or_default().to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_invocation_loses_nothing_and_fires_nothing_twice() {
    let fake = FakeAws::start().await;
    fake.release.store(false, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let events_file = dir.path().join("events.jsonl");
    let server = spawn(&fake, &data, &events_file);
    let c = server.sdk();
    let id = window(&c, "crash", 2).await;
    c.register_task_with_maintenance_window()
        .window_id(&id)
        .task_type(MaintenanceWindowTaskType::StepFunctions)
        .task_arn("arn:aws:states:us-east-1:111122223333:stateMachine:sm")
        .targets(target("InstanceIds", &["i-00000000000000001", "i-00000000000000002", "i-00000000000000003"]))
        .priority(0)
        .max_concurrency("3")
        .max_errors("0")
        .send()
        .await
        .unwrap();
    // All three Step Functions executions started and still running: kill -9.
    for _ in 0..200 {
        if fake.seen.lock().unwrap().sfn_starts.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.seen.lock().unwrap().sfn_starts.len(), 3);
    server.kill();

    let server = spawn(&fake, &data, &events_file);
    let c = server.sdk();
    fake.release.store(true, Ordering::SeqCst);
    let execs = wait_for_executions(&c, &id, 1, 40).await;
    let all = c.describe_maintenance_window_executions().window_id(&id).send().await.unwrap();
    assert_eq!(all.window_executions().len(), 1, "the occurrence fired once");
    let e = &execs[0];
    assert_eq!(e.status(), Some(&Status::Success));
    let exec_id = e.window_execution_id().unwrap();
    let tasks = c.describe_maintenance_window_execution_tasks().window_execution_id(exec_id).send().await.unwrap();
    let task = &tasks.window_execution_task_identities()[0];
    assert_eq!(task.status(), Some(&Status::Success));
    let invs = c
        .describe_maintenance_window_execution_task_invocations()
        .window_execution_id(exec_id)
        .task_id(task.task_execution_id().unwrap())
        .send()
        .await
        .unwrap();
    let invs = invs.window_execution_task_invocation_identities();
    assert_eq!(invs.len(), 3, "no invocation lost or repeated");
    assert!(invs.iter().all(|i| i.status() == Some(&Status::Success)));
    // The restarted server followed the running executions; it started none anew.
    assert_eq!(fake.seen.lock().unwrap().sfn_executions.len(), 3);

    // Every state change reached the sink, at least once: 1 registration, then the
    // execution's 10 (delivery is asynchronous; wait for the last).
    let mut events = Vec::new();
    for _ in 0..100 {
        events = unique(events_in_file(&events_file, 1).await);
        if events.len() >= 11 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let count = |kind: &str, status: &str| {
        events
            .iter()
            .filter(|e| e["detail-type"].as_str().unwrap().contains(kind) && e["detail"]["status"] == status)
            .count()
    };
    assert_eq!(count("Window Execution State-change", "IN_PROGRESS"), 1);
    assert_eq!(count("Window Execution State-change", "SUCCESS"), 1);
    assert_eq!(count("Task Execution", "IN_PROGRESS"), 1);
    assert_eq!(count("Task Execution", "SUCCESS"), 1);
    assert_eq!(count("Invocation", "IN_PROGRESS"), 3);
    assert_eq!(count("Invocation", "COMPLETE"), 3);
    assert_eq!(events.len(), 11, "{events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_occurrence_due_while_the_server_is_down_fires_once_after_a_quick_restart() {
    let fake = FakeAws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = spawn(&fake, &data, &dir.path().join("events.jsonl"));
    let c = server.sdk();
    let id = window(&c, "restart", 2).await;
    server.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let server = spawn(&fake, &data, &dir.path().join("events.jsonl"));
    let c = server.sdk();
    let e = &wait_for_executions(&c, &id, 1, 20).await[0];
    assert_eq!(e.status(), Some(&Status::Success), "run late, within the grace period");
    assert_eq!(e.status_details(), Some("No tasks to execute."));
    server.kill();
    let server = spawn(&fake, &data, &dir.path().join("events.jsonl"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = server.sdk().describe_maintenance_window_executions().window_id(&id).send().await.unwrap();
    assert_eq!(all.window_executions().len(), 1, "never twice");
}
