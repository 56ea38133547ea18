//! The engine's tables on SQLite: firing due windows, the orchestrator's upserts, the
//! history reads, and the event outbox.

use std::sync::Arc;

use casement_model::{
    insert_bounded, ExecutionStatus, Scope, TaskExecution, TaskInvocation, Window, WindowExecution, WindowId,
};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{doc, lock, now_ms, SqliteStore};
use crate::{Change, Decide, Due, ExecutionFilter, ExecutionKey, StoreError};

/// Beyond this many cached invocations the cache starts over.
const INVOCATION_CACHE_MAX: usize = 100_000;

fn put_execution(
    tx: &Transaction<'_>,
    scope: &Scope,
    e: &WindowExecution,
    lease: Option<(&str, i64)>,
) -> Result<(), StoreError> {
    let body = serde_json::to_string(e)?;
    let (owner, until) = lease.map_or((None, None), |(o, u)| (Some(o), Some(u)));
    tx.prepare_cached(
        "INSERT INTO window_executions
            (account, region, window_execution_id, window_id, start_ms, end_ms, finished, owner, lease_until_ms, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (account, region, window_execution_id) DO UPDATE SET
            end_ms = excluded.end_ms, finished = excluded.finished, doc = excluded.doc,
            owner = coalesce(excluded.owner, owner), lease_until_ms = coalesce(excluded.lease_until_ms, lease_until_ms)",
    )?
    .execute(params![
        scope.account,
        scope.region,
        e.window_execution_id,
        e.window_id.as_str(),
        e.start_ms,
        e.end_ms,
        e.status.is_final(),
        owner,
        until,
        body
    ])?;
    Ok(())
}

fn put_event(tx: &Transaction<'_>, body: &str) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT INTO events (created_ms, body) VALUES (?1, ?2)")?.execute(params![now_ms(), body])?;
    Ok(())
}

/// Append events to the outbox in the caller's transaction.
pub(super) fn put_events(tx: &Transaction<'_>, events: &[String]) -> Result<(), StoreError> {
    events.iter().try_for_each(|e| put_event(tx, e))
}

fn read_execution(doc_text: String, cancel: bool) -> Result<WindowExecution, StoreError> {
    let mut e: WindowExecution = doc(doc_text)?;
    e.cancel_requested = cancel;
    Ok(e)
}

impl SqliteStore {
    pub(super) fn next_due_ms_sync(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.reader().query_row(
            "SELECT min(next_fire_ms) FROM windows WHERE next_fire_ms IS NOT NULL",
            [],
            |r| r.get(0),
        )?)
    }

    pub(super) fn fire_due_sync(
        &self,
        now: i64,
        limit: usize,
        owner: &str,
        lease_until: i64,
        decide: &Decide,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError> {
        self.write(|tx| {
            let due: Vec<(String, String, String, i64)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT account, region, doc, next_fire_ms FROM windows
                     WHERE next_fire_ms IS NOT NULL AND next_fire_ms <= ?1 ORDER BY next_fire_ms LIMIT ?2",
                )?;
                let rows =
                    stmt.query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut fired = Vec::new();
            for (account, region, body, due_ms) in due {
                let scope = Scope { account, region };
                let window: Window = doc(body)?;
                let running = tx
                    .prepare_cached(
                        "SELECT 1 FROM window_executions
                         WHERE account = ?1 AND region = ?2 AND window_id = ?3 AND finished = 0 LIMIT 1",
                    )?
                    .query_row(params![scope.account, scope.region, window.window_id.as_str()], |_| Ok(()))
                    .optional()?
                    .is_some();
                let firing = decide(Due { scope: &scope, window: &window, due_ms, running });
                tx.prepare_cached(
                    "UPDATE windows SET next_fire_ms = ?4 WHERE account = ?1 AND region = ?2 AND window_id = ?3",
                )?
                .execute(params![
                    scope.account,
                    scope.region,
                    window.window_id.as_str(),
                    firing.next_fire_ms
                ])?;
                for ev in &firing.events {
                    put_event(tx, ev)?;
                }
                if let Some(e) = firing.execution {
                    let lease = (!e.status.is_final()).then_some((owner, lease_until));
                    put_execution(tx, &scope, &e, lease)?;
                    fired.push((scope, e));
                }
            }
            Ok(fired)
        })
    }

    pub(super) fn apply_sync(&self, scope: &Scope, changes: &[Change]) -> Result<(), StoreError> {
        self.write(|tx| {
            for change in changes {
                match change {
                    Change::Execution(e) => put_execution(tx, scope, e, None)?,
                    Change::Task(t) => {
                        tx.prepare_cached(
                            "INSERT INTO task_executions (account, region, window_execution_id, task_execution_id, doc)
                             VALUES (?1, ?2, ?3, ?4, ?5)
                             ON CONFLICT (account, region, window_execution_id, task_execution_id)
                             DO UPDATE SET doc = excluded.doc",
                        )?
                        .execute(params![
                            scope.account,
                            scope.region,
                            t.window_execution_id,
                            t.task_execution_id,
                            serde_json::to_string(t)?
                        ])?;
                    }
                    Change::Invocation(i) => {
                        self.invocations.write().unwrap_or_else(|p| p.into_inner()).remove(&i.invocation_id);
                        tx.prepare_cached(
                            "INSERT INTO task_invocations
                                (account, region, task_execution_id, seq, window_execution_id, invocation_id, status, doc)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                             ON CONFLICT (account, region, task_execution_id, seq)
                             DO UPDATE SET status = excluded.status, doc = excluded.doc",
                        )?
                        .execute(params![
                            scope.account,
                            scope.region,
                            i.task_execution_id,
                            i.seq,
                            i.window_execution_id,
                            i.invocation_id,
                            i.status.as_str(),
                            serde_json::to_string(i)?
                        ])?;
                    }
                    Change::Event(body) => put_event(tx, body)?,
                }
            }
            Ok(())
        })
    }

    pub(super) fn adopt_sync(
        &self,
        owner: &str,
        lease_until: i64,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError> {
        // One process owns the database file (exclusive locking), so whatever another
        // owner left running is this process's to finish: no need to wait for leases.
        self.write(|tx| {
            let rows: Vec<(String, String, String, bool)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT account, region, doc, cancel_requested FROM window_executions
                     WHERE finished = 0 AND (owner IS NULL OR owner <> ?1)",
                )?;
                let rows = stmt.query_map(params![owner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            tx.execute(
                "UPDATE window_executions SET owner = ?1, lease_until_ms = ?2 WHERE finished = 0",
                params![owner, lease_until],
            )?;
            rows.into_iter()
                .map(|(account, region, d, c)| Ok((Scope { account, region }, read_execution(d, c)?)))
                .collect()
        })
    }

    pub(super) fn renew_sync(&self, owner: &str, lease_until: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE window_executions SET lease_until_ms = ?2 WHERE finished = 0 AND owner = ?1",
                params![owner, lease_until],
            )?;
            Ok(())
        })
    }

    pub(super) fn request_cancel_sync(&self, scope: &Scope, id: &str) -> Result<Option<WindowExecution>, StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE window_executions SET cancel_requested = 1
                 WHERE account = ?1 AND region = ?2 AND window_execution_id = ?3 AND finished = 0",
                params![scope.account, scope.region, id],
            )?;
            Ok(())
        })?;
        self.get_execution_sync(scope, id)
    }

    pub(super) fn get_execution_sync(&self, scope: &Scope, id: &str) -> Result<Option<WindowExecution>, StoreError> {
        let conn = self.reader();
        let row: Option<(String, bool)> = conn
            .prepare_cached(
                "SELECT doc, cancel_requested FROM window_executions
                 WHERE account = ?1 AND region = ?2 AND window_execution_id = ?3",
            )?
            .query_row(params![scope.account, scope.region, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(d, c)| read_execution(d, c)).transpose()
    }

    pub(super) fn list_executions_sync(
        &self,
        scope: &Scope,
        window: &WindowId,
        filter: &ExecutionFilter,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<WindowExecution>, StoreError> {
        let conn = self.reader();
        let (after_start, after_id) = after.map_or((i64::MAX, ""), |(s, id)| (*s, id.as_str()));
        let mut stmt = conn.prepare_cached(
            "SELECT doc, cancel_requested FROM window_executions
             WHERE account = ?1 AND region = ?2 AND window_id = ?3
               AND start_ms > ?4 AND start_ms < ?5
               AND (start_ms < ?6 OR (start_ms = ?6 AND window_execution_id < ?7))
             ORDER BY start_ms DESC, window_execution_id DESC LIMIT ?8",
        )?;
        let rows = stmt.query_map(
            params![
                scope.account,
                scope.region,
                window.as_str(),
                filter.started_after_ms.unwrap_or(i64::MIN),
                filter.started_before_ms.unwrap_or(i64::MAX),
                after_start,
                if after.is_some() { after_id } else { "\u{10ffff}" },
                limit as i64
            ],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (d, c) = row?;
            out.push(read_execution(d, c)?);
        }
        Ok(out)
    }

    pub(super) fn list_task_executions_sync(
        &self,
        scope: &Scope,
        execution: &str,
    ) -> Result<Vec<TaskExecution>, StoreError> {
        let mut tasks: Vec<TaskExecution> = self.query_docs(
            "SELECT doc FROM task_executions WHERE account = ?1 AND region = ?2 AND window_execution_id = ?3",
            params![scope.account, scope.region, execution],
        )?;
        tasks.sort_by(|a, b| {
            (a.priority, a.start_ms, &a.task_execution_id).cmp(&(b.priority, b.start_ms, &b.task_execution_id))
        });
        Ok(tasks)
    }

    pub(super) fn get_task_execution_sync(
        &self,
        scope: &Scope,
        execution: &str,
        task: &str,
    ) -> Result<Option<TaskExecution>, StoreError> {
        self.query_doc(
            "SELECT doc FROM task_executions
             WHERE account = ?1 AND region = ?2 AND window_execution_id = ?3 AND task_execution_id = ?4",
            params![scope.account, scope.region, execution, task],
        )
    }

    pub(super) fn list_invocations_sync(
        &self,
        scope: &Scope,
        task: &str,
        statuses: &[ExecutionStatus],
        after_seq: Option<u32>,
        limit: usize,
    ) -> Result<Vec<TaskInvocation>, StoreError> {
        let after = after_seq.map_or(-1, i64::from);
        if statuses.is_empty() {
            return self.query_docs(
                "SELECT doc FROM task_invocations
                 WHERE account = ?1 AND region = ?2 AND task_execution_id = ?3 AND seq > ?4 ORDER BY seq LIMIT ?5",
                params![scope.account, scope.region, task, after, limit as i64],
            );
        }
        let wanted = serde_json::to_string(&statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>())?;
        self.query_docs(
            "SELECT doc FROM task_invocations
             WHERE account = ?1 AND region = ?2 AND task_execution_id = ?3 AND seq > ?4
               AND status IN (SELECT value FROM json_each(?6)) ORDER BY seq LIMIT ?5",
            params![scope.account, scope.region, task, after, limit as i64, wanted],
        )
    }

    pub(super) fn get_invocation_sync(
        &self,
        scope: &Scope,
        execution: &str,
        task: &str,
        invocation: &str,
    ) -> Result<Option<Arc<TaskInvocation>>, StoreError> {
        let matches = |owner: &Scope, i: &TaskInvocation| {
            owner == scope && i.task_execution_id == task && i.window_execution_id == execution
        };
        if let Some((owner, i)) = self.invocations.read().unwrap_or_else(|p| p.into_inner()).get(invocation) {
            return Ok(matches(owner, i).then(|| i.clone()));
        }
        let conn = self.reader();
        let found: Option<TaskInvocation> = conn
            .prepare_cached(
                "SELECT doc FROM task_invocations
                 WHERE account = ?1 AND region = ?2 AND invocation_id = ?3
                   AND task_execution_id = ?4 AND window_execution_id = ?5",
            )?
            .query_row(params![scope.account, scope.region, invocation, task, execution], |r| r.get::<_, String>(0))
            .optional()?
            .map(doc)
            .transpose()?;
        let found = found.map(Arc::new);
        if let Some(i) = found.as_ref().filter(|i| i.status.is_final()) {
            // Filled while the connection is held: no write can slip in between.
            let mut cache = self.invocations.write().unwrap_or_else(|p| p.into_inner());
            insert_bounded(&mut cache, INVOCATION_CACHE_MAX, invocation.to_owned(), (scope.clone(), i.clone()));
        }
        Ok(found)
    }

    pub(super) fn purge_sync(&self, before: i64) -> Result<usize, StoreError> {
        const OLD: &str = "(SELECT account, region, window_execution_id FROM window_executions
                            WHERE finished = 1 AND end_ms < ?1)";
        self.write(|tx| {
            tx.execute(
                &format!("DELETE FROM task_invocations WHERE (account, region, window_execution_id) IN {OLD}"),
                params![before],
            )?;
            tx.execute(
                &format!("DELETE FROM task_executions WHERE (account, region, window_execution_id) IN {OLD}"),
                params![before],
            )?;
            let n = tx.execute("DELETE FROM window_executions WHERE finished = 1 AND end_ms < ?1", params![before])?;
            tx.execute("DELETE FROM events WHERE created_ms < ?1", params![before])?;
            tx.execute("DELETE FROM automation_executions WHERE finished = 1 AND end_ms < ?1", params![before])?;
            // Run Command history: commands requested before the cutoff whose invocations
            // are all final, with their invocations.
            tx.execute(
                "DELETE FROM commands WHERE requested_ms < ?1 AND NOT EXISTS (
                     SELECT 1 FROM command_invocations i WHERE i.account = commands.account
                       AND i.region = commands.region AND i.command_id = commands.command_id AND i.finished = 0)",
                params![before],
            )?;
            tx.execute(
                "DELETE FROM command_invocations WHERE requested_ms < ?1 AND NOT EXISTS (
                     SELECT 1 FROM commands c WHERE c.account = command_invocations.account
                       AND c.region = command_invocations.region AND c.command_id = command_invocations.command_id)",
                params![before],
            )?;
            self.invocations.write().unwrap_or_else(|p| p.into_inner()).clear();
            self.commands.write().unwrap_or_else(|p| p.into_inner()).clear();
            Ok(n)
        })
    }

    pub(super) fn events_after_sync(&self, after: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        let conn = lock(&self.conn);
        let mut stmt = conn.prepare_cached("SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows = stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn event_cursor_sync(&self, sink: &str) -> Result<i64, StoreError> {
        let conn = lock(&self.conn);
        let seq: Option<i64> = conn
            .prepare_cached("SELECT seq FROM event_cursors WHERE sink = ?1")?
            .query_row(params![sink], |r| r.get(0))
            .optional()?;
        Ok(seq.unwrap_or(0))
    }

    pub(super) fn set_event_cursor_sync(&self, sink: &str, seq: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO event_cursors (sink, seq) VALUES (?1, ?2)
                 ON CONFLICT (sink) DO UPDATE SET seq = max(seq, excluded.seq)",
                params![sink, seq],
            )?;
            Ok(())
        })
    }

    pub(super) fn tagged_resources_sync(
        &self,
        scope: &Scope,
        rtype: &str,
        key: &str,
        values: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.reader();
        let wanted = serde_json::to_string(values)?;
        let mut stmt = conn.prepare_cached(
            "SELECT resource_id FROM tags
             WHERE account = ?1 AND region = ?2 AND resource_type = ?3 AND tag_key = ?4
               AND (?5 = '[]' OR tag_value IN (SELECT value FROM json_each(?5)))
             ORDER BY resource_id",
        )?;
        let rows = stmt.query_map(params![scope.account, scope.region, rtype, key, wanted], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
