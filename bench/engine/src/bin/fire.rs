//! N windows due in the same second (default 10,000, no tasks): how long until every
//! execution is recorded, and whether any window fired twice.
//!
//! usage: fire [N]        (DATABASE_URL=postgres://… for PostgreSQL)

use std::sync::Arc;
use std::time::Duration;

use casement_bench_engine::{due_window, now_ms, scope, store};
use casement_engine::{Engine, EngineConfig, Runners, Signals, SystemClock};
use casement_store::ExecutionFilter;
use futures_util::StreamExt;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    // Time to seed: SQLite inserts ~10k windows a second, PostgreSQL (a commit each) fewer.
    let lead = if std::env::var("DATABASE_URL").is_ok() { 5 + n as i64 / 400 } else { 3 + n as i64 / 4000 };
    let due = (now_ms() / 1000 + lead) * 1000;
    let ids: Vec<_> = futures_util::stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            async move { due_window(&*store, &format!("fire-{i}"), due).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(now_ms() < due, "seeding took too long; the windows are already due");
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        Runners::default(),
        Arc::new(Signals::default()),
        EngineConfig::default(),
    );
    engine.start(vec![]);
    tokio::time::sleep(Duration::from_millis((due - now_ms()).max(0) as u64)).await;
    // Every fired execution writes one IN_PROGRESS execution event in its claim transaction.
    let (mut cursor, mut fired) = (0i64, 0usize);
    let recorded_at = loop {
        for (seq, body) in store.events_after(cursor, 100_000).await.expect("events") {
            cursor = seq;
            if body.contains("Execution State-change") && body.contains("\"IN_PROGRESS\"") {
                fired += 1;
            }
        }
        if fired >= n {
            break now_ms();
        }
        assert!(now_ms() - due < 60_000, "only {fired} of {n} fired in a minute");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut twice = 0;
    for id in &ids {
        let e = store.list_executions(&scope(), id, &ExecutionFilter::default(), None, 10).await.expect("list");
        if e.len() != 1 {
            twice += 1;
        }
    }
    println!(
        "RESULT fire windows={n} all_recorded_after_ms={} windows_without_exactly_one_execution={twice}",
        recorded_at - due
    );
}
