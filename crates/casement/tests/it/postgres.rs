//! Several servers on one PostgreSQL database act as one service. Runs when
//! `TEST_DATABASE_URL` is set (`.ci/run` sets it); each test gets a fresh schema.

use crate::common::{create_window, Server};

/// A database URL whose connections use a new, empty schema; `None` without PostgreSQL.
pub fn fresh_database() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL").ok()?;
    let schema = format!("casement_it_{:016x}", rand::random::<u64>());
    let status = std::process::Command::new("psql")
        .args([url.as_str(), "-q", "-c", &format!("CREATE SCHEMA {schema}")])
        .status()
        .expect("psql runs");
    assert!(status.success(), "could not create schema {schema}");
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
}

#[tokio::test]
async fn two_servers_share_one_database() {
    let Some(db) = fresh_database() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped");
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::spawn(dir_a.path(), &["--database-url", &db]);
    let b = Server::spawn(dir_b.path(), &["--database-url", &db]);
    let (ca, cb) = (a.sdk(), b.sdk());
    let id = create_window(&ca, "shared", "cron(0 2 ? * * *)", true).await;
    let got = cb.get_maintenance_window().window_id(&id).send().await.expect("node B sees node A's window");
    assert_eq!(got.name(), Some("shared"));
    assert!(got.next_execution_time().is_some());
    cb.update_maintenance_window().window_id(&id).name("renamed").send().await.unwrap();
    assert_eq!(ca.get_maintenance_window().window_id(&id).send().await.unwrap().name(), Some("renamed"));

    // The same ClientToken sent to both nodes at once creates one window.
    let create = |c: &aws_sdk_ssm::Client| {
        c.create_maintenance_window()
            .name("once")
            .schedule("rate(1 day)")
            .duration(2)
            .cutoff(1)
            .allow_unassociated_targets(false)
            .client_token("both-nodes")
            .send()
    };
    let (ra, rb) = tokio::join!(create(&ca), create(&cb));
    assert_eq!(ra.unwrap().window_id(), rb.unwrap().window_id());
    let names: Vec<String> = ca
        .describe_maintenance_windows()
        .send()
        .await
        .unwrap()
        .window_identities()
        .iter()
        .map(|w| w.name().unwrap().to_owned())
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "once").count(), 1, "{names:?}");

    cb.delete_maintenance_window().window_id(&id).send().await.unwrap();
    let err = ca.get_maintenance_window().window_id(&id).send().await.unwrap_err();
    assert_eq!(crate::common::code(&err), "DoesNotExistException");
}

/// Three servers on one database, windows coming due together: each occurrence fires
/// exactly once across the nodes (`FOR UPDATE SKIP LOCKED` in the claiming transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_fire_once_across_nodes() {
    let Some(db) = fresh_database() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped");
        return;
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Server> = dirs.iter().map(|d| Server::spawn(d.path(), &["--database-url", &db])).collect();
    let c = nodes[0].sdk();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(create_window(&c, &format!("shared-{i}"), &crate::common::at_in(3), true).await);
    }
    for (i, id) in ids.iter().enumerate() {
        let node = nodes[i % 3].sdk();
        let done = crate::common::wait_for_executions(&node, id, 1, 30).await;
        assert_eq!(done[0].status_details(), Some("No tasks to execute."));
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for id in &ids {
        let all = c.describe_maintenance_window_executions().window_id(id).send().await.unwrap();
        assert_eq!(all.window_executions().len(), 1, "window {id} fired once across three nodes");
    }
}

/// A server killed while it drives an execution: another server sharing the database
/// takes the execution over when the lease runs out, follows the running Step Functions
/// execution (starting nothing twice) and finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_finishes_the_executions_of_a_node_that_died() {
    use std::sync::atomic::Ordering;
    let Some(db) = fresh_database() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped");
        return;
    };
    let fake = crate::fake_aws::FakeAws::start().await;
    fake.release.store(false, Ordering::SeqCst);
    let mut env: Vec<(String, String)> = fake.env();
    env.push(("CASEMENT_ACCESS_KEY_ID".into(), crate::common::AKID.into()));
    env.push(("CASEMENT_SECRET_ACCESS_KEY".into(), crate::common::SECRET.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = ["--database-url", &db, "--execution-lease-seconds", "2"];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = Server::spawn_with_env(dir_a.path(), &args, &env);
    let c = a.sdk();
    let id = create_window(&c, "failover", &crate::common::at_in(2), true).await;
    c.register_task_with_maintenance_window()
        .window_id(&id)
        .task_type(aws_sdk_ssm::types::MaintenanceWindowTaskType::StepFunctions)
        .task_arn("arn:aws:states:us-east-1:111122223333:stateMachine:sm")
        .priority(0)
        .send()
        .await
        .unwrap();
    for _ in 0..200 {
        if !fake.seen.lock().unwrap().sfn_starts.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(fake.seen.lock().unwrap().sfn_starts.len(), 1, "node A started the execution");
    let (b, _) = Server::spawn_with_env(dir_b.path(), &args, &env);
    a.kill();
    fake.release.store(true, Ordering::SeqCst);
    let cb = b.sdk();
    let done = crate::common::wait_for_executions(&cb, &id, 1, 30).await;
    assert_eq!(done[0].status(), Some(&aws_sdk_ssm::types::MaintenanceWindowExecutionStatus::Success));
    assert_eq!(fake.seen.lock().unwrap().sfn_executions.len(), 1, "followed, not started again");
}
