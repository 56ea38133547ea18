//! One LAMBDA task over N targets (default 1,000) with MaxConcurrency 100 against a
//! Lambda that answers at once: how long from the task's start until every invocation
//! is final.
//!
//! usage: fanout [N]      (needs AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY set to anything)

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use casement_bench_engine::{due_window, instant_lambda, now_ms, scope, store};
use casement_engine::runner::{AwsClients, LambdaRunner};
use casement_engine::{Engine, EngineConfig, Runners, Signals, SystemClock};
use casement_model::task::{LambdaParameters, TaskInvocationParameters};
use casement_model::{ExecutionStatus, Tag, Target, TaskType, WindowTarget, WindowTargetId, WindowTask, WindowTaskId};
use casement_store::ExecutionFilter;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let sc = scope();
    for i in 0..n {
        let tag = Tag { key: "Role".into(), value: "web".into() };
        store.add_tags(&sc, "ManagedInstance", &format!("mi-{i:017x}"), &[tag], 50).await.expect("tag");
    }
    let due = (now_ms() / 1000 + 2) * 1000;
    let id = due_window(&*store, "fanout", due).await;
    let target = WindowTarget {
        window_id: id.clone(),
        window_target_id: WindowTargetId::generate(),
        resource_type: "INSTANCE".into(),
        targets: vec![Target { key: Some("tag:Role".into()), values: Some(vec!["web".into()]) }],
        owner_information: None,
        name: None,
        description: None,
    };
    let tid = store.register_target(&sc, &target, None, None, &[]).await.expect("target");
    let task = WindowTask {
        window_id: id.clone(),
        window_task_id: WindowTaskId::generate(),
        task_arn: "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
        task_type: TaskType::Lambda,
        targets: vec![Target { key: Some("WindowTargetIds".into()), values: Some(vec![tid.to_string()]) }],
        service_role_arn: None,
        task_parameters: None,
        task_invocation_parameters: Some(TaskInvocationParameters {
            lambda: Some(LambdaParameters {
                payload: Some(base64::engine::general_purpose::STANDARD.encode(r#"{"node":"{{TARGET_ID}}"}"#)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        priority: 0,
        max_concurrency: Some("100".into()),
        max_errors: Some("0".into()),
        logging_info: None,
        name: None,
        description: None,
        cutoff_behavior: None,
        alarm_configuration: None,
    };
    store.register_task(&sc, &task, None, None, &[]).await.expect("task");
    let url = instant_lambda().await;
    let runners =
        Runners::default().with(TaskType::Lambda, Arc::new(LambdaRunner::new(AwsClients::load().await, Some(url))));
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        runners,
        Arc::new(Signals::default()),
        EngineConfig::default(),
    );
    engine.start(vec![]);
    let exec = loop {
        let e = store.list_executions(&sc, &id, &ExecutionFilter::default(), None, 1).await.expect("list");
        if let Some(e) = e.into_iter().next().filter(|e| e.status.is_final()) {
            break e;
        }
        assert!(now_ms() - due < 120_000, "not finished in two minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let te = store.list_task_executions(&sc, &exec.window_execution_id).await.expect("tasks").remove(0);
    let invs = store.list_invocations(&sc, &te.task_execution_id, &[], None, usize::MAX).await.expect("invocations");
    let ok = invs.iter().filter(|i| i.status == ExecutionStatus::Success).count();
    let first = invs.iter().map(|i| i.start_ms).min().unwrap_or(0);
    let last = invs.iter().filter_map(|i| i.end_ms).max().unwrap_or(0);
    println!(
        "RESULT fanout targets={n} max_concurrency=100 status={} invocations={} succeeded={ok} task_ms={} first_start_to_last_end_ms={}",
        exec.status.as_str(),
        invs.len(),
        te.end_ms.unwrap_or(0) - te.start_ms,
        last - first
    );
}
