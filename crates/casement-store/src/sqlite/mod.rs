//! The embedded backend: one SQLite file in WAL mode, owned by this process through one
//! connection in exclusive locking mode.
//!
//! Exclusive mode is what makes reads cheap: a normal WAL reader takes and drops POSIX
//! file locks around every statement (measured: a tenth of a GetMaintenanceWindow's CPU
//! went to `fcntl`), an exclusive one does not. It also stops a second server from
//! opening the same data dir by mistake. Statements are point lookups and short range
//! scans that finish in microseconds, so they run on the calling task under the
//! connection mutex rather than hopping to a blocking thread.

mod automation;
mod commands;
mod documents;
mod executions;
mod migrate;
mod nodes;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use casement_model::{
    insert_bounded, Activation, AutomationExecution, AutomationSignal, Command, CommandInvocation, DocumentInfo,
    DocumentVersion, ExecutionStatus, FastMap, ManagedNode, NodeKey, Scope, Tag, TaskExecution, TaskInvocation,
    VersionMeta, Window, WindowExecution, WindowId, WindowTarget, WindowTargetId, WindowTask, WindowTaskId,
};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;

use crate::child::Child;
use crate::{
    Change, CommandKey, CommandUpdate, Decide, ExecutionFilter, ExecutionKey, Idempotency, InvocationFn, NextFire,
    Store, StoreError, Which, WindowFilter,
};

/// How hard commits push to disk. `Normal` (the default) survives any process crash,
/// which is what "killing the server loses nothing" needs; `Full` also survives power
/// loss at the cost of an fsync per write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    Normal,
    Full,
}

pub struct SqliteStore {
    /// Shared only with the checkpointer thread, which holds it for one checkpoint at a
    /// time and ends when the store is dropped.
    conn: Arc<Mutex<Connection>>,
    /// Windows already read or written, by ID (IDs are random and unique across scopes;
    /// the scope is checked on every hit). The exclusive lock makes this process the
    /// database's only writer, so the cache is exact: it is filled and changed only while
    /// the connection mutex is held, in the same critical section as the statement.
    /// GetMaintenanceWindow, the hottest read, then costs a map lookup and no SQL.
    windows: RwLock<FastMap<String, (Scope, Arc<Window>)>>,
    /// Finished invocations read by GetMaintenanceWindowExecutionTaskInvocation, by ID.
    /// Exact for the same reason as `windows`: every write passes through this process
    /// (an upsert replaces the entry, a purge empties the cache).
    invocations: RwLock<FastMap<String, (Scope, Arc<TaskInvocation>)>>,
    /// Commands, by ID, as last committed (exact for the same reason): a reply settles its
    /// command without parsing the stored document.
    commands: RwLock<FastMap<String, (Scope, Arc<Command>)>>,
    /// Command updates queue here and commit in batches.
    updates: crate::group_commit::GroupCommit,
}

/// Beyond this many cached windows the cache starts over (a bound, not an LRU: windows
/// are few per account, and a miss costs one indexed read).
const WINDOW_CACHE_MAX: usize = 100_000;

impl SqliteStore {
    /// Open (creating if needed) `dir/casement.db` and bring its schema up to date.
    pub fn open(dir: &Path, sync: Synchronous) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend(format!("{}: {e}", dir.display())))?;
        let path = dir.join("casement.db");
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_millis(500))?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if sync == Synchronous::Full { "FULL" } else { "NORMAL" })?;
        // Checkpoints run on their own thread (see `checkpointer`), not inside whichever
        // request's commit crosses the threshold.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Plans must not depend on bound values: otherwise every statement with a bound
        // `LIMIT ?` (each listing page, a node's message poll) is marked to be recompiled
        // on every bind (measured: 7 % of the server's time under 1,000 polling agents).
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        // Take the exclusive lock now, so a second server on this data dir fails at start
        // (after a short wait: a server that was just killed may still be exiting).
        conn.execute_batch("BEGIN IMMEDIATE; COMMIT;").map_err(|e| {
            StoreError::Backend(format!("{}: {e} (is another casement using this data dir?)", path.display()))
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate::run(&mut conn)?;
        let conn = Arc::new(Mutex::new(conn));
        let weak = Arc::downgrade(&conn);
        std::thread::Builder::new()
            .name("casement-checkpoint".into())
            .spawn(move || checkpointer(weak))
            .map_err(|e| StoreError::Backend(format!("starting the checkpointer: {e}")))?;
        Ok(Self {
            conn,
            windows: RwLock::default(),
            invocations: RwLock::default(),
            commands: RwLock::default(),
            updates: crate::group_commit::GroupCommit::default(),
        })
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.write_then(f, |_| {})
    }

    /// Run `f` in a write transaction and, once it has committed and while the connection
    /// is still held, `after` (which keeps the window cache in step).
    fn write_then<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
        after: impl FnOnce(&T),
    ) -> Result<T, StoreError> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        after(&out);
        Ok(out)
    }

    fn cache_window(&self, scope: &Scope, w: Arc<Window>) {
        let mut map = self.windows.write().unwrap_or_else(|p| p.into_inner());
        insert_bounded(&mut map, WINDOW_CACHE_MAX, w.window_id.as_str().to_owned(), (scope.clone(), w));
    }

    fn uncache_window(&self, id: &WindowId) {
        self.windows.write().unwrap_or_else(|p| p.into_inner()).remove(id.as_str());
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Copies the WAL back into the database every [`CHECKPOINT_EVERY`] (a PASSIVE checkpoint:
/// what is committed; an idle WAL costs a header read). SQLite's automatic checkpoint
/// runs inside the commit that crosses its threshold, and under a fleet's replies that
/// was SendCommand's commit of a thousand rows more often than not: a stall of tens of
/// milliseconds on the command's delivery path (BENCHMARKS.md). Durability is unchanged:
/// a commit is durable in the WAL; the checkpoint only bounds the WAL's size. Ends when
/// the store is dropped.
fn checkpointer(conn: std::sync::Weak<Mutex<Connection>>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Some(conn) = conn.upgrade() else { return };
        let guard = lock(&conn);
        if let Err(e) = guard.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// A poisoned mutex only means another request panicked mid-statement; SQLite rolled
/// its transaction back, so the connection is still sound.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn doc<T: DeserializeOwned>(s: String) -> Result<T, StoreError> {
    Ok(serde_json::from_str(&s)?)
}

/// Look up a client token. `Some(id)` means an identical request already succeeded.
fn check_token(tx: &Transaction<'_>, scope: &Scope, idem: Option<&Idempotency>) -> Result<Option<String>, StoreError> {
    let Some(idem) = idem else { return Ok(None) };
    let row: Option<(String, String)> = tx
        .query_row(
            "SELECT fingerprint, resource_id FROM idempotency_tokens
             WHERE account = ?1 AND region = ?2 AND operation = ?3 AND client_token = ?4",
            params![scope.account, scope.region, idem.operation, idem.token],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        Some((fp, id)) if fp == idem.fingerprint => Ok(Some(id)),
        Some(_) => Err(StoreError::IdempotencyMismatch),
        None => Ok(None),
    }
}

fn record_token(tx: &Transaction<'_>, scope: &Scope, idem: Option<&Idempotency>, id: &str) -> Result<(), StoreError> {
    if let Some(idem) = idem {
        tx.execute(
            "INSERT INTO idempotency_tokens (account, region, operation, client_token, fingerprint, resource_id, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![scope.account, scope.region, idem.operation, idem.token, idem.fingerprint, id, now_ms()],
        )?;
    }
    Ok(())
}

fn window_exists(tx: &Transaction<'_>, scope: &Scope, id: &WindowId) -> Result<bool, StoreError> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM windows WHERE account = ?1 AND region = ?2 AND window_id = ?3",
            params![scope.account, scope.region, id.as_str()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn count(tx: &Transaction<'_>, sql: &str, p: impl rusqlite::Params) -> Result<usize, StoreError> {
    Ok(tx.query_row(sql, p, |r| r.get::<_, i64>(0))? as usize)
}

/// Delete every tag of one resource (it is being deleted).
fn drop_tags(tx: &Transaction<'_>, scope: &Scope, rtype: &str, rid: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM tags WHERE account = ?1 AND region = ?2 AND resource_type = ?3 AND resource_id = ?4",
        params![scope.account, scope.region, rtype, rid],
    )?;
    Ok(())
}

fn put_tags(tx: &Transaction<'_>, scope: &Scope, rtype: &str, rid: &str, tags: &[Tag]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO tags (account, region, resource_type, resource_id, tag_key, tag_value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (account, region, resource_type, resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
    )?;
    for t in tags {
        stmt.execute(params![scope.account, scope.region, rtype, rid, t.key, t.value])?;
    }
    Ok(())
}

impl SqliteStore {
    fn query_docs<T: DeserializeOwned>(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<T>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(p, |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(doc(row?)?);
        }
        Ok(out)
    }

    fn query_doc<T: DeserializeOwned>(&self, sql: &str, p: impl rusqlite::Params) -> Result<Option<T>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(sql)?;
        let s: Option<String> = stmt.query_row(p, |r| r.get(0)).optional()?;
        s.map(doc).transpose()
    }
}

impl SqliteStore {
    /// Insert a target or task in one transaction with its checks: an earlier identical
    /// request (client token), the window's existence, the per-window limit.
    fn insert_child(
        &self,
        (kind, window, id): (Child, &WindowId, &str),
        scope: &Scope,
        body: &str,
        idem: Option<&Idempotency>,
        limit: Option<usize>,
        events: &[String],
    ) -> Result<String, StoreError> {
        self.write(|tx| {
            if let Some(id) = check_token(tx, scope, idem)? {
                return Ok(id);
            }
            if !window_exists(tx, scope, window)? {
                return Err(StoreError::NotFound);
            }
            if let Some(limit) = limit {
                let sql =
                    kind.sql("SELECT count(*) FROM {table} WHERE account = ?1 AND region = ?2 AND window_id = ?3");
                if count(tx, &sql, params![scope.account, scope.region, window.as_str()])? >= limit {
                    return Err(StoreError::LimitExceeded(limit));
                }
            }
            let sql =
                kind.sql("INSERT INTO {table} (account, region, window_id, {id}, doc) VALUES (?1, ?2, ?3, ?4, ?5)");
            tx.execute(&sql, params![scope.account, scope.region, window.as_str(), id, body])?;
            record_token(tx, scope, idem, id)?;
            executions::put_events(tx, events)?;
            Ok(id.to_owned())
        })
    }

    fn update_child(
        &self,
        kind: Child,
        scope: &Scope,
        window: &WindowId,
        id: &str,
        body: &str,
        events: &[String],
    ) -> Result<(), StoreError> {
        let sql =
            kind.sql("UPDATE {table} SET doc = ?5 WHERE account = ?1 AND region = ?2 AND window_id = ?3 AND {id} = ?4");
        self.write(|tx| match tx.execute(&sql, params![scope.account, scope.region, window.as_str(), id, body])? {
            0 => Err(StoreError::NotFound),
            _ => executions::put_events(tx, events),
        })
    }

    fn get_child<T: DeserializeOwned>(
        &self,
        kind: Child,
        scope: &Scope,
        window: &WindowId,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let sql =
            kind.sql("SELECT doc FROM {table} WHERE account = ?1 AND region = ?2 AND window_id = ?3 AND {id} = ?4");
        self.query_doc(&sql, params![scope.account, scope.region, window.as_str(), id])
    }

    fn list_children<T: DeserializeOwned>(
        &self,
        kind: Child,
        scope: &Scope,
        window: &WindowId,
    ) -> Result<Vec<T>, StoreError> {
        let sql =
            kind.sql("SELECT doc FROM {table} WHERE account = ?1 AND region = ?2 AND window_id = ?3 ORDER BY {id}");
        self.query_docs(&sql, params![scope.account, scope.region, window.as_str()])
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.reader().query_row("SELECT 1", [], |_| Ok(()))?;
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
        self.write_then(
            |tx| {
                if let Some(id) = check_token(tx, scope, idem)? {
                    return Ok(WindowId::from(id));
                }
                if let Some(limit) = limit {
                    let n = count(
                        tx,
                        "SELECT count(*) FROM windows WHERE account = ?1 AND region = ?2",
                        params![scope.account, scope.region],
                    )?;
                    if n >= limit {
                        return Err(StoreError::LimitExceeded(limit));
                    }
                }
                tx.execute(
                    "INSERT INTO windows (account, region, window_id, name, enabled, doc, next_fire_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        scope.account,
                        scope.region,
                        window.window_id.as_str(),
                        window.name,
                        window.enabled,
                        body,
                        next
                    ],
                )?;
                put_tags(tx, scope, "MaintenanceWindow", window.window_id.as_str(), tags)?;
                record_token(tx, scope, idem, window.window_id.as_str())?;
                Ok(window.window_id.clone())
            },
            |id| {
                if *id == window.window_id {
                    self.cache_window(scope, Arc::new(window.clone()));
                }
            },
        )
    }

    async fn get_window(&self, scope: &Scope, id: &WindowId) -> Result<Option<Arc<Window>>, StoreError> {
        if let Some((owner, w)) = self.windows.read().unwrap_or_else(|p| p.into_inner()).get(id.as_str()) {
            return Ok((owner == scope).then(|| w.clone()));
        }
        let conn = lock(&self.conn);
        let mut stmt =
            conn.prepare_cached("SELECT doc FROM windows WHERE account = ?1 AND region = ?2 AND window_id = ?3")?;
        let found: Option<String> =
            stmt.query_row(params![scope.account, scope.region, id.as_str()], |r| r.get(0)).optional()?;
        let window: Option<Arc<Window>> = found.map(doc).transpose()?.map(Arc::new);
        if let Some(w) = &window {
            self.cache_window(scope, w.clone());
        }
        Ok(window)
    }

    async fn update_window(
        &self,
        scope: &Scope,
        window: &Window,
        next_fire: NextFire,
        events: &[String],
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(window)?;
        self.write_then(
            |tx| {
                let p =
                    params![scope.account, scope.region, window.window_id.as_str(), window.name, window.enabled, body];
                let n = match next_fire {
                    NextFire::Keep => tx.execute(
                        "UPDATE windows SET name = ?4, enabled = ?5, doc = ?6
                         WHERE account = ?1 AND region = ?2 AND window_id = ?3",
                        p,
                    )?,
                    NextFire::At(_) | NextFire::Never => {
                        let next = next_fire.ms();
                        tx.execute(
                            "UPDATE windows SET name = ?4, enabled = ?5, doc = ?6, next_fire_ms = ?7
                             WHERE account = ?1 AND region = ?2 AND window_id = ?3",
                            params![
                                scope.account,
                                scope.region,
                                window.window_id.as_str(),
                                window.name,
                                window.enabled,
                                body,
                                next
                            ],
                        )?
                    }
                };
                if n == 0 {
                    Err(StoreError::NotFound)
                } else {
                    executions::put_events(tx, events)
                }
            },
            |_| self.cache_window(scope, Arc::new(window.clone())),
        )
    }

    async fn delete_window(&self, scope: &Scope, id: &WindowId) -> Result<bool, StoreError> {
        self.write_then(|tx| {
            let p = params![scope.account, scope.region, id.as_str()];
            let n = tx.execute("DELETE FROM windows WHERE account = ?1 AND region = ?2 AND window_id = ?3", p)?;
            tx.execute("DELETE FROM window_targets WHERE account = ?1 AND region = ?2 AND window_id = ?3", p)?;
            tx.execute("DELETE FROM window_tasks WHERE account = ?1 AND region = ?2 AND window_id = ?3", p)?;
            tx.execute(
                "DELETE FROM tags WHERE account = ?1 AND region = ?2 AND resource_type = 'MaintenanceWindow' AND resource_id = ?3",
                p,
            )?;
            Ok(n > 0)
        }, |deleted| {
            if *deleted {
                self.uncache_window(id);
            }
        })
    }

    async fn list_windows(
        &self,
        scope: &Scope,
        filter: &WindowFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Window>, StoreError> {
        // One fixed statement per filter combination, so each stays prepared. (Statements
        // like `?4 IS NULL OR enabled = ?4` are re-compiled by SQLite whenever a bound
        // value changes, which cost a page forty microseconds.)
        let prefixes = serde_json::to_string(&filter.name_prefixes)?;
        let (scope_a, scope_r, after, limit) = (&scope.account, &scope.region, after.unwrap_or(""), limit as i64);
        const HEAD: &str = "SELECT doc FROM windows WHERE account = ?1 AND region = ?2 AND window_id > ?3";
        const NAME: &str =
            " AND EXISTS (SELECT 1 FROM json_each(?5) p WHERE substr(name, 1, length(p.value)) = p.value)";
        match (filter.enabled, filter.name_prefixes.is_empty()) {
            (None, true) => {
                self.query_docs(&format!("{HEAD} ORDER BY window_id LIMIT ?4"), params![scope_a, scope_r, after, limit])
            }
            (Some(e), true) => self.query_docs(
                &format!("{HEAD} AND enabled = ?5 ORDER BY window_id LIMIT ?4"),
                params![scope_a, scope_r, after, limit, e],
            ),
            (None, false) => self.query_docs(
                &format!("{HEAD}{NAME} ORDER BY window_id LIMIT ?4"),
                params![scope_a, scope_r, after, limit, prefixes],
            ),
            (Some(e), false) => self.query_docs(
                &format!("{HEAD}{NAME} AND enabled = ?6 ORDER BY window_id LIMIT ?4"),
                params![scope_a, scope_r, after, limit, prefixes, e],
            ),
        }
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
            .map(WindowTargetId::from)
    }

    async fn get_target(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTargetId,
    ) -> Result<Option<WindowTarget>, StoreError> {
        self.get_child(Child::Target, scope, window, id.as_str())
    }

    async fn update_target(&self, scope: &Scope, target: &WindowTarget, events: &[String]) -> Result<(), StoreError> {
        let body = serde_json::to_string(target)?;
        self.update_child(Child::Target, scope, &target.window_id, target.window_target_id.as_str(), &body, events)
    }

    async fn deregister_target(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTargetId,
        safe: bool,
        events: &[String],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            if safe {
                let mut stmt = tx.prepare_cached(
                    "SELECT doc FROM window_tasks WHERE account = ?1 AND region = ?2 AND window_id = ?3",
                )?;
                let docs = stmt.query_map(params![scope.account, scope.region, window.as_str()], |r| r.get::<_, String>(0))?;
                for d in docs {
                    let task: WindowTask = doc(d?)?;
                    if task.window_target_ids().any(|t| t == id.as_str()) {
                        return Err(StoreError::InUse);
                    }
                }
            }
            let n = tx.execute(
                "DELETE FROM window_targets WHERE account = ?1 AND region = ?2 AND window_id = ?3 AND window_target_id = ?4",
                params![scope.account, scope.region, window.as_str(), id.as_str()],
            )?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                executions::put_events(tx, events)
            }
        })
    }

    async fn list_targets(&self, scope: &Scope, window: &WindowId) -> Result<Vec<WindowTarget>, StoreError> {
        self.list_children(Child::Target, scope, window)
    }

    async fn list_all_targets(&self, scope: &Scope) -> Result<Vec<WindowTarget>, StoreError> {
        self.query_docs(
            "SELECT doc FROM window_targets WHERE account = ?1 AND region = ?2 ORDER BY window_id, window_target_id",
            params![scope.account, scope.region],
        )
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
        self.insert_child((Child::Task, &task.window_id, id), scope, &body, idem, limit, events).map(WindowTaskId::from)
    }

    async fn get_task(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTaskId,
    ) -> Result<Option<WindowTask>, StoreError> {
        self.get_child(Child::Task, scope, window, id.as_str())
    }

    async fn update_task(&self, scope: &Scope, task: &WindowTask, events: &[String]) -> Result<(), StoreError> {
        let body = serde_json::to_string(task)?;
        self.update_child(Child::Task, scope, &task.window_id, task.window_task_id.as_str(), &body, events)
    }

    async fn deregister_task(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTaskId,
        events: &[String],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM window_tasks WHERE account = ?1 AND region = ?2 AND window_id = ?3 AND window_task_id = ?4",
                params![scope.account, scope.region, window.as_str(), id.as_str()],
            )?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                executions::put_events(tx, events)
            }
        })
    }

    async fn list_tasks(&self, scope: &Scope, window: &WindowId) -> Result<Vec<WindowTask>, StoreError> {
        self.list_children(Child::Task, scope, window)
    }

    async fn add_tags(
        &self,
        scope: &Scope,
        rtype: &str,
        rid: &str,
        tags: &[Tag],
        max_tags: usize,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            put_tags(tx, scope, rtype, rid, tags)?;
            let n = count(
                tx,
                "SELECT count(*) FROM tags WHERE account = ?1 AND region = ?2 AND resource_type = ?3 AND resource_id = ?4",
                params![scope.account, scope.region, rtype, rid],
            )?;
            if n > max_tags {
                // Returning an error drops the transaction: nothing was added.
                return Err(StoreError::TooManyTags);
            }
            Ok(())
        })
    }

    async fn remove_tags(&self, scope: &Scope, rtype: &str, rid: &str, keys: &[String]) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "DELETE FROM tags WHERE account = ?1 AND region = ?2 AND resource_type = ?3 AND resource_id = ?4 AND tag_key = ?5",
            )?;
            for k in keys {
                stmt.execute(params![scope.account, scope.region, rtype, rid, k])?;
            }
            Ok(())
        })
    }

    async fn list_tags(&self, scope: &Scope, rtype: &str, rid: &str) -> Result<Vec<Tag>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT tag_key, tag_value FROM tags
             WHERE account = ?1 AND region = ?2 AND resource_type = ?3 AND resource_id = ?4 ORDER BY tag_key",
        )?;
        let rows = stmt.query_map(params![scope.account, scope.region, rtype, rid], |r| {
            Ok(Tag { key: r.get(0)?, value: r.get(1)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn tagged_resources(
        &self,
        scope: &Scope,
        rtype: &str,
        key: &str,
        values: &[String],
    ) -> Result<Vec<String>, StoreError> {
        self.tagged_resources_sync(scope, rtype, key, values)
    }

    async fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        self.next_due_ms_sync()
    }

    async fn unscheduled_windows(&self) -> Result<Vec<(Scope, Window)>, StoreError> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare_cached("SELECT account, region, doc FROM windows WHERE enabled = 1 AND next_fire_ms IS NULL")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (account, region, d) = row?;
            out.push((Scope { account, region }, doc(d)?));
        }
        Ok(out)
    }

    async fn fire_due(
        &self,
        now_ms: i64,
        limit: usize,
        owner: &str,
        lease_until_ms: i64,
        decide: &Decide,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError> {
        self.fire_due_sync(now_ms, limit, owner, lease_until_ms, decide)
    }

    async fn apply(&self, scope: &Scope, changes: &[Change]) -> Result<(), StoreError> {
        self.apply_sync(scope, changes)
    }

    async fn adopt_executions(
        &self,
        owner: &str,
        _now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError> {
        self.adopt_sync(owner, lease_until_ms)
    }

    async fn renew_leases(&self, owner: &str, lease_until_ms: i64) -> Result<(), StoreError> {
        self.renew_sync(owner, lease_until_ms)
    }

    async fn request_cancel(&self, scope: &Scope, id: &str) -> Result<Option<WindowExecution>, StoreError> {
        self.request_cancel_sync(scope, id)
    }

    async fn get_execution(&self, scope: &Scope, id: &str) -> Result<Option<WindowExecution>, StoreError> {
        self.get_execution_sync(scope, id)
    }

    async fn list_executions(
        &self,
        scope: &Scope,
        window: &WindowId,
        filter: &ExecutionFilter,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<WindowExecution>, StoreError> {
        self.list_executions_sync(scope, window, filter, after, limit)
    }

    async fn list_task_executions(&self, scope: &Scope, execution: &str) -> Result<Vec<TaskExecution>, StoreError> {
        self.list_task_executions_sync(scope, execution)
    }

    async fn get_task_execution(
        &self,
        scope: &Scope,
        execution: &str,
        task_execution: &str,
    ) -> Result<Option<TaskExecution>, StoreError> {
        self.get_task_execution_sync(scope, execution, task_execution)
    }

    async fn list_invocations(
        &self,
        scope: &Scope,
        task_execution: &str,
        statuses: &[ExecutionStatus],
        after_seq: Option<u32>,
        limit: usize,
    ) -> Result<Vec<TaskInvocation>, StoreError> {
        self.list_invocations_sync(scope, task_execution, statuses, after_seq, limit)
    }

    async fn get_invocation(
        &self,
        scope: &Scope,
        execution: &str,
        task_execution: &str,
        invocation: &str,
    ) -> Result<Option<Arc<TaskInvocation>>, StoreError> {
        self.get_invocation_sync(scope, execution, task_execution, invocation)
    }

    async fn purge_history(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.purge_sync(before_ms)
    }

    async fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        self.events_after_sync(after_seq, limit)
    }

    async fn event_cursor(&self, sink: &str) -> Result<i64, StoreError> {
        self.event_cursor_sync(sink)
    }

    async fn set_event_cursor(&self, sink: &str, seq: i64) -> Result<(), StoreError> {
        self.set_event_cursor_sync(sink, seq)
    }

    async fn create_activation(
        &self,
        scope: &Scope,
        activation: &Activation,
        code_sha256: &str,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        self.create_activation_sync(scope, activation, code_sha256, tags)
    }

    async fn get_activation(&self, scope: &Scope, id: &str) -> Result<Option<Activation>, StoreError> {
        self.get_activation_sync(scope, id)
    }

    async fn list_activations(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Activation>, StoreError> {
        self.list_activations_sync(scope, after, limit)
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
        self.create_automation_sync(scope, execution, tags, idempotency, owner, lease_until_ms)
    }

    async fn put_automation(
        &self,
        scope: &Scope,
        execution: &AutomationExecution,
        owner: &str,
        consumed: Option<i64>,
        events: &[String],
    ) -> Result<(), StoreError> {
        self.put_automation_sync(scope, execution, owner, consumed, events)
    }

    async fn get_automation(&self, scope: &Scope, id: &str) -> Result<Option<AutomationExecution>, StoreError> {
        self.get_automation_sync(scope, id)
    }

    async fn list_automations(
        &self,
        scope: &Scope,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<AutomationExecution>, StoreError> {
        self.list_automations_sync(scope, after, limit)
    }

    async fn add_automation_signal(
        &self,
        scope: &Scope,
        id: &str,
        signal: &AutomationSignal,
    ) -> Result<(), StoreError> {
        self.add_automation_signal_sync(scope, id, signal)
    }

    async fn automation_signals(&self, scope: &Scope, id: &str) -> Result<Vec<(i64, AutomationSignal)>, StoreError> {
        self.automation_signals_sync(scope, id)
    }

    async fn adopt_automations(
        &self,
        owner: &str,
        _now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<(Scope, AutomationExecution)>, StoreError> {
        self.adopt_automations_sync(owner, lease_until_ms)
    }

    async fn renew_automation_leases(&self, owner: &str, lease_until_ms: i64) -> Result<(), StoreError> {
        self.renew_automation_leases_sync(owner, lease_until_ms)
    }

    async fn running_automations(&self, scope: &Scope) -> Result<usize, StoreError> {
        self.running_automations_sync(scope)
    }

    async fn delete_activation(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        self.delete_activation_sync(scope, id)
    }

    async fn create_document(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        version: &DocumentVersion,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        self.create_document_sync(scope, document, version, tags)
    }

    async fn get_document(&self, scope: &Scope, name: &str) -> Result<Option<DocumentInfo>, StoreError> {
        self.get_document_sync(scope, name)
    }

    async fn get_document_version(
        &self,
        scope: &Scope,
        name: &str,
        version: u32,
    ) -> Result<Option<DocumentVersion>, StoreError> {
        self.get_document_version_sync(scope, name, version)
    }

    async fn list_document_versions(
        &self,
        scope: &Scope,
        name: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        self.list_document_versions_sync(scope, name, after, limit)
    }

    async fn add_document_version(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        version: &DocumentVersion,
        expected_latest: u32,
    ) -> Result<(), StoreError> {
        self.add_document_version_sync(scope, document, version, expected_latest)
    }

    async fn update_document(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        expected_latest: u32,
    ) -> Result<(), StoreError> {
        self.update_document_sync(scope, document, expected_latest)
    }

    async fn delete_document(&self, scope: &Scope, name: &str) -> Result<bool, StoreError> {
        self.delete_document_sync(scope, name)
    }

    async fn delete_document_version(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        version: u32,
        expected_latest: u32,
    ) -> Result<bool, StoreError> {
        self.delete_document_version_sync(scope, document, version, expected_latest)
    }

    async fn list_documents(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(DocumentInfo, VersionMeta)>, StoreError> {
        self.list_documents_sync(scope, after, limit)
    }

    async fn list_shared_documents(
        &self,
        scope: &Scope,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> Result<Vec<(String, DocumentInfo, VersionMeta)>, StoreError> {
        self.list_shared_documents_sync(scope, after, limit)
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
        self.register_node_sync(activation_id, code_sha256, now_ms, node, access_key_id, secret)
    }

    async fn node_key(&self, access_key_id: &str) -> Result<Option<NodeKey>, StoreError> {
        self.node_key_sync(access_key_id)
    }

    async fn update_node(&self, scope: &Scope, node: &ManagedNode) -> Result<bool, StoreError> {
        self.update_node_sync(scope, node)
    }

    async fn ping_node(&self, scope: &Scope, id: &str, now_ms: i64) -> Result<(), StoreError> {
        self.ping_node_sync(scope, id, now_ms)
    }

    async fn get_node(&self, scope: &Scope, id: &str) -> Result<Option<ManagedNode>, StoreError> {
        self.get_node_sync(scope, id)
    }

    async fn list_nodes(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ManagedNode>, StoreError> {
        self.list_nodes_sync(scope, after, limit)
    }

    async fn deregister_node(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        self.deregister_node_sync(scope, id)
    }

    async fn create_command(
        &self,
        scope: &Scope,
        command: Command,
        invocations: Vec<CommandInvocation>,
    ) -> Result<CommandUpdate, StoreError> {
        self.create_command_sync(scope, command, invocations)
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
        self.get_command_sync(scope, id)
    }

    async fn list_commands(
        &self,
        scope: &Scope,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<Command>, StoreError> {
        self.list_commands_sync(scope, instance, after, limit)
    }

    async fn get_command_invocation(
        &self,
        scope: &Scope,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Option<CommandInvocation>, StoreError> {
        self.get_command_invocation_sync(scope, command_id, instance_id)
    }

    async fn list_command_invocations(
        &self,
        scope: &Scope,
        command: Option<&str>,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<CommandInvocation>, StoreError> {
        self.list_command_invocations_sync(scope, command, instance, after, limit)
    }

    async fn node_messages(
        &self,
        scope: &Scope,
        instance_id: &str,
        limit: usize,
    ) -> Result<Vec<(Command, CommandInvocation)>, StoreError> {
        self.node_messages_sync(scope, instance_id, limit)
    }

    async fn due_invocations(&self, now_ms: i64, limit: usize) -> Result<Vec<(Scope, String, String)>, StoreError> {
        self.due_invocations_sync(now_ms, limit)
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    /// A bound LIMIT must not make SQLite recompile its statement on every run.
    #[test]
    fn a_bound_limit_is_compiled_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Synchronous::Normal).unwrap();
        let conn = store.reader();
        let mut stmt = conn.prepare("SELECT window_id FROM windows ORDER BY window_id LIMIT ?1").unwrap();
        for limit in 1..5_i64 {
            stmt.query_map([limit], |r| r.get::<_, String>(0)).unwrap().for_each(drop);
        }
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }
}
