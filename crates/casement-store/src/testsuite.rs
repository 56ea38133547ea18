//! The store conformance suite: every behaviour callers rely on, written once against
//! `&dyn Store` and instantiated for each backend with [`store_test_suite!`].

use casement_model::{
    Scope, Tag, Target, TaskType, Window, WindowId, WindowTarget, WindowTargetId, WindowTask, WindowTaskId,
};

use crate::{Idempotency, NextFire, Store, StoreError, WindowFilter};

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

pub async fn window_round_trip(s: &dyn Store) {
    let mut w = window("a");
    w.description = Some("d".into());
    let id = s.create_window(&scope(), &w, &[], None, None, NextFire::Never).await.unwrap();
    assert_eq!(s.get_window(&scope(), &id).await.unwrap().as_deref(), Some(&w));
    w.name = "b".into();
    s.update_window(&scope(), &w, NextFire::Keep).await.unwrap();
    assert_eq!(s.get_window(&scope(), &id).await.unwrap().unwrap().name, "b");
    assert!(s.delete_window(&scope(), &id).await.unwrap());
    assert!(!s.delete_window(&scope(), &id).await.unwrap());
    assert!(matches!(s.update_window(&scope(), &w, NextFire::Keep).await, Err(StoreError::NotFound)));
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
    assert!(matches!(s.create_window(&sc, &window("2"), &[], None, Some(1), NextFire::Never).await, Err(StoreError::LimitExceeded(1))));
}

pub async fn targets_tasks_and_safe_deregister(s: &dyn Store) {
    let w = window("tt");
    s.create_window(&scope(), &w, &[], None, None, NextFire::Never).await.unwrap();
    let t = target(&w.window_id);
    s.register_target(&scope(), &t, None, None).await.unwrap();
    let k = task(
        &w.window_id,
        vec![Target { key: Some("WindowTargetIds".into()), values: Some(vec![t.window_target_id.to_string()]) }],
    );
    s.register_task(&scope(), &k, None, None).await.unwrap();
    assert_eq!(s.get_target(&scope(), &w.window_id, &t.window_target_id).await.unwrap(), Some(t.clone()));
    assert_eq!(s.list_tasks(&scope(), &w.window_id).await.unwrap(), vec![k.clone()]);
    assert!(matches!(
        s.deregister_target(&scope(), &w.window_id, &t.window_target_id, true).await,
        Err(StoreError::InUse)
    ));
    s.deregister_task(&scope(), &w.window_id, &k.window_task_id).await.unwrap();
    s.deregister_target(&scope(), &w.window_id, &t.window_target_id, true).await.unwrap();
    assert!(s.list_targets(&scope(), &w.window_id).await.unwrap().is_empty());
    // A target cannot be registered on a window that does not exist.
    let orphan = target(&WindowId::generate());
    assert!(matches!(s.register_target(&scope(), &orphan, None, None).await, Err(StoreError::NotFound)));
}

pub async fn delete_cascades(s: &dyn Store) {
    let w = window("cascade");
    let tags = [Tag { key: "k".into(), value: "v".into() }];
    s.create_window(&scope(), &w, &tags, None, None, NextFire::Never).await.unwrap();
    s.register_target(&scope(), &target(&w.window_id), None, None).await.unwrap();
    s.register_task(&scope(), &task(&w.window_id, vec![]), None, None).await.unwrap();
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
/// yielding `(store, guard)`, where the guard keeps any temporary resources alive.
#[macro_export]
macro_rules! store_test_suite {
    ($make:expr) => {
        $crate::store_test_suite!(@tests $make;
            window_round_trip, scopes_are_isolated, list_pages_and_filters, idempotent_create,
            limits_are_enforced, targets_tasks_and_safe_deregister, delete_cascades, tags_overwrite_and_limit);
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
            s.create_window(&super::scope(), &w, &[], None, None, NextFire::Never).await.unwrap();
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
