//! The multi-node backend: PostgreSQL, which several `casement serve` processes can share.
//!
//! Same schema and semantics as the SQLite backend (the conformance suite runs against
//! both). Writes that check before they insert (limits, client tokens) take a
//! transaction-scoped advisory lock on the caller's (account, region), so two nodes cannot
//! both pass a check and both insert.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use casement_model::{
    Activation, AutomationExecution, AutomationSignal, Command, CommandInvocation, DocumentInfo, DocumentVersion,
    ExecutionStatus, ManagedNode, NodeKey, Scope, Tag, TaskExecution, TaskInvocation, VersionMeta, Window,
    WindowExecution, WindowId, WindowTarget, WindowTargetId, WindowTask, WindowTaskId,
};
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Transaction};

use crate::child::Child;

mod automation;
mod documents;
mod executions;
mod nodes;
use crate::{
    Change, CommandKey, CommandUpdate, Decide, ExecutionFilter, ExecutionKey, Idempotency, InvocationFn, NextFire,
    Store, StoreError, Which, WindowFilter,
};

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_resources.sql"),
    include_str!("../../migrations/postgres/0002_executions.sql"),
    include_str!("../../migrations/postgres/0003_nodes_commands.sql"),
    include_str!("../../migrations/postgres/0004_documents.sql"),
    include_str!("../../migrations/postgres/0005_automation.sql"),
];

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The driver's Display says only "db error"; the server's message says what.
        match e.as_db_error() {
            Some(db) => StoreError::Backend(format!("{}: {}", db.code().code(), db.message())),
            None => StoreError::Backend(e.to_string()),
        }
    }
}

/// A row count as PostgreSQL's LIMIT takes it (`usize::MAX`, "all", would wrap negative).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A small pool: each connection serves one request at a time (transactions need it).
/// A connection found closed (database restart, network loss) is replaced on next use.
pub struct PgStore {
    config: tokio_postgres::Config,
    clients: Vec<Mutex<Client>>,
    next: AtomicUsize,
    /// Command updates queue here and commit in batches.
    updates: crate::group_commit::GroupCommit,
}

async fn open(config: &tokio_postgres::Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn doc<T: DeserializeOwned>(s: String) -> Result<T, StoreError> {
    Ok(serde_json::from_str(&s)?)
}

impl PgStore {
    /// Connect `pool_size` connections to `url` and bring the schema up to date.
    pub async fn connect(url: &str, pool_size: usize) -> Result<PgStore, StoreError> {
        Self::connect_with(url.parse()?, pool_size).await
    }

    pub async fn connect_with(config: tokio_postgres::Config, pool_size: usize) -> Result<PgStore, StoreError> {
        let mut clients = Vec::with_capacity(pool_size.max(1));
        for _ in 0..pool_size.max(1) {
            clients.push(Mutex::new(open(&config).await?));
        }
        let store = PgStore { config, clients, next: AtomicUsize::new(0), updates: Default::default() };
        store.migrate().await?;
        Ok(store)
    }

    /// Apply pending migrations, one node at a time (advisory lock), each in a transaction.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock(4580)", &[]).await?;
        tx.execute("CREATE TABLE IF NOT EXISTS casement_schema (version INTEGER NOT NULL)", &[]).await?;
        let current: i32 = match tx.query_opt("SELECT version FROM casement_schema", &[]).await? {
            Some(row) => row.get(0),
            None => {
                tx.execute("INSERT INTO casement_schema (version) VALUES (0)", &[]).await?;
                0
            }
        };
        if current as usize > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "the database schema (version {current}) is newer than this binary knows ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.batch_execute(sql).await?;
            tx.execute("UPDATE casement_schema SET version = $1", &[&((i + 1) as i32)]).await?;
            tracing::info!(version = i + 1, "applied PostgreSQL migration");
        }
        tx.commit().await?;
        Ok(())
    }

    /// The schema this store's connections use (tests isolate themselves by schema).
    #[doc(hidden)]
    pub async fn current_schema(&self) -> Result<String, StoreError> {
        Ok(self.client().await.query_one("SELECT current_schema()", &[]).await?.get(0))
    }

    /// A connection for a request or an orchestrator step. With more than one
    /// connection, the first is kept for the scheduler ([`Self::scheduler_client`]), so
    /// thousands of running executions cannot hold up the firing of due windows.
    async fn client(&self) -> MutexGuard<'_, Client> {
        let shared = if self.clients.len() > 1 { &self.clients[1..] } else { &self.clients[..] };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let guard = 'found: {
            for i in 0..shared.len() {
                if let Ok(guard) = shared[(start + i) % shared.len()].try_lock() {
                    break 'found guard;
                }
            }
            shared[start % shared.len()].lock().await
        };
        self.fresh(guard).await
    }

    /// The scheduler's own connection.
    async fn scheduler_client(&self) -> MutexGuard<'_, Client> {
        let guard = self.clients[0].lock().await;
        self.fresh(guard).await
    }

    /// Replace a connection the database closed (restart, network loss) before use.
    async fn fresh<'a>(&self, mut guard: MutexGuard<'a, Client>) -> MutexGuard<'a, Client> {
        if guard.is_closed() {
            match open(&self.config).await {
                Ok(fresh) => *guard = fresh,
                // Leave the closed client: this request fails with the driver's error.
                Err(e) => tracing::warn!(error = %e, "reconnecting to PostgreSQL failed"),
            }
        }
        guard
    }

    async fn query_docs<T: DeserializeOwned>(
        &self,
        sql: &str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        let client = self.client().await;
        let rows = client.query(sql, p).await?;
        rows.into_iter().map(|r| doc(r.get(0))).collect()
    }

    async fn query_doc<T: DeserializeOwned>(
        &self,
        sql: &str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<T>, StoreError> {
        let client = self.client().await;
        client.query_opt(sql, p).await?.map(|r| doc(r.get(0))).transpose()
    }

    async fn insert_child(
        &self,
        (kind, window, id): (Child, &WindowId, &str),
        scope: &Scope,
        body: &str,
        idem: Option<&Idempotency>,
        limit: Option<usize>,
        events: &[String],
    ) -> Result<String, StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        lock_scope(&tx, scope).await?;
        if let Some(id) = check_token(&tx, scope, idem).await? {
            return Ok(id);
        }
        let exists = tx
            .query_opt(
                "SELECT 1 FROM windows WHERE account = $1 AND region = $2 AND window_id = $3",
                &[&scope.account, &scope.region, &window.as_str()],
            )
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        if let Some(limit) = limit {
            let sql = kind.sql("SELECT count(*) FROM {table} WHERE account = $1 AND region = $2 AND window_id = $3");
            let n: i64 = tx.query_one(&sql, &[&scope.account, &scope.region, &window.as_str()]).await?.get(0);
            if n as usize >= limit {
                return Err(StoreError::LimitExceeded(limit));
            }
        }
        let sql = kind.sql("INSERT INTO {table} (account, region, window_id, {id}, doc) VALUES ($1, $2, $3, $4, $5)");
        tx.execute(&sql, &[&scope.account, &scope.region, &window.as_str(), &id, &body]).await?;
        record_token(&tx, scope, idem, id).await?;
        executions::put_events(&tx, events).await?;
        tx.commit().await?;
        Ok(id.to_owned())
    }

    async fn update_child(
        &self,
        kind: Child,
        scope: &Scope,
        window: &WindowId,
        id: &str,
        body: &str,
        events: &[String],
    ) -> Result<(), StoreError> {
        let sql =
            kind.sql("UPDATE {table} SET doc = $5 WHERE account = $1 AND region = $2 AND window_id = $3 AND {id} = $4");
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        match tx.execute(&sql, &[&scope.account, &scope.region, &window.as_str(), &id, &body]).await? {
            0 => Err(StoreError::NotFound),
            _ => {
                executions::put_events(&tx, events).await?;
                Ok(tx.commit().await?)
            }
        }
    }

    async fn get_child<T: DeserializeOwned>(
        &self,
        kind: Child,
        scope: &Scope,
        window: &WindowId,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let sql =
            kind.sql("SELECT doc FROM {table} WHERE account = $1 AND region = $2 AND window_id = $3 AND {id} = $4");
        self.query_doc(&sql, &[&scope.account, &scope.region, &window.as_str(), &id]).await
    }

    async fn list_children<T: DeserializeOwned>(
        &self,
        kind: Child,
        scope: &Scope,
        window: &WindowId,
    ) -> Result<Vec<T>, StoreError> {
        let sql =
            kind.sql("SELECT doc FROM {table} WHERE account = $1 AND region = $2 AND window_id = $3 ORDER BY {id}");
        self.query_docs(&sql, &[&scope.account, &scope.region, &window.as_str()]).await
    }
}

/// Serialize check-then-insert writes of one (account, region) across every node.
async fn lock_scope(tx: &Transaction<'_>, scope: &Scope) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))", &[&scope.account, &scope.region]).await?;
    Ok(())
}

async fn check_token(
    tx: &Transaction<'_>,
    scope: &Scope,
    idem: Option<&Idempotency>,
) -> Result<Option<String>, StoreError> {
    let Some(idem) = idem else { return Ok(None) };
    let row = tx
        .query_opt(
            "SELECT fingerprint, resource_id FROM idempotency_tokens
             WHERE account = $1 AND region = $2 AND operation = $3 AND client_token = $4",
            &[&scope.account, &scope.region, &idem.operation, &idem.token],
        )
        .await?;
    match row {
        Some(r) if r.get::<_, String>(0) == idem.fingerprint => Ok(Some(r.get(1))),
        Some(_) => Err(StoreError::IdempotencyMismatch),
        None => Ok(None),
    }
}

async fn record_token(
    tx: &Transaction<'_>,
    scope: &Scope,
    idem: Option<&Idempotency>,
    id: &str,
) -> Result<(), StoreError> {
    if let Some(idem) = idem {
        tx.execute(
            "INSERT INTO idempotency_tokens (account, region, operation, client_token, fingerprint, resource_id, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&scope.account, &scope.region, &idem.operation, &idem.token, &idem.fingerprint, &id, &now_ms()],
        )
        .await?;
    }
    Ok(())
}

/// Delete every tag of one resource (it is being deleted).
async fn drop_tags(tx: &Transaction<'_>, scope: &Scope, rtype: &str, rid: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM tags WHERE account = $1 AND region = $2 AND resource_type = $3 AND resource_id = $4",
        &[&scope.account, &scope.region, &rtype, &rid],
    )
    .await?;
    Ok(())
}

async fn put_tags(tx: &Transaction<'_>, scope: &Scope, rtype: &str, rid: &str, tags: &[Tag]) -> Result<(), StoreError> {
    for t in tags {
        tx.execute(
            "INSERT INTO tags (account, region, resource_type, resource_id, tag_key, tag_value)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account, region, resource_type, resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
            &[&scope.account, &scope.region, &rtype, &rid, &t.key, &t.value],
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.client().await.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn create_window(
        &self,
        scope: &Scope,
        window: &Window,
        tags: &[Tag],
        idem: Option<&Idempotency>,
        limit: Option<usize>,
        next_fire: NextFire,
    ) -> Result<WindowId, StoreError> {
        let body = serde_json::to_string(window)?;
        let next = next_fire.ms();
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        lock_scope(&tx, scope).await?;
        if let Some(id) = check_token(&tx, scope, idem).await? {
            return Ok(WindowId::from(id));
        }
        if let Some(limit) = limit {
            let n: i64 = tx
                .query_one(
                    "SELECT count(*) FROM windows WHERE account = $1 AND region = $2",
                    &[&scope.account, &scope.region],
                )
                .await?
                .get(0);
            if n as usize >= limit {
                return Err(StoreError::LimitExceeded(limit));
            }
        }
        tx.execute(
            "INSERT INTO windows (account, region, window_id, name, enabled, doc, next_fire_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&scope.account, &scope.region, &window.window_id.as_str(), &window.name, &window.enabled, &body, &next],
        )
        .await?;
        put_tags(&tx, scope, "MaintenanceWindow", window.window_id.as_str(), tags).await?;
        record_token(&tx, scope, idem, window.window_id.as_str()).await?;
        tx.commit().await?;
        Ok(window.window_id.clone())
    }

    async fn get_window(&self, scope: &Scope, id: &WindowId) -> Result<Option<Arc<Window>>, StoreError> {
        let w: Option<Window> = self
            .query_doc(
                "SELECT doc FROM windows WHERE account = $1 AND region = $2 AND window_id = $3",
                &[&scope.account, &scope.region, &id.as_str()],
            )
            .await?;
        Ok(w.map(Arc::new))
    }

    async fn update_window(
        &self,
        scope: &Scope,
        window: &Window,
        next_fire: NextFire,
        events: &[String],
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(window)?;
        let mut client = self.client().await;
        let client = client.transaction().await?;
        let (id, name, enabled) = (window.window_id.as_str(), &window.name, &window.enabled);
        let n = match next_fire {
            NextFire::Keep => {
                client
                    .execute(
                        "UPDATE windows SET name = $4, enabled = $5, doc = $6
                         WHERE account = $1 AND region = $2 AND window_id = $3",
                        &[&scope.account, &scope.region, &id, name, enabled, &body],
                    )
                    .await?
            }
            NextFire::At(_) | NextFire::Never => {
                let next = next_fire.ms();
                client
                    .execute(
                        "UPDATE windows SET name = $4, enabled = $5, doc = $6, next_fire_ms = $7
                         WHERE account = $1 AND region = $2 AND window_id = $3",
                        &[&scope.account, &scope.region, &id, name, enabled, &body, &next],
                    )
                    .await?
            }
        };
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        executions::put_events(&client, events).await?;
        Ok(client.commit().await?)
    }

    async fn delete_window(&self, scope: &Scope, id: &WindowId) -> Result<bool, StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let p: [&(dyn ToSql + Sync); 3] = [&scope.account, &scope.region, &id.as_str()];
        let n = tx.execute("DELETE FROM windows WHERE account = $1 AND region = $2 AND window_id = $3", &p).await?;
        tx.execute("DELETE FROM window_targets WHERE account = $1 AND region = $2 AND window_id = $3", &p).await?;
        tx.execute("DELETE FROM window_tasks WHERE account = $1 AND region = $2 AND window_id = $3", &p).await?;
        tx.execute(
            "DELETE FROM tags WHERE account = $1 AND region = $2 AND resource_type = 'MaintenanceWindow' AND resource_id = $3",
            &p,
        )
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn list_windows(
        &self,
        scope: &Scope,
        filter: &WindowFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Window>, StoreError> {
        // Prefix match with starts_with: no LIKE escaping of the caller's text needed.
        self.query_docs(
            "SELECT doc FROM windows
             WHERE account = $1 AND region = $2 AND window_id > $3
               AND ($4::BOOLEAN IS NULL OR enabled = $4)
               AND (cardinality($5::TEXT[]) = 0 OR EXISTS (SELECT 1 FROM unnest($5::TEXT[]) p WHERE starts_with(name, p)))
             ORDER BY window_id LIMIT $6",
            &[&scope.account, &scope.region, &after.unwrap_or(""), &filter.enabled, &filter.name_prefixes, &sql_limit(limit)],
        )
        .await
    }

    async fn register_target(
        &self,
        scope: &Scope,
        target: &WindowTarget,
        idem: Option<&Idempotency>,
        limit: Option<usize>,
        events: &[String],
    ) -> Result<WindowTargetId, StoreError> {
        let body = serde_json::to_string(target)?;
        let id = target.window_target_id.as_str();
        self.insert_child((Child::Target, &target.window_id, id), scope, &body, idem, limit, events)
            .await
            .map(WindowTargetId::from)
    }

    async fn get_target(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTargetId,
    ) -> Result<Option<WindowTarget>, StoreError> {
        self.get_child(Child::Target, scope, window, id.as_str()).await
    }

    async fn update_target(&self, scope: &Scope, target: &WindowTarget, events: &[String]) -> Result<(), StoreError> {
        let body = serde_json::to_string(target)?;
        self.update_child(Child::Target, scope, &target.window_id, target.window_target_id.as_str(), &body, events)
            .await
    }

    async fn deregister_target(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTargetId,
        safe: bool,
        events: &[String],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        if safe {
            let rows = tx
                .query(
                    "SELECT doc FROM window_tasks WHERE account = $1 AND region = $2 AND window_id = $3 FOR SHARE",
                    &[&scope.account, &scope.region, &window.as_str()],
                )
                .await?;
            for r in rows {
                let task: WindowTask = doc(r.get(0))?;
                if task.window_target_ids().any(|t| t == id.as_str()) {
                    return Err(StoreError::InUse);
                }
            }
        }
        let n = tx
            .execute(
                "DELETE FROM window_targets WHERE account = $1 AND region = $2 AND window_id = $3 AND window_target_id = $4",
                &[&scope.account, &scope.region, &window.as_str(), &id.as_str()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        executions::put_events(&tx, events).await?;
        Ok(tx.commit().await?)
    }

    async fn list_targets(&self, scope: &Scope, window: &WindowId) -> Result<Vec<WindowTarget>, StoreError> {
        self.list_children(Child::Target, scope, window).await
    }

    async fn list_all_targets(&self, scope: &Scope) -> Result<Vec<WindowTarget>, StoreError> {
        self.query_docs(
            "SELECT doc FROM window_targets WHERE account = $1 AND region = $2 ORDER BY window_id, window_target_id",
            &[&scope.account, &scope.region],
        )
        .await
    }

    async fn register_task(
        &self,
        scope: &Scope,
        task: &WindowTask,
        idem: Option<&Idempotency>,
        limit: Option<usize>,
        events: &[String],
    ) -> Result<WindowTaskId, StoreError> {
        let body = serde_json::to_string(task)?;
        let id = task.window_task_id.as_str();
        self.insert_child((Child::Task, &task.window_id, id), scope, &body, idem, limit, events)
            .await
            .map(WindowTaskId::from)
    }

    async fn get_task(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTaskId,
    ) -> Result<Option<WindowTask>, StoreError> {
        self.get_child(Child::Task, scope, window, id.as_str()).await
    }

    async fn update_task(&self, scope: &Scope, task: &WindowTask, events: &[String]) -> Result<(), StoreError> {
        let body = serde_json::to_string(task)?;
        self.update_child(Child::Task, scope, &task.window_id, task.window_task_id.as_str(), &body, events).await
    }

    async fn deregister_task(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTaskId,
        events: &[String],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "DELETE FROM window_tasks WHERE account = $1 AND region = $2 AND window_id = $3 AND window_task_id = $4",
                &[&scope.account, &scope.region, &window.as_str(), &id.as_str()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        executions::put_events(&tx, events).await?;
        Ok(tx.commit().await?)
    }

    async fn list_tasks(&self, scope: &Scope, window: &WindowId) -> Result<Vec<WindowTask>, StoreError> {
        self.list_children(Child::Task, scope, window).await
    }

    async fn add_tags(
        &self,
        scope: &Scope,
        rtype: &str,
        rid: &str,
        tags: &[Tag],
        max_tags: usize,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        lock_scope(&tx, scope).await?;
        put_tags(&tx, scope, rtype, rid, tags).await?;
        let n: i64 = tx
            .query_one(
                "SELECT count(*) FROM tags WHERE account = $1 AND region = $2 AND resource_type = $3 AND resource_id = $4",
                &[&scope.account, &scope.region, &rtype, &rid],
            )
            .await?
            .get(0);
        if n as usize > max_tags {
            // Dropping the transaction rolls it back: nothing was added.
            return Err(StoreError::TooManyTags);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_tags(&self, scope: &Scope, rtype: &str, rid: &str, keys: &[String]) -> Result<(), StoreError> {
        let client = self.client().await;
        client
            .execute(
                "DELETE FROM tags WHERE account = $1 AND region = $2 AND resource_type = $3 AND resource_id = $4 AND tag_key = ANY($5)",
                &[&scope.account, &scope.region, &rtype, &rid, &keys],
            )
            .await?;
        Ok(())
    }

    async fn list_tags(&self, scope: &Scope, rtype: &str, rid: &str) -> Result<Vec<Tag>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query(
                "SELECT tag_key, tag_value FROM tags
                 WHERE account = $1 AND region = $2 AND resource_type = $3 AND resource_id = $4 ORDER BY tag_key",
                &[&scope.account, &scope.region, &rtype, &rid],
            )
            .await?;
        Ok(rows.into_iter().map(|r| Tag { key: r.get(0), value: r.get(1) }).collect())
    }

    async fn tagged_resources(
        &self,
        scope: &Scope,
        rtype: &str,
        key: &str,
        values: &[String],
    ) -> Result<Vec<String>, StoreError> {
        self.pg_tagged_resources(scope, rtype, key, values).await
    }

    async fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        self.pg_next_due_ms().await
    }

    async fn unscheduled_windows(&self) -> Result<Vec<(Scope, Window)>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query("SELECT account, region, doc FROM windows WHERE enabled AND next_fire_ms IS NULL", &[])
            .await?;
        rows.into_iter().map(|r| Ok((Scope { account: r.get(0), region: r.get(1) }, doc(r.get(2))?))).collect()
    }

    async fn fire_due(
        &self,
        now_ms: i64,
        limit: usize,
        owner: &str,
        lease_until_ms: i64,
        decide: &Decide,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError> {
        self.pg_fire_due(now_ms, limit, owner, lease_until_ms, decide).await
    }

    async fn apply(&self, scope: &Scope, changes: &[Change]) -> Result<(), StoreError> {
        self.pg_apply(scope, changes).await
    }

    async fn adopt_executions(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError> {
        self.pg_adopt(owner, now_ms, lease_until_ms).await
    }

    async fn renew_leases(&self, owner: &str, lease_until_ms: i64) -> Result<(), StoreError> {
        self.pg_renew(owner, lease_until_ms).await
    }

    async fn request_cancel(&self, scope: &Scope, id: &str) -> Result<Option<WindowExecution>, StoreError> {
        self.pg_request_cancel(scope, id).await
    }

    async fn get_execution(&self, scope: &Scope, id: &str) -> Result<Option<WindowExecution>, StoreError> {
        self.pg_get_execution(scope, id).await
    }

    async fn list_executions(
        &self,
        scope: &Scope,
        window: &WindowId,
        filter: &ExecutionFilter,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<WindowExecution>, StoreError> {
        self.pg_list_executions(scope, window, filter, after, limit).await
    }

    async fn list_task_executions(&self, scope: &Scope, execution: &str) -> Result<Vec<TaskExecution>, StoreError> {
        self.pg_list_task_executions(scope, execution).await
    }

    async fn get_task_execution(
        &self,
        scope: &Scope,
        execution: &str,
        task_execution: &str,
    ) -> Result<Option<TaskExecution>, StoreError> {
        self.query_doc(
            "SELECT doc FROM task_executions
             WHERE account = $1 AND region = $2 AND window_execution_id = $3 AND task_execution_id = $4",
            &[&scope.account, &scope.region, &execution, &task_execution],
        )
        .await
    }

    async fn list_invocations(
        &self,
        scope: &Scope,
        task_execution: &str,
        statuses: &[ExecutionStatus],
        after_seq: Option<u32>,
        limit: usize,
    ) -> Result<Vec<TaskInvocation>, StoreError> {
        self.pg_list_invocations(scope, task_execution, statuses, after_seq, limit).await
    }

    async fn get_invocation(
        &self,
        scope: &Scope,
        execution: &str,
        task_execution: &str,
        invocation: &str,
    ) -> Result<Option<Arc<TaskInvocation>>, StoreError> {
        let found: Option<TaskInvocation> = self
            .query_doc(
                "SELECT doc FROM task_invocations
                 WHERE account = $1 AND region = $2 AND invocation_id = $3
                   AND task_execution_id = $4 AND window_execution_id = $5",
                &[&scope.account, &scope.region, &invocation, &task_execution, &execution],
            )
            .await?;
        Ok(found.map(Arc::new))
    }

    async fn purge_history(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.pg_purge(before_ms).await
    }

    async fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        self.pg_events_after(after_seq, limit).await
    }

    async fn event_cursor(&self, sink: &str) -> Result<i64, StoreError> {
        let client = self.client().await;
        Ok(client.query_opt("SELECT seq FROM event_cursors WHERE sink = $1", &[&sink]).await?.map_or(0, |r| r.get(0)))
    }

    async fn set_event_cursor(&self, sink: &str, seq: i64) -> Result<(), StoreError> {
        let client = self.client().await;
        client
            .execute(
                "INSERT INTO event_cursors (sink, seq) VALUES ($1, $2)
                 ON CONFLICT (sink) DO UPDATE SET seq = greatest(event_cursors.seq, excluded.seq)",
                &[&sink, &seq],
            )
            .await?;
        Ok(())
    }

    async fn create_activation(
        &self,
        scope: &Scope,
        activation: &Activation,
        code_sha256: &str,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        self.create_activation_pg(scope, activation, code_sha256, tags).await
    }

    async fn get_activation(&self, scope: &Scope, id: &str) -> Result<Option<Activation>, StoreError> {
        self.get_activation_pg(scope, id).await
    }

    async fn list_activations(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Activation>, StoreError> {
        self.list_activations_pg(scope, after, limit).await
    }

    async fn create_automation(
        &self,
        scope: &Scope,
        execution: &AutomationExecution,
        tags: &[Tag],
        idempotency: Option<&Idempotency>,
        owner: &str,
        lease_until_ms: i64,
    ) -> Result<String, StoreError> {
        self.create_automation_pg(scope, execution, tags, idempotency, owner, lease_until_ms).await
    }

    async fn put_automation(
        &self,
        scope: &Scope,
        execution: &AutomationExecution,
        owner: &str,
        consumed: Option<i64>,
        events: &[String],
    ) -> Result<(), StoreError> {
        self.put_automation_pg(scope, execution, owner, consumed, events).await
    }

    async fn get_automation(&self, scope: &Scope, id: &str) -> Result<Option<AutomationExecution>, StoreError> {
        self.get_automation_pg(scope, id).await
    }

    async fn list_automations(
        &self,
        scope: &Scope,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<AutomationExecution>, StoreError> {
        self.list_automations_pg(scope, after, limit).await
    }

    async fn add_automation_signal(
        &self,
        scope: &Scope,
        id: &str,
        signal: &AutomationSignal,
    ) -> Result<(), StoreError> {
        self.add_automation_signal_pg(scope, id, signal).await
    }

    async fn automation_signals(&self, scope: &Scope, id: &str) -> Result<Vec<(i64, AutomationSignal)>, StoreError> {
        self.automation_signals_pg(scope, id).await
    }

    async fn adopt_automations(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<(Scope, AutomationExecution)>, StoreError> {
        self.adopt_automations_pg(owner, now_ms, lease_until_ms).await
    }

    async fn renew_automation_leases(&self, owner: &str, lease_until_ms: i64) -> Result<(), StoreError> {
        self.renew_automation_leases_pg(owner, lease_until_ms).await
    }

    async fn running_automations(&self, scope: &Scope) -> Result<usize, StoreError> {
        self.running_automations_pg(scope).await
    }

    async fn delete_activation(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        self.delete_activation_pg(scope, id).await
    }

    async fn create_document(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        version: &DocumentVersion,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        self.create_document_pg(scope, document, version, tags).await
    }

    async fn get_document(&self, scope: &Scope, name: &str) -> Result<Option<DocumentInfo>, StoreError> {
        self.get_document_pg(scope, name).await
    }

    async fn get_document_version(
        &self,
        scope: &Scope,
        name: &str,
        version: u32,
    ) -> Result<Option<DocumentVersion>, StoreError> {
        self.get_document_version_pg(scope, name, version).await
    }

    async fn list_document_versions(
        &self,
        scope: &Scope,
        name: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        self.list_document_versions_pg(scope, name, after, limit).await
    }

    async fn add_document_version(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        version: &DocumentVersion,
        expected_latest: u32,
    ) -> Result<(), StoreError> {
        self.add_document_version_pg(scope, document, version, expected_latest).await
    }

    async fn update_document(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        expected_latest: u32,
    ) -> Result<(), StoreError> {
        self.update_document_pg(scope, document, expected_latest).await
    }

    async fn delete_document(&self, scope: &Scope, name: &str) -> Result<bool, StoreError> {
        self.delete_document_pg(scope, name).await
    }

    async fn delete_document_version(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        version: u32,
        expected_latest: u32,
    ) -> Result<bool, StoreError> {
        self.delete_document_version_pg(scope, document, version, expected_latest).await
    }

    async fn list_documents(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(DocumentInfo, VersionMeta)>, StoreError> {
        self.list_documents_pg(scope, after, limit).await
    }

    async fn list_shared_documents(
        &self,
        scope: &Scope,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> Result<Vec<(String, DocumentInfo, VersionMeta)>, StoreError> {
        self.list_shared_documents_pg(scope, after, limit).await
    }

    async fn register_node(
        &self,
        activation_id: &str,
        code_sha256: &str,
        now_ms: i64,
        node: ManagedNode,
        access_key_id: &str,
        secret: &str,
    ) -> Result<(Scope, ManagedNode), StoreError> {
        self.register_node_pg(activation_id, code_sha256, now_ms, node, access_key_id, secret).await
    }

    async fn node_key(&self, access_key_id: &str) -> Result<Option<NodeKey>, StoreError> {
        self.node_key_pg(access_key_id).await
    }

    async fn update_node(&self, scope: &Scope, node: &ManagedNode) -> Result<bool, StoreError> {
        self.update_node_pg(scope, node).await
    }

    async fn ping_node(&self, scope: &Scope, id: &str, now_ms: i64) -> Result<(), StoreError> {
        self.ping_node_pg(scope, id, now_ms).await
    }

    async fn get_node(&self, scope: &Scope, id: &str) -> Result<Option<ManagedNode>, StoreError> {
        self.get_node_pg(scope, id).await
    }

    async fn list_nodes(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ManagedNode>, StoreError> {
        self.list_nodes_pg(scope, after, limit).await
    }

    async fn deregister_node(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        self.deregister_node_pg(scope, id).await
    }

    async fn create_command(
        &self,
        scope: &Scope,
        command: Command,
        invocations: Vec<CommandInvocation>,
    ) -> Result<CommandUpdate, StoreError> {
        self.create_command_pg(scope, command, invocations).await
    }

    async fn update_invocations(
        &self,
        scope: &Scope,
        command_id: &str,
        which: Which<'_>,
        f: Arc<InvocationFn>,
    ) -> Result<Option<CommandUpdate>, StoreError> {
        let update = crate::group_commit::Update::new(scope, command_id, which, f);
        self.updates.submit(update, self).await
    }

    async fn get_command(&self, scope: &Scope, id: &str) -> Result<Option<Command>, StoreError> {
        self.get_command_pg(scope, id).await
    }

    async fn list_commands(
        &self,
        scope: &Scope,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<Command>, StoreError> {
        self.list_commands_pg(scope, instance, after, limit).await
    }

    async fn get_command_invocation(
        &self,
        scope: &Scope,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Option<CommandInvocation>, StoreError> {
        self.get_command_invocation_pg(scope, command_id, instance_id).await
    }

    async fn list_command_invocations(
        &self,
        scope: &Scope,
        command: Option<&str>,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<CommandInvocation>, StoreError> {
        self.list_command_invocations_pg(scope, command, instance, after, limit).await
    }

    async fn node_messages(
        &self,
        scope: &Scope,
        instance_id: &str,
        limit: usize,
    ) -> Result<Vec<(Command, CommandInvocation)>, StoreError> {
        self.node_messages_pg(scope, instance_id, limit).await
    }

    async fn due_invocations(&self, now_ms: i64, limit: usize) -> Result<Vec<(Scope, String, String)>, StoreError> {
        self.due_invocations_pg(now_ms, limit).await
    }
}
