//! Write one finished window execution with one task execution of N invocations
//! (default 1,000,000) into a SQLite data dir, for the history API benchmarks. Prints
//! the IDs to ask for: `WINDOW_EXECUTION_ID TASK_EXECUTION_ID INVOCATION_ID MIDDLE_SEQ`.
//!
//! usage: seed_invocations DATA_DIR [N]

use std::path::PathBuf;

use casement_bench_engine::{due_window, now_ms, scope};
use casement_model::ids::new_uuid;
use casement_model::{
    ExecutionStatus, ResolvedTarget, TaskExecution, TaskInvocation, TaskType, WindowExecution, WindowTaskId,
};
use casement_store::sqlite::{SqliteStore, Synchronous};
use casement_store::{Change, Store};

#[tokio::main]
async fn main() {
    let dir: PathBuf = std::env::args().nth(1).expect("usage: seed_invocations DATA_DIR [N]").into();
    let n: u32 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let store = SqliteStore::open(&dir, Synchronous::Normal).expect("open");
    let sc = scope();
    let t = now_ms() - 3_600_000;
    let window = due_window(&store, "seeded", t + 86_400_000 * 365).await;
    let exec = WindowExecution {
        window_id: window,
        window_execution_id: new_uuid(),
        status: ExecutionStatus::Success,
        status_details: None,
        start_ms: t,
        end_ms: Some(t + 60_000),
        duration: 2,
        cutoff: 1,
        tasks: Some(vec![]),
        cancel_requested: false,
    };
    let te = TaskExecution {
        window_execution_id: exec.window_execution_id.clone(),
        task_execution_id: new_uuid(),
        window_task_id: WindowTaskId::generate(),
        task_arn: "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
        task_type: TaskType::Lambda,
        priority: 0,
        max_concurrency: Some("100".into()),
        max_errors: Some("0".into()),
        status: ExecutionStatus::Success,
        status_details: None,
        start_ms: t,
        end_ms: Some(t + 60_000),
        targets: vec![ResolvedTarget {
            resource_id: "mi-00000000000000000".into(),
            target_type: "INSTANCE".into(),
            window_target_id: None,
            owner_information: None,
        }],
    };
    store.apply(&sc, &[Change::Execution(exec.clone()), Change::Task(te.clone())]).await.expect("seed");
    let middle = n / 2;
    let mut middle_id = String::new();
    let mut batch = Vec::with_capacity(10_000);
    for seq in 0..n {
        let inv = TaskInvocation {
            window_execution_id: exec.window_execution_id.clone(),
            task_execution_id: te.task_execution_id.clone(),
            invocation_id: new_uuid(),
            seq,
            execution_id: Some(new_uuid()),
            task_type: TaskType::Lambda,
            parameters: format!(r#"{{"functionName":"bench","payload":"{{\"node\":\"mi-{seq:017x}\"}}"}}"#),
            status: ExecutionStatus::Success,
            status_details: None,
            start_ms: t + i64::from(seq % 60_000),
            end_ms: Some(t + i64::from(seq % 60_000) + 5),
            owner_information: Some("bench".into()),
            window_target_id: Some(new_uuid()),
            resource_id: format!("mi-{seq:017x}"),
        };
        if seq == middle {
            middle_id = inv.invocation_id.clone();
        }
        batch.push(Change::Invocation(inv));
        if batch.len() == 10_000 {
            store.apply(&sc, &batch).await.expect("seed invocations");
            batch.clear();
        }
    }
    store.apply(&sc, &batch).await.expect("seed invocations");
    println!("{} {} {middle_id} {middle}", exec.window_execution_id, te.task_execution_id);
}
