//! The store conformance suite: every behaviour callers rely on, written once against
//! `&dyn Store` and instantiated for each backend with [`store_test_suite!`].

use std::sync::Arc;

use casement_model::{
    ExecutionStatus, Scope, Tag, Target, TaskExecution, TaskInvocation, TaskType, Window, WindowExecution, WindowId,
    WindowTarget, WindowTargetId, WindowTask, WindowTaskId,
};

use crate::{Change, Due, ExecutionFilter, Firing, Idempotency, NextFire, Store, StoreError, WindowFilter};

pub fn window(name: &str) -> Window {
    Window {
        window_id: WindowId::generate(),
        name: name.into(),
        description: None,
        start_date: None,
        end_date: None,
        schedule: "rate(1 day)".into(),
        schedule_timezone: None,
        schedule_offset: None,
        duration: 2,
        cutoff: 1,
        allow_unassociated_targets: false,
        enabled: true,
        created_ms: 1,
        modified_ms: 1,
        schedule_anchor_ms: None,
    }
}

fn target(w: &WindowId) -> WindowTarget {
    WindowTarget {
        window_id: w.clone(),
        window_target_id: WindowTargetId::generate(),
        resource_type: "INSTANCE".into(),
        targets: vec![Target { key: Some("InstanceIds".into()), values: Some(vec!["mi-0123456789abcdef0".into()]) }],
        owner_information: None,
        name: None,
        description: None,
    }
}

fn task(w: &WindowId, targets: Vec<Target>) -> WindowTask {
    WindowTask {
        window_id: w.clone(),
        window_task_id: WindowTaskId::generate(),
        task_arn: "AWS-RunShellScript".into(),
        task_type: TaskType::RunCommand,
        targets,
        service_role_arn: None,
        task_parameters: None,
        task_invocation_parameters: None,
        priority: 1,
        max_concurrency: Some("1".into()),
        max_errors: Some("1".into()),
        logging_info: None,
        name: None,
        description: None,
        cutoff_behavior: None,
        alarm_configuration: None,
    }
}

fn scope() -> Scope {
    Scope::new("111111111111", "us-east-1")
}

fn other_scope() -> Scope {
    Scope::new("222222222222", "us-east-1")
}

pub async fn window_round_trip(s: &dyn Store) {
    let mut w = window("a");
    w.description = Some("d".into());
    let id = s.create_window(&scope(), &w, &[], None, None, NextFire::Never).await.unwrap();
    assert_eq!(s.get_window(&scope(), &id).await.unwrap().as_deref(), Some(&w));
    w.name = "b".into();
    s.update_window(&scope(), &w, NextFire::Keep, &[]).await.unwrap();
    assert_eq!(s.get_window(&scope(), &id).await.unwrap().unwrap().name, "b");
    assert!(s.delete_window(&scope(), &id).await.unwrap());
    assert!(!s.delete_window(&scope(), &id).await.unwrap());
    assert!(matches!(s.update_window(&scope(), &w, NextFire::Keep, &[]).await, Err(StoreError::NotFound)));
}

pub async fn scopes_are_isolated(s: &dyn Store) {
    let w = window("iso");
    s.create_window(&scope(), &w, &[], None, None, NextFire::Never).await.unwrap();
    let other = Scope::new("222222222222", "us-east-1");
    let region = Scope::new("111111111111", "eu-west-1");
    assert_eq!(s.get_window(&other, &w.window_id).await.unwrap(), None);
    assert_eq!(s.get_window(&region, &w.window_id).await.unwrap(), None);
    assert!(s.list_windows(&other, &WindowFilter::default(), None, 100).await.unwrap().is_empty());
}

pub async fn list_pages_and_filters(s: &dyn Store) {
    let sc = Scope::new("333333333333", "us-east-1");
    let mut ids = Vec::new();
    for i in 0..25 {
        let mut w = window(&format!("{}-{i}", if i % 2 == 0 { "even" } else { "odd" }));
        w.enabled = i % 3 != 0;
        ids.push(s.create_window(&sc, &w, &[], None, None, NextFire::Never).await.unwrap());
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.list_windows(&sc, &WindowFilter::default(), after.as_deref(), 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|w| w.window_id.to_string());
        seen.extend(page.into_iter().map(|w| w.window_id));
    }
    assert_eq!(seen, ids);
    let f = WindowFilter { name_prefixes: vec!["even".into()], enabled: Some(true) };
    let evens = s.list_windows(&sc, &f, None, 100).await.unwrap();
    assert!(!evens.is_empty());
    assert!(evens.iter().all(|w| w.name.starts_with("even") && w.enabled));
}

pub async fn idempotent_create(s: &dyn Store) {
    let idem = Idempotency { operation: "CreateMaintenanceWindow", token: "t1".into(), fingerprint: "f".into() };
    let first = s.create_window(&scope(), &window("x"), &[], Some(&idem), None, NextFire::Never).await.unwrap();
    let again = s.create_window(&scope(), &window("x"), &[], Some(&idem), None, NextFire::Never).await.unwrap();
    assert_eq!(first, again);
    let other = Idempotency { fingerprint: "g".into(), ..idem };
    assert!(matches!(
        s.create_window(&scope(), &window("x"), &[], Some(&other), None, NextFire::Never).await,
        Err(StoreError::IdempotencyMismatch)
    ));
}

pub async fn limits_are_enforced(s: &dyn Store) {
    let sc = Scope::new("444444444444", "us-east-1");
    s.create_window(&sc, &window("1"), &[], None, Some(1), NextFire::Never).await.unwrap();
    assert!(matches!(
        s.create_window(&sc, &window("2"), &[], None, Some(1), NextFire::Never).await,
        Err(StoreError::LimitExceeded(1))
    ));
}

pub async fn targets_tasks_and_safe_deregister(s: &dyn Store) {
    let w = window("tt");
    s.create_window(&scope(), &w, &[], None, None, NextFire::Never).await.unwrap();
    let t = target(&w.window_id);
    s.register_target(&scope(), &t, None, None, &[]).await.unwrap();
    let k = task(
        &w.window_id,
        vec![Target { key: Some("WindowTargetIds".into()), values: Some(vec![t.window_target_id.to_string()]) }],
    );
    s.register_task(&scope(), &k, None, None, &[]).await.unwrap();
    assert_eq!(s.get_target(&scope(), &w.window_id, &t.window_target_id).await.unwrap(), Some(t.clone()));
    assert_eq!(s.list_tasks(&scope(), &w.window_id).await.unwrap(), vec![k.clone()]);
    assert!(matches!(
        s.deregister_target(&scope(), &w.window_id, &t.window_target_id, true, &[]).await,
        Err(StoreError::InUse)
    ));
    s.deregister_task(&scope(), &w.window_id, &k.window_task_id, &[]).await.unwrap();
    s.deregister_target(&scope(), &w.window_id, &t.window_target_id, true, &[]).await.unwrap();
    assert!(s.list_targets(&scope(), &w.window_id).await.unwrap().is_empty());
    // A target cannot be registered on a window that does not exist.
    let orphan = target(&WindowId::generate());
    assert!(matches!(s.register_target(&scope(), &orphan, None, None, &[]).await, Err(StoreError::NotFound)));
}

pub async fn delete_cascades(s: &dyn Store) {
    let w = window("cascade");
    let tags = [Tag { key: "k".into(), value: "v".into() }];
    s.create_window(&scope(), &w, &tags, None, None, NextFire::Never).await.unwrap();
    s.register_target(&scope(), &target(&w.window_id), None, None, &[]).await.unwrap();
    s.register_task(&scope(), &task(&w.window_id, vec![]), None, None, &[]).await.unwrap();
    assert_eq!(s.list_tags(&scope(), "MaintenanceWindow", w.window_id.as_str()).await.unwrap(), tags);
    s.delete_window(&scope(), &w.window_id).await.unwrap();
    assert!(s.list_targets(&scope(), &w.window_id).await.unwrap().is_empty());
    assert!(s.list_tasks(&scope(), &w.window_id).await.unwrap().is_empty());
    assert!(s.list_tags(&scope(), "MaintenanceWindow", w.window_id.as_str()).await.unwrap().is_empty());
}

pub async fn tags_overwrite_and_limit(s: &dyn Store) {
    let rid = "mw-0000000000000000a";
    let t = |k: &str, v: &str| Tag { key: k.into(), value: v.into() };
    s.add_tags(&scope(), "MaintenanceWindow", rid, &[t("a", "1"), t("b", "2")], 3).await.unwrap();
    s.add_tags(&scope(), "MaintenanceWindow", rid, &[t("a", "9")], 3).await.unwrap();
    assert!(matches!(
        s.add_tags(&scope(), "MaintenanceWindow", rid, &[t("c", "3"), t("d", "4")], 3).await,
        Err(StoreError::TooManyTags)
    ));
    assert_eq!(s.list_tags(&scope(), "MaintenanceWindow", rid).await.unwrap(), vec![t("a", "9"), t("b", "2")]);
    s.remove_tags(&scope(), "MaintenanceWindow", rid, &["a".into(), "zz".into()]).await.unwrap();
    assert_eq!(s.list_tags(&scope(), "MaintenanceWindow", rid).await.unwrap(), vec![t("b", "2")]);
}

/// Instantiate the conformance suite for a backend: `$make` is an async expression
fn execution(w: &WindowId, start_ms: i64, status: ExecutionStatus) -> WindowExecution {
    WindowExecution {
        window_id: w.clone(),
        window_execution_id: casement_model::ids::new_uuid(),
        status,
        status_details: None,
        start_ms,
        end_ms: status.is_final().then_some(start_ms + 10),
        duration: 2,
        cutoff: 1,
        tasks: None,
        cancel_requested: false,
    }
}

/// The scheduler's claim: a due window fires once however often `fire_due` runs, its
/// next fire time moves in the same transaction, and a running execution is reported.
pub async fn due_windows_fire_once(s: &dyn Store) {
    let sc = Scope::new(casement_model::ids::new_uuid()[..12].to_owned(), "us-east-1");
    let due = window("due");
    let later = window("later");
    s.create_window(&sc, &due, &[], None, None, NextFire::At(1_000)).await.unwrap();
    s.create_window(&sc, &later, &[], None, None, NextFire::At(5_000)).await.unwrap();
    let decide = |d: Due<'_>| Firing {
        execution: Some(execution(
            &d.window.window_id,
            d.due_ms,
            if d.running { ExecutionStatus::SkippedOverlapping } else { ExecutionStatus::InProgress },
        )),
        next_fire_ms: Some(d.due_ms + 10_000),
        events: vec![format!("fired {}", d.window.window_id)],
    };
    let fired = s.fire_due(2_000, 100, "node-a", 60_000, &decide).await.unwrap();
    let mine: Vec<_> = fired.iter().filter(|(f, _)| *f == sc).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].1.window_id, due.window_id);
    assert!(
        s.fire_due(2_000, 100, "node-a", 60_000, &decide).await.unwrap().iter().all(|(f, _)| *f != sc),
        "claimed once"
    );
    assert!(s.next_due_ms().await.unwrap().is_some());
    // The next occurrence of `due` finds its first execution still running.
    let fired = s.fire_due(11_000, 100, "node-a", 60_000, &decide).await.unwrap();
    let statuses: Vec<_> =
        fired.iter().filter(|(f, _)| *f == sc).map(|(_, e)| (e.window_id.clone(), e.status)).collect();
    assert!(statuses.contains(&(due.window_id.clone(), ExecutionStatus::SkippedOverlapping)));
    assert!(statuses.contains(&(later.window_id.clone(), ExecutionStatus::InProgress)));
    // Disabling (NextFire::Never) takes a window out of the schedule.
    s.update_window(&sc, &due, NextFire::Never, &[]).await.unwrap();
    let fired = s.fire_due(100_000, 100, "node-a", 60_000, &decide).await.unwrap();
    assert!(fired.iter().all(|(_, e)| e.window_id != due.window_id));
}

pub async fn executions_round_trip_and_page(s: &dyn Store) {
    let sc = scope();
    let w = WindowId::generate();
    let mut all = Vec::new();
    for i in 0..5 {
        let e = execution(&w, 1_000 * i, ExecutionStatus::Success);
        s.apply(&sc, &[Change::Execution(e.clone())]).await.unwrap();
        all.push(e);
    }
    assert_eq!(s.get_execution(&sc, &all[0].window_execution_id).await.unwrap().as_ref(), Some(&all[0]));
    assert_eq!(
        s.get_execution(&Scope::new("999999999999", "us-east-1"), &all[0].window_execution_id).await.unwrap(),
        None
    );
    let f = ExecutionFilter::default();
    let page = s.list_executions(&sc, &w, &f, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.start_ms).collect::<Vec<_>>(), [4_000, 3_000], "newest first");
    let key = (page[1].start_ms, page[1].window_execution_id.clone());
    let next = s.list_executions(&sc, &w, &f, Some(&key), 10).await.unwrap();
    assert_eq!(next.iter().map(|e| e.start_ms).collect::<Vec<_>>(), [2_000, 1_000, 0]);
    let f = ExecutionFilter { started_after_ms: Some(500), started_before_ms: Some(3_500) };
    let mid = s.list_executions(&sc, &w, &f, None, 10).await.unwrap();
    assert_eq!(mid.iter().map(|e| e.start_ms).collect::<Vec<_>>(), [3_000, 2_000, 1_000]);

    let te = TaskExecution {
        window_execution_id: all[0].window_execution_id.clone(),
        task_execution_id: casement_model::ids::new_uuid(),
        window_task_id: WindowTaskId::generate(),
        task_arn: "arn".into(),
        task_type: TaskType::Lambda,
        priority: 0,
        max_concurrency: None,
        max_errors: None,
        status: ExecutionStatus::InProgress,
        status_details: None,
        start_ms: 1,
        end_ms: None,
        targets: vec![],
    };
    let inv = |seq: u32, status| TaskInvocation {
        window_execution_id: te.window_execution_id.clone(),
        task_execution_id: te.task_execution_id.clone(),
        invocation_id: casement_model::ids::new_uuid(),
        seq,
        execution_id: None,
        task_type: TaskType::Lambda,
        parameters: "{}".into(),
        status,
        status_details: None,
        start_ms: 1,
        end_ms: None,
        owner_information: None,
        window_target_id: None,
        resource_id: format!("i-{seq}"),
    };
    let invs: Vec<TaskInvocation> =
        (0..5).map(|i| inv(i, if i % 2 == 0 { ExecutionStatus::Success } else { ExecutionStatus::Failed })).collect();
    let mut changes = vec![Change::Task(te.clone())];
    changes.extend(invs.iter().cloned().map(Change::Invocation));
    s.apply(&sc, &changes).await.unwrap();
    // Upserts replace.
    let mut done = te.clone();
    done.status = ExecutionStatus::Success;
    s.apply(&sc, &[Change::Task(done.clone())]).await.unwrap();
    assert_eq!(s.list_task_executions(&sc, &te.window_execution_id).await.unwrap(), vec![done.clone()]);
    assert_eq!(s.get_task_execution(&sc, &te.window_execution_id, &te.task_execution_id).await.unwrap(), Some(done));
    // "All of them", as the orchestrator asks when it resumes a task.
    assert_eq!(s.list_invocations(&sc, &te.task_execution_id, &[], None, usize::MAX).await.unwrap().len(), 5);
    let page = s.list_invocations(&sc, &te.task_execution_id, &[], Some(1), 2).await.unwrap();
    assert_eq!(page.iter().map(|i| i.seq).collect::<Vec<_>>(), [2, 3]);
    let failed = s.list_invocations(&sc, &te.task_execution_id, &[ExecutionStatus::Failed], None, 10).await.unwrap();
    assert_eq!(failed.iter().map(|i| i.seq).collect::<Vec<_>>(), [1, 3]);
    let got =
        s.get_invocation(&sc, &te.window_execution_id, &te.task_execution_id, &invs[4].invocation_id).await.unwrap();
    assert_eq!(got.as_deref(), Some(&invs[4]));
    assert_eq!(s.get_invocation(&sc, "other", &te.task_execution_id, &invs[4].invocation_id).await.unwrap(), None);
}

pub async fn cancel_adopt_and_purge(s: &dyn Store) {
    let sc = scope();
    let w = WindowId::generate();
    let running = execution(&w, 10, ExecutionStatus::InProgress);
    let finished = execution(&w, 20, ExecutionStatus::Success);
    s.apply(&sc, &[Change::Execution(running.clone()), Change::Execution(finished.clone())]).await.unwrap();
    let c = s.request_cancel(&sc, &running.window_execution_id).await.unwrap().unwrap();
    assert!(c.cancel_requested);
    // The driver's upserts do not clear a cancel request.
    s.apply(&sc, &[Change::Execution(running.clone())]).await.unwrap();
    assert!(s.get_execution(&sc, &running.window_execution_id).await.unwrap().unwrap().cancel_requested);
    let f = s.request_cancel(&sc, &finished.window_execution_id).await.unwrap().unwrap();
    assert!(!f.cancel_requested, "a finished execution is not cancelled");
    assert_eq!(s.request_cancel(&sc, "no-such-execution").await.unwrap(), None);
    // An unowned running execution is adopted; a second node does not take it while leased.
    let adopted = s.adopt_executions("node-a", 100, 100_000).await.unwrap();
    assert!(adopted.iter().any(|(_, e)| e.window_execution_id == running.window_execution_id));
    assert!(adopted.iter().all(|(_, e)| !e.status.is_final()));
    s.renew_leases("node-a", 200_000).await.unwrap();
    // Purge: only finished executions that ended before the cutoff.
    assert!(s.purge_history(35).await.unwrap() >= 1);
    assert_eq!(s.get_execution(&sc, &finished.window_execution_id).await.unwrap(), None);
    assert!(s.get_execution(&sc, &running.window_execution_id).await.unwrap().is_some());
}

pub async fn event_cursors(s: &dyn Store) {
    let sink = format!("test-{}", casement_model::ids::new_uuid());
    assert_eq!(s.event_cursor(&sink).await.unwrap(), 0);
    s.set_event_cursor(&sink, 7).await.unwrap();
    s.set_event_cursor(&sink, 5).await.unwrap();
    assert_eq!(s.event_cursor(&sink).await.unwrap(), 7, "cursors never move back");
}

pub async fn tagged_resources_match(s: &dyn Store) {
    let sc = Scope::new(casement_model::ids::new_uuid()[..12].to_owned(), "us-east-1");
    for (node, env) in [("mi-1", "prod"), ("mi-2", "dev"), ("mi-3", "prod")] {
        s.add_tags(&sc, "ManagedInstance", node, &[Tag { key: "Env".into(), value: env.into() }], 50).await.unwrap();
    }
    assert_eq!(s.tagged_resources(&sc, "ManagedInstance", "Env", &["prod".into()]).await.unwrap(), ["mi-1", "mi-3"]);
    assert_eq!(s.tagged_resources(&sc, "ManagedInstance", "Env", &[]).await.unwrap(), ["mi-1", "mi-2", "mi-3"]);
    assert!(s.tagged_resources(&sc, "MaintenanceWindow", "Env", &[]).await.unwrap().is_empty());
}

/// A write's events are in the outbox exactly when the write happened.
pub async fn writes_append_their_events(s: &dyn Store) {
    let tag = casement_model::ids::new_uuid();
    let ev = |what: &str| format!("{tag} {what}");
    let count = |events: &[(i64, String)], what: &str| events.iter().filter(|(_, b)| *b == ev(what)).count();
    let w = window("events");
    s.create_window(&scope(), &w, &[], None, None, NextFire::Never).await.unwrap();
    let t = target(&w.window_id);
    let idem =
        Idempotency { operation: "RegisterTargetWithMaintenanceWindow", token: tag.clone(), fingerprint: "f".into() };
    s.register_target(&scope(), &t, Some(&idem), None, &[ev("registered")]).await.unwrap();
    // A retried request (same client token) changes nothing and says nothing.
    let mut again = t.clone();
    again.window_target_id = WindowTargetId::generate();
    s.register_target(&scope(), &again, Some(&idem), None, &[ev("registered")]).await.unwrap();
    // A failed write leaves no event.
    let orphan = target(&WindowId::generate());
    assert!(s.register_target(&scope(), &orphan, None, None, &[ev("orphan")]).await.is_err());
    s.update_target(&scope(), &t, &[ev("updated")]).await.unwrap();
    s.deregister_target(&scope(), &w.window_id, &t.window_target_id, false, &[ev("deregistered")]).await.unwrap();
    assert!(s.deregister_target(&scope(), &w.window_id, &t.window_target_id, false, &[ev("again")]).await.is_err());
    s.update_window(&scope(), &w, NextFire::Keep, &[ev("disabled")]).await.unwrap();
    let events = s.events_after(0, 100_000).await.unwrap();
    for (what, n) in
        [("registered", 1), ("orphan", 0), ("updated", 1), ("deregistered", 1), ("again", 0), ("disabled", 1)]
    {
        assert_eq!(count(&events, what), n, "{what}");
    }
}

fn activation(limit: i64, expiration_ms: i64) -> casement_model::Activation {
    casement_model::Activation {
        activation_id: casement_model::ids::new_uuid(),
        description: None,
        default_instance_name: Some("fleet".into()),
        iam_role: "role".into(),
        registration_limit: limit,
        registrations_count: 0,
        expiration_ms,
        created_ms: 1,
    }
}

fn node() -> casement_model::ManagedNode {
    casement_model::ManagedNode::unregistered(Some("host".into()), 0)
}

pub async fn nodes_register_within_limits(s: &dyn Store) {
    let sc = scope();
    let a = activation(2, 10_000);
    s.create_activation(&sc, &a, "hash", &[Tag { key: "k".into(), value: "v".into() }]).await.unwrap();
    assert_eq!(s.get_activation(&sc, &a.activation_id).await.unwrap().unwrap().registration_limit, 2);
    assert!(s.get_activation(&other_scope(), &a.activation_id).await.unwrap().is_none());
    // A wrong code, then two good registrations, then the limit.
    assert!(matches!(
        s.register_node(&a.activation_id, "wrong", 5, node(), "AK0", "s0").await,
        Err(StoreError::Refused(_))
    ));
    let (got_scope, n1) = s.register_node(&a.activation_id, "hash", 5, node(), "AK1", "s1").await.unwrap();
    assert_eq!(got_scope, sc);
    assert_eq!(
        (n1.iam_role.as_str(), n1.name.as_deref(), n1.activation_id.as_str()),
        ("role", Some("fleet"), a.activation_id.as_str())
    );
    s.register_node(&a.activation_id, "hash", 6, node(), "AK2", "s2").await.unwrap();
    assert!(matches!(
        s.register_node(&a.activation_id, "hash", 7, node(), "AK3", "s3").await,
        Err(StoreError::Refused(_))
    ));
    assert_eq!(s.get_activation(&sc, &a.activation_id).await.unwrap().unwrap().registrations_count, 2);
    // Expiry.
    let old = activation(5, 100);
    s.create_activation(&sc, &old, "h", &[]).await.unwrap();
    assert!(matches!(
        s.register_node(&old.activation_id, "h", 100, node(), "AK4", "s4").await,
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(s.register_node("nope", "h", 1, node(), "AK5", "s5").await, Err(StoreError::NotFound)));
    // Keys, health, listing, deregistration.
    let key = s.node_key("AK1").await.unwrap().unwrap();
    assert_eq!(
        (key.scope, key.instance_id.as_str(), key.secret_access_key.as_str(), key.deregistered),
        (sc.clone(), n1.instance_id.as_str(), "s1", false)
    );
    let mut reported = n1.clone();
    reported.agent_version = Some("3.3.0.0".into());
    reported.last_ping_ms = 50;
    assert!(s.update_node(&sc, &reported).await.unwrap());
    s.ping_node(&sc, &n1.instance_id, 60).await.unwrap();
    let got = s.get_node(&sc, &n1.instance_id).await.unwrap().unwrap();
    assert_eq!((got.agent_version.as_deref(), got.last_ping_ms), (Some("3.3.0.0"), 60));
    assert_eq!(s.list_nodes(&sc, None, 10).await.unwrap().len(), 2);
    let first = s.list_nodes(&sc, None, 1).await.unwrap();
    assert_eq!(s.list_nodes(&sc, Some(&first[0].instance_id), 10).await.unwrap().len(), 1);
    s.add_tags(&sc, "ManagedInstance", &n1.instance_id, &[Tag { key: "a".into(), value: "b".into() }], 50)
        .await
        .unwrap();
    assert!(s.deregister_node(&sc, &n1.instance_id).await.unwrap());
    assert!(!s.deregister_node(&sc, &n1.instance_id).await.unwrap());
    assert!(s.get_node(&sc, &n1.instance_id).await.unwrap().is_none());
    assert!(s.node_key("AK1").await.unwrap().unwrap().deregistered);
    assert!(s.list_tags(&sc, "ManagedInstance", &n1.instance_id).await.unwrap().is_empty());
    assert_eq!(s.list_activations(&sc, None, 10).await.unwrap().len(), 2);
    assert!(s.delete_activation(&sc, &a.activation_id).await.unwrap());
    assert!(!s.delete_activation(&sc, &a.activation_id).await.unwrap());
}

fn command(id: &str, requested_ms: i64, max_concurrency: &str, max_errors: &str) -> casement_model::Command {
    let mut c =
        casement_model::Command::new(id.into(), "AWS-RunShellScript".into(), requested_ms, requested_ms + 10_000);
    c.max_concurrency = max_concurrency.into();
    c.max_errors = max_errors.into();
    c
}

fn invocations(cmd: &casement_model::Command, nodes: &[&str]) -> Vec<casement_model::CommandInvocation> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| cmd.invocation((*n).into(), String::new(), i as u32, cmd.requested_ms + 1_000))
        .collect()
}

/// A command sent to `n` nodes `mi-00`, `mi-01`… under `max_concurrency`; returns its
/// scope, the command, and each node as a one-node list (what `Which::Instances` takes).
async fn sent_to_nodes(
    s: &dyn Store,
    id: &str,
    max_concurrency: &str,
    n: usize,
) -> (Scope, casement_model::Command, Vec<[String; 1]>) {
    let sc = scope();
    let c = command(id, 1_000, max_concurrency, "100%");
    let nodes: Vec<String> = (0..n).map(|i| format!("mi-{i:02}")).collect();
    let refs: Vec<&str> = nodes.iter().map(String::as_str).collect();
    s.create_command(&sc, c.clone(), invocations(&c, &refs)).await.unwrap();
    (sc, c, nodes.into_iter().map(|n| [n]).collect())
}

/// Updates arriving together (committed as one batch) each see the ones
/// before them: ten successes under MaxConcurrency 10 release exactly the next ten nodes,
/// once each, and the command counts all ten.
pub async fn concurrent_command_updates_settle_together(s: &dyn Store) {
    use crate::Which;
    use casement_model::InvocationState as St;
    let (sc, c, one) = sent_to_nodes(s, "2b6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11", "10", 40).await;
    let nodes: Vec<String> = one.iter().map(|[n]| n.clone()).collect();
    let mut calls = Vec::new();
    for target in &one[..10] {
        calls.push(s.update_invocations(
            &sc,
            &c.command_id,
            Which::Instances(target),
            Arc::new(|_, inv| inv.finish(St::Success, 7)),
        ));
    }
    // A change that changes nothing, and one to a command that does not exist.
    calls.push(s.update_invocations(&sc, &c.command_id, Which::Instances(&one[30]), Arc::new(|_, _| false)));
    calls.push(s.update_invocations(&sc, "3b6bb1e2-0000-0000-0000-4b0e2f1c9a11", Which::All, Arc::new(|_, _| true)));
    let results = futures_util::future::join_all(calls).await;
    let mut released = Vec::new();
    for r in &results[..10] {
        let u = r.as_ref().unwrap().as_ref().unwrap();
        assert_eq!(u.matched, 1);
        released.extend(u.changed.iter().filter(|i| i.pending_message()).map(|i| i.instance_id.clone()));
    }
    released.sort();
    assert_eq!(released, nodes[10..20], "each next node is released once");
    let noop = results[10].as_ref().unwrap().as_ref().unwrap();
    assert!(noop.changed.is_empty());
    assert!(results[11].as_ref().unwrap().is_none());
    let stored = s.get_command(&sc, &c.command_id).await.unwrap().unwrap();
    assert_eq!((stored.completed_count, stored.status.as_str()), (10, "InProgress"));
    let all = s.list_command_invocations(&sc, Some(&c.command_id), None, None, 50).await.unwrap();
    let count = |f: &dyn Fn(&casement_model::CommandInvocation) -> bool| all.iter().filter(|i| f(i)).count();
    assert_eq!(count(&|i| i.state == St::Success), 10);
    assert_eq!(count(&|i| i.pending_message()), 10);
    assert_eq!(count(&|i| !i.released), 20);
}

/// An update of every invocation in the same batch as updates of single nodes (a cancel
/// arriving with replies) sees those before it — including the nodes they released —
/// and the ones after it see it: five successes release five more nodes, the cancel
/// ends the other 15, and a success reported after the cancel changes nothing.
pub async fn a_batch_update_of_a_whole_command_sees_the_updates_before_it(s: &dyn Store) {
    use crate::Which;
    use casement_model::InvocationState as St;
    let (sc, c, one) = sent_to_nodes(s, "4c6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11", "5", 20).await;
    let succeed = || -> Arc<crate::InvocationFn> { Arc::new(|_, inv| inv.finish(St::Success, 7)) };
    let mut calls = Vec::new();
    for target in &one[..5] {
        calls.push(s.update_invocations(&sc, &c.command_id, Which::Instances(target), succeed()));
    }
    calls.push(s.update_invocations(
        &sc,
        &c.command_id,
        Which::All,
        Arc::new(|cmd, inv| {
            cmd.cancel_requested = true;
            inv.finish(St::Cancelled, 8)
        }),
    ));
    calls.push(s.update_invocations(&sc, &c.command_id, Which::Instances(&one[7]), succeed()));
    let results = futures_util::future::join_all(calls).await;
    let cancel = results[5].as_ref().unwrap().as_ref().unwrap();
    assert_eq!((cancel.matched, cancel.changed.len()), (20, 15), "the cancel sees the five successes");
    let late = results[6].as_ref().unwrap().as_ref().unwrap();
    assert!(late.changed.is_empty(), "a success after the cancel changes nothing");
    let all = s.list_command_invocations(&sc, Some(&c.command_id), None, None, 50).await.unwrap();
    let count = |st: St| all.iter().filter(|i| i.state == st).count();
    assert_eq!((count(St::Success), count(St::Cancelled)), (5, 15));
    assert!(all.iter().all(|i| !i.pending_message()), "nothing is left to deliver");
    let stored = s.get_command(&sc, &c.command_id).await.unwrap().unwrap();
    assert_eq!(stored.completed_count, 20);
}

pub async fn commands_settle_and_queue_messages(s: &dyn Store) {
    use crate::Which;
    use casement_model::InvocationState as St;
    let sc = scope();
    let c = command("0b6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11", 1_000, "1", "0");
    let created = s.create_command(&sc, c.clone(), invocations(&c, &["mi-a", "mi-b", "mi-c"])).await.unwrap();
    // MaxConcurrency 1: the first node gets the message.
    let messages = |u: &crate::CommandUpdate| -> Vec<String> {
        u.changed.iter().filter(|i| i.pending_message()).map(|i| i.instance_id.clone()).collect()
    };
    assert_eq!(messages(&created), ["mi-a"]);
    assert_eq!((created.command.target_count, created.command.status.as_str()), (3, "Pending"));
    assert!(s.node_messages(&sc, "mi-b", 10).await.unwrap().is_empty());
    let msgs = s.node_messages(&sc, "mi-a", 10).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].0.command_id, c.command_id);
    // Offered until acknowledged.
    assert_eq!(s.node_messages(&sc, "mi-a", 10).await.unwrap().len(), 1);
    let a = ["mi-a".to_string()];
    let acked = s
        .update_invocations(
            &sc,
            &c.command_id,
            Which::Instances(&a),
            Arc::new(|_, inv| {
                inv.acked = true;
                inv.state = St::InProgress;
                true
            }),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(acked.command.status, "InProgress");
    assert!(s.node_messages(&sc, "mi-a", 10).await.unwrap().is_empty());
    // A failure beyond MaxErrors 0 terminates the waiting ones.
    let failed = s
        .update_invocations(&sc, &c.command_id, Which::Instances(&a), Arc::new(|_, inv| inv.finish(St::Failed, 5)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (failed.command.status.as_str(), failed.command.completed_count, failed.command.error_count),
        ("Failed", 3, 1)
    );
    let all = s.list_command_invocations(&sc, Some(&c.command_id), None, None, 10).await.unwrap();
    let states: Vec<St> = all.iter().map(|i| i.state).collect();
    assert_eq!(states, [St::Failed, St::Terminated, St::Terminated]);
    assert!(s
        .update_invocations(&sc, "0b6bb1e2-0000-0000-0000-4b0e2f1c9a11", Which::All, Arc::new(|_, _| true))
        .await
        .unwrap()
        .is_none());
    let elsewhere = ["mi-z".to_string()];
    let none =
        s.update_invocations(&sc, &c.command_id, Which::Instances(&elsewhere), Arc::new(|_, _| true)).await.unwrap();
    assert_eq!(none.unwrap().matched, 0, "a node the command was not sent to matches nothing");
    assert_eq!(acked.matched, 1);

    // A second command: success releases the next node; deadlines come due.
    let c2 = command("1b6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11", 2_000, "1", "1");
    s.create_command(&sc, c2.clone(), invocations(&c2, &["mi-a", "mi-b"])).await.unwrap();
    let ok = s
        .update_invocations(&sc, &c2.command_id, Which::Instances(&a), Arc::new(|_, inv| inv.finish(St::Success, 6)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(messages(&ok), ["mi-b"]);
    let due = s.due_invocations(3_001, 10).await.unwrap();
    assert_eq!(due, [(sc.clone(), c2.command_id.clone(), "mi-b".to_string())]);
    let b = ["mi-b".to_string()];
    let timed_out = s
        .update_invocations(
            &sc,
            &c2.command_id,
            Which::Instances(&b),
            Arc::new(|_, inv| inv.finish(St::DeliveryTimedOut, 7)),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (timed_out.command.status.as_str(), timed_out.command.status_details.as_str()),
        ("TimedOut", "DeliveryTimedOut")
    );
    assert!(s.due_invocations(i64::MAX, 10).await.unwrap().is_empty());

    // Listing: newest first, by node, paged.
    let listed = s.list_commands(&sc, None, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|c| c.command_id.as_str()).collect::<Vec<_>>(),
        [c2.command_id.as_str(), c.command_id.as_str()]
    );
    let on_c = s.list_commands(&sc, Some("mi-c"), None, 10).await.unwrap();
    assert_eq!(on_c.len(), 1);
    let first = s.list_commands(&sc, None, None, 1).await.unwrap();
    let key = (first[0].requested_ms, first[0].command_id.clone(), String::new());
    assert_eq!(s.list_commands(&sc, None, Some(&key), 10).await.unwrap()[0].command_id, c.command_id);
    let on_a = s.list_command_invocations(&sc, None, Some("mi-a"), None, 10).await.unwrap();
    assert_eq!(on_a.len(), 2);
    let page = s.list_command_invocations(&sc, None, None, None, 2).await.unwrap();
    let last = page.last().unwrap();
    let key = (last.requested_ms, last.command_id.clone(), last.instance_id.clone());
    assert_eq!(s.list_command_invocations(&sc, None, None, Some(&key), 10).await.unwrap().len(), 3);
    let got = s.get_command_invocation(&sc, &c.command_id, "mi-a").await.unwrap().unwrap();
    assert_eq!(got.state, St::Failed);
    assert!(s.get_command(&other_scope(), &c.command_id).await.unwrap().is_none());

    // Retention: a command still running is kept; finished ones go with their invocations.
    let c3 = command("2b6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11", 3_000, "1", "0");
    s.create_command(&sc, c3.clone(), invocations(&c3, &["mi-a"])).await.unwrap();
    s.purge_history(i64::MAX).await.unwrap();
    assert!(s.get_command(&sc, &c.command_id).await.unwrap().is_none());
    assert!(s.get_command_invocation(&sc, &c.command_id, "mi-a").await.unwrap().is_none());
    assert!(s.get_command(&sc, &c2.command_id).await.unwrap().is_none());
    assert!(s.get_command(&sc, &c3.command_id).await.unwrap().is_some());
    assert_eq!(s.list_command_invocations(&sc, None, None, None, 10).await.unwrap().len(), 1);
}

fn doc_version(version: u32, content: &str) -> casement_model::DocumentVersion {
    casement_model::DocumentVersion {
        meta: casement_model::VersionMeta {
            version,
            version_name: Some(format!("v{version}")),
            format: "YAML".into(),
            hash: format!("{version:064}"),
            created_ms: i64::from(version),
            schema_version: "2.2".into(),
            description: None,
            display_name: None,
            target_type: None,
            parameters: vec![],
            platform_types: vec!["Linux".into()],
        },
        content: content.into(),
    }
}

fn doc_info(name: &str, latest: u32, default: u32) -> casement_model::DocumentInfo {
    casement_model::DocumentInfo {
        name: name.into(),
        document_type: "Command".into(),
        created_ms: 1,
        latest_version: latest,
        default_version: default,
        issued_versions: latest,
        shared_with: vec![],
        shared_version: None,
    }
}

pub async fn documents_version_and_list(s: &dyn Store) {
    let sc = scope();
    let tags = [Tag { key: "team".into(), value: "ops".into() }];
    s.create_document(&sc, &doc_info("restart", 1, 1), &doc_version(1, "one"), &tags).await.unwrap();
    assert!(matches!(
        s.create_document(&sc, &doc_info("restart", 1, 1), &doc_version(1, "again"), &[]).await,
        Err(StoreError::AlreadyExists)
    ));
    // The same name in another account is another document.
    s.create_document(&other_scope(), &doc_info("restart", 1, 1), &doc_version(1, "theirs"), &[]).await.unwrap();
    assert_eq!(s.list_tags(&sc, "Document", "restart").await.unwrap(), tags);

    // A second version, added against the latest the caller read.
    s.add_document_version(&sc, &doc_info("restart", 2, 1), &doc_version(2, "two"), 1).await.unwrap();
    assert!(matches!(
        s.add_document_version(&sc, &doc_info("restart", 2, 1), &doc_version(2, "lost"), 1).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        s.add_document_version(&sc, &doc_info("gone", 2, 1), &doc_version(2, "x"), 1).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.get_document(&sc, "restart").await.unwrap().unwrap().latest_version, 2);
    assert_eq!(s.get_document_version(&sc, "restart", 2).await.unwrap().unwrap().content, "two");
    assert_eq!(s.get_document_version(&other_scope(), "restart", 1).await.unwrap().unwrap().content, "theirs");
    let versions = s.list_document_versions(&sc, "restart", 0, 10).await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(s.list_document_versions(&sc, "restart", 1, 10).await.unwrap().len(), 1);

    // Listings carry the default version's record.
    s.create_document(&sc, &doc_info("a-first", 1, 1), &doc_version(1, "a"), &[]).await.unwrap();
    let listed = s.list_documents(&sc, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|(d, m)| (d.name.as_str(), m.version)).collect::<Vec<_>>(),
        [("a-first", 1), ("restart", 1)]
    );
    s.update_document(&sc, &doc_info("restart", 2, 2), 2).await.unwrap();
    let page = s.list_documents(&sc, Some("a-first"), 10).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].1.version, 2);

    // Deleting one version leaves the rest and rewrites the record; deleting the
    // document takes all and its tags.
    let mut after_delete = doc_info("restart", 2, 2);
    after_delete.issued_versions = 3;
    assert!(matches!(s.delete_document_version(&sc, &after_delete, 1, 1).await, Err(StoreError::Conflict)));
    assert!(s.delete_document_version(&sc, &after_delete, 1, 2).await.unwrap());
    assert_eq!(s.get_document(&sc, "restart").await.unwrap().unwrap().issued_versions, 3);
    assert!(!s.delete_document_version(&sc, &doc_info("restart", 2, 2), 1, 2).await.unwrap());
    assert_eq!(s.get_document(&sc, "restart").await.unwrap().unwrap().issued_versions, 3, "a miss writes nothing");
    assert!(s.get_document_version(&sc, "restart", 1).await.unwrap().is_none());
    assert!(s.delete_document(&sc, "restart").await.unwrap());
    assert!(s.get_document(&sc, "restart").await.unwrap().is_none());
    assert!(s.get_document_version(&sc, "restart", 2).await.unwrap().is_none());
    assert!(s.list_tags(&sc, "Document", "restart").await.unwrap().is_empty());
    assert!(!s.delete_document(&sc, "restart").await.unwrap());
    assert!(s.get_document(&other_scope(), "restart").await.unwrap().is_some());
}

pub async fn documents_shared_with_accounts(s: &dyn Store) {
    let owner = scope();
    let reader = other_scope();
    let third = Scope::new("333333333333", "us-east-1");
    s.create_document(&owner, &doc_info("shared", 1, 1), &doc_version(1, "x"), &[]).await.unwrap();
    s.create_document(&owner, &doc_info("private", 1, 1), &doc_version(1, "y"), &[]).await.unwrap();
    assert!(s.list_shared_documents(&reader, None, 10).await.unwrap().is_empty());
    let mut d = doc_info("shared", 1, 1);
    d.shared_with = vec![reader.account.clone()];
    s.update_document(&owner, &d, 1).await.unwrap();
    let seen = s.list_shared_documents(&reader, None, 10).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].0.as_str(), seen[0].1.name.as_str()), (owner.account.as_str(), "shared"));
    assert!(s.list_shared_documents(&third, None, 10).await.unwrap().is_empty());
    assert!(
        s.list_shared_documents(&owner, None, 10).await.unwrap().is_empty(),
        "the owner's own are not shared with it"
    );
    // `all` reaches every account of the region, once each.
    d.shared_with = vec![reader.account.clone(), "all".into()];
    s.update_document(&owner, &d, 1).await.unwrap();
    assert_eq!(s.list_shared_documents(&reader, None, 10).await.unwrap().len(), 1);
    assert_eq!(s.list_shared_documents(&third, None, 10).await.unwrap().len(), 1);
    let after = (owner.account.clone(), "shared".to_owned());
    assert!(s.list_shared_documents(&third, Some(&after), 10).await.unwrap().is_empty());
    assert!(s.list_shared_documents(&Scope::new("333333333333", "eu-west-1"), None, 10).await.unwrap().is_empty());
    // Unsharing and deleting take the document out of others' view.
    d.shared_with = vec![];
    s.update_document(&owner, &d, 1).await.unwrap();
    assert!(s.list_shared_documents(&third, None, 10).await.unwrap().is_empty());
    d.shared_with = vec!["all".into()];
    s.update_document(&owner, &d, 1).await.unwrap();
    s.delete_document(&owner, "shared").await.unwrap();
    assert!(s.list_shared_documents(&third, None, 10).await.unwrap().is_empty());
}

fn automation(id: &str, created_ms: i64) -> casement_model::AutomationExecution {
    casement_model::AutomationExecution {
        automation_execution_id: id.into(),
        document_name: "runbook".into(),
        document_version: "1".into(),
        content: serde_json::json!({"schemaVersion": "0.3"}),
        status: "Pending".into(),
        mode: "Auto".into(),
        parameters: Default::default(),
        typed_parameters: Default::default(),
        steps: vec![],
        current: 0,
        outputs: Default::default(),
        created_ms,
        start_ms: None,
        end_ms: None,
        failure_message: None,
        executed_by: "me".into(),
        parent_automation_execution_id: None,
        target_parameter_name: None,
        targets: vec![],
        max_concurrency: None,
        max_errors: None,
        resolved_targets: vec![],
        children_started: 0,
        cancel_requested: false,
        cancel_step: None,
        wake_ms: None,
    }
}

pub async fn automations_are_driven_by_one_owner(s: &dyn Store) {
    let sc = scope();
    let idem = Idempotency { operation: "StartAutomationExecution", token: "tok".into(), fingerprint: "f1".into() };
    let a = automation("a0000000-0000-0000-0000-000000000001", 10);
    assert_eq!(s.create_automation(&sc, &a, &[], Some(&idem), "me", 100).await.unwrap(), a.automation_execution_id);
    // A retry with the same token returns the first; other parameters are a mismatch.
    let again = automation("a0000000-0000-0000-0000-000000000009", 11);
    assert_eq!(s.create_automation(&sc, &again, &[], Some(&idem), "me", 100).await.unwrap(), a.automation_execution_id);
    let other = Idempotency { fingerprint: "f2".into(), ..idem.clone() };
    assert!(matches!(
        s.create_automation(&sc, &again, &[], Some(&other), "me", 100).await,
        Err(StoreError::IdempotencyMismatch)
    ));
    let b = automation("a0000000-0000-0000-0000-000000000002", 20);
    s.create_automation(&sc, &b, &[Tag { key: "k".into(), value: "v".into() }], None, "me", 100).await.unwrap();
    assert_eq!(s.list_tags(&sc, "Automation", &b.automation_execution_id).await.unwrap().len(), 1);
    assert!(s.get_automation(&other_scope(), &b.automation_execution_id).await.unwrap().is_none());

    // Newest first, paged by (created, id).
    let all = s.list_automations(&sc, None, 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.automation_execution_id.as_str()).collect();
    assert_eq!(ids, [b.automation_execution_id.as_str(), a.automation_execution_id.as_str()]);
    let key = (b.created_ms, b.automation_execution_id.clone());
    assert_eq!(s.list_automations(&sc, Some(&key), 10).await.unwrap().len(), 1);

    // Only the driver writes; signals are consumed in the same write.
    assert_eq!(s.running_automations(&sc).await.unwrap(), 0);
    let mut running = b.clone();
    running.status = "InProgress".into();
    let signal = casement_model::AutomationSignal {
        signal_type: "Resume".into(),
        payload: Default::default(),
        sender: "me".into(),
    };
    s.add_automation_signal(&sc, &b.automation_execution_id, &signal).await.unwrap();
    s.add_automation_signal(&sc, &b.automation_execution_id, &signal).await.unwrap();
    let signals = s.automation_signals(&sc, &b.automation_execution_id).await.unwrap();
    assert_eq!(signals.len(), 2);
    assert!(matches!(s.put_automation(&sc, &running, "you", None, &[]).await, Err(StoreError::Conflict)));
    s.put_automation(&sc, &running, "me", Some(signals[0].0), &[]).await.unwrap();
    assert_eq!(s.automation_signals(&sc, &b.automation_execution_id).await.unwrap().len(), 1);
    assert_eq!(s.running_automations(&sc).await.unwrap(), 1);
    assert_eq!(s.get_automation(&sc, &b.automation_execution_id).await.unwrap().unwrap().status, "InProgress");

    // Another owner takes over once the lease has run out; the old owner's writes stop.
    let adopted = s.adopt_automations("you", 1_000, 2_000).await.unwrap();
    assert_eq!(adopted.len(), 2);
    assert!(matches!(s.put_automation(&sc, &running, "me", None, &[]).await, Err(StoreError::Conflict)));
    running.status = "Success".into();
    running.end_ms = Some(5);
    s.put_automation(&sc, &running, "you", None, &[]).await.unwrap();
    assert_eq!(s.running_automations(&sc).await.unwrap(), 0);
    s.renew_automation_leases("you", 3_000).await.unwrap();
    // Finished ones are purged with the rest of the history.
    s.purge_history(10).await.unwrap();
    assert!(s.get_automation(&sc, &b.automation_execution_id).await.unwrap().is_none());
    assert!(s.get_automation(&sc, &a.automation_execution_id).await.unwrap().is_some());
}

/// yielding `(store, guard)`, where the guard keeps any temporary resources alive.
#[macro_export]
macro_rules! store_test_suite {
    ($make:expr) => {
        $crate::store_test_suite!(@tests $make;
            window_round_trip, scopes_are_isolated, list_pages_and_filters, idempotent_create,
            limits_are_enforced, targets_tasks_and_safe_deregister, delete_cascades, tags_overwrite_and_limit,
            due_windows_fire_once, executions_round_trip_and_page, cancel_adopt_and_purge, event_cursors,
            tagged_resources_match, writes_append_their_events, nodes_register_within_limits,
            commands_settle_and_queue_messages, concurrent_command_updates_settle_together,
            a_batch_update_of_a_whole_command_sees_the_updates_before_it, documents_version_and_list,
            documents_shared_with_accounts, automations_are_driven_by_one_owner);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _guard) = $make;
                $crate::testsuite::$name(&store).await;
            }
        )*
    };
}

#[cfg(test)]
mod sqlite_suite {
    use crate::sqlite::{SqliteStore, Synchronous};

    crate::store_test_suite!({
        let dir = tempfile::tempdir().unwrap();
        (SqliteStore::open(dir.path(), Synchronous::Normal).unwrap(), dir)
    });

    #[test]
    fn a_data_dir_has_one_owner() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SqliteStore::open(dir.path(), Synchronous::Normal).unwrap();
        let second = SqliteStore::open(dir.path(), Synchronous::Normal);
        assert!(second.is_err(), "a second store opened a data dir that is in use");
    }

    #[tokio::test]
    async fn data_survives_reopen() {
        use crate::Store;
        let dir = tempfile::tempdir().unwrap();
        let w = super::window("durable");
        {
            let s = SqliteStore::open(dir.path(), Synchronous::Normal).unwrap();
            s.create_window(&super::scope(), &w, &[], None, None, crate::NextFire::Never).await.unwrap();
        }
        let s = SqliteStore::open(dir.path(), Synchronous::Normal).unwrap();
        assert_eq!(s.get_window(&super::scope(), &w.window_id).await.unwrap().as_deref(), Some(&w));
    }
}

/// A `PgStore` in a fresh schema of the database `TEST_DATABASE_URL` names, or `None`
/// (the PostgreSQL suite is then skipped; `.ci/run` always sets it).
pub async fn pg_store() -> Option<(crate::PgStore, ())> {
    let url = std::env::var("TEST_DATABASE_URL").ok()?;
    let schema = format!("casement_test_{}", hex_id());
    let mut config: tokio_postgres::Config = url.parse().expect("TEST_DATABASE_URL is a PostgreSQL URL");
    let (admin, conn) = config.connect(tokio_postgres::NoTls).await.expect("connect to TEST_DATABASE_URL");
    tokio::spawn(conn);
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create a test schema");
    config.options(format!("-c search_path={schema}"));
    config.application_name(&schema);
    Some((crate::PgStore::connect_with(config, 4).await.expect("PgStore connects"), ()))
}

fn hex_id() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}

#[cfg(test)]
mod postgres_suite {
    use crate::Store;

    /// Connections the database drops (restart, failover) are replaced on next use.
    #[tokio::test]
    async fn reconnects_after_connections_are_dropped() {
        let Some((store, ())) = super::pg_store().await else { return };
        store.ping().await.unwrap();
        let url = std::env::var("TEST_DATABASE_URL").unwrap();
        let (admin, conn) =
            url.parse::<tokio_postgres::Config>().unwrap().connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let schema = store_schema(&store).await;
        admin
            .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", &[&schema])
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        for _ in 0..8 {
            store.ping().await.expect("a dropped connection is replaced");
        }
    }

    async fn store_schema(store: &crate::PgStore) -> String {
        store.current_schema().await.unwrap()
    }

    crate::store_test_suite!(match super::pg_store().await {
        Some(s) => s,
        None => {
            eprintln!("TEST_DATABASE_URL is not set: PostgreSQL conformance skipped");
            return;
        }
    });
}
