//! The engine's tables on PostgreSQL. Claiming due windows uses
//! `FOR UPDATE SKIP LOCKED`, so nodes sharing the database each take different windows
//! and an occurrence is recorded once.

use casement_model::{ExecutionStatus, Scope, TaskExecution, TaskInvocation, Window, WindowExecution, WindowId};
use tokio_postgres::Transaction;

use super::{doc, now_ms, sql_limit, PgStore};
use crate::{Change, Decide, Due, ExecutionFilter, ExecutionKey, StoreError};

/// The advisory lock that orders the outbox (see [`put_events`]).
const OUTBOX_LOCK: i64 = 4581;

/// The driver's upsert: state and document only (the lease and the cancel request are
/// not its to write).
async fn put_execution(tx: &Transaction<'_>, scope: &Scope, e: &WindowExecution) -> Result<(), StoreError> {
    let body = serde_json::to_string(e)?;
    tx.execute(
        "INSERT INTO window_executions
            (account, region, window_execution_id, window_id, start_ms, end_ms, finished, doc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (account, region, window_execution_id) DO UPDATE SET
            end_ms = excluded.end_ms, finished = excluded.finished, doc = excluded.doc",
        &[
            &scope.account,
            &scope.region,
            &e.window_execution_id,
            &e.window_id.as_str(),
            &e.start_ms,
            &e.end_ms,
            &e.status.is_final(),
            &body,
        ],
    )
    .await?;
    Ok(())
}

/// Append a transaction's events, last thing before it commits, holding a
/// transaction-scoped advisory lock. Sequence numbers are handed out at insert; the lock
/// makes transactions that write events take them one at a time and commit in that
/// order, so a sink reading past its cursor never skips an event that commits later
/// with a smaller number. (Only this short tail of each transaction is serialized.)
/// Insert new executions in one statement; running ones leased to `owner`.
async fn insert_executions(
    tx: &Transaction<'_>,
    fired: &[(Scope, WindowExecution)],
    owner: &str,
    lease_until: i64,
) -> Result<(), StoreError> {
    if fired.is_empty() {
        return Ok(());
    }
    let n = fired.len();
    let (mut accounts, mut regions, mut ids, mut windows) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut starts, mut ends, mut finished) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut owners, mut leases, mut docs) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for (scope, e) in fired {
        accounts.push(scope.account.as_str());
        regions.push(scope.region.as_str());
        ids.push(e.window_execution_id.as_str());
        windows.push(e.window_id.as_str());
        starts.push(e.start_ms);
        ends.push(e.end_ms);
        finished.push(e.status.is_final());
        let running = !e.status.is_final();
        owners.push(running.then_some(owner));
        leases.push(running.then_some(lease_until));
        docs.push(serde_json::to_string(e)?);
    }
    tx.execute(
        "INSERT INTO window_executions
            (account, region, window_execution_id, window_id, start_ms, end_ms, finished, owner, lease_until_ms, doc)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::bool[],
                              $8::text[], $9::int8[], $10::text[])",
        &[&accounts, &regions, &ids, &windows, &starts, &ends, &finished, &owners, &leases, &docs],
    )
    .await?;
    Ok(())
}

pub(super) async fn put_events<S: AsRef<str> + Sync>(tx: &Transaction<'_>, bodies: &[S]) -> Result<(), StoreError> {
    if bodies.is_empty() {
        return Ok(());
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&OUTBOX_LOCK]).await?;
    let bodies: Vec<&str> = bodies.iter().map(AsRef::as_ref).collect();
    tx.execute(
        "INSERT INTO events (created_ms, body) SELECT $1, b FROM unnest($2::text[]) WITH ORDINALITY AS t(b, n) ORDER BY n",
        &[&now_ms(), &bodies],
    )
    .await?;
    Ok(())
}

fn read_execution(row: &tokio_postgres::Row, at: usize) -> Result<(Scope, WindowExecution), StoreError> {
    let mut e: WindowExecution = doc(row.get(at))?;
    e.cancel_requested = row.get(at + 1);
    Ok((Scope { account: row.get(0), region: row.get(1) }, e))
}

impl PgStore {
    pub(super) async fn pg_next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        let client = self.client().await;
        Ok(client.query_one("SELECT min(next_fire_ms) FROM windows", &[]).await?.get(0))
    }

    /// Set-based: a claimed batch costs a fixed number of round trips (claim, running
    /// check, next fire times, executions, events), not a few per window.
    pub(super) async fn pg_fire_due(
        &self,
        now: i64,
        limit: usize,
        owner: &str,
        lease_until: i64,
        decide: &Decide,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError> {
        let mut client = self.scheduler_client().await;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                "SELECT account, region, doc, next_fire_ms FROM windows
                 WHERE next_fire_ms <= $1 ORDER BY next_fire_ms LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&now, &sql_limit(limit)],
            )
            .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let scope = Scope { account: row.get(0), region: row.get(1) };
            let window: Window = doc(row.get(2))?;
            claimed.push((scope, window, row.get::<_, i64>(3)));
        }
        let accounts: Vec<&str> = claimed.iter().map(|(s, _, _)| s.account.as_str()).collect();
        let regions: Vec<&str> = claimed.iter().map(|(s, _, _)| s.region.as_str()).collect();
        let ids: Vec<&str> = claimed.iter().map(|(_, w, _)| w.window_id.as_str()).collect();
        let running: std::collections::HashSet<(String, String, String)> = tx
            .query(
                "SELECT DISTINCT e.account, e.region, e.window_id FROM window_executions e
                 JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(a, r, w)
                   ON e.account = k.a AND e.region = k.r AND e.window_id = k.w
                 WHERE NOT e.finished",
                &[&accounts, &regions, &ids],
            )
            .await?
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let mut next: Vec<Option<i64>> = Vec::with_capacity(claimed.len());
        let mut fired = Vec::new();
        let mut events = Vec::new();
        for (scope, window, due_ms) in &claimed {
            let key = (scope.account.clone(), scope.region.clone(), window.window_id.to_string());
            let firing = decide(Due { scope, window, due_ms: *due_ms, running: running.contains(&key) });
            next.push(firing.next_fire_ms);
            events.extend(firing.events);
            if let Some(e) = firing.execution {
                fired.push((scope.clone(), e));
            }
        }
        tx.execute(
            "UPDATE windows SET next_fire_ms = u.n
             FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS u(a, r, w, n)
             WHERE windows.account = u.a AND windows.region = u.r AND windows.window_id = u.w",
            &[&accounts, &regions, &ids, &next],
        )
        .await?;
        insert_executions(&tx, &fired, owner, lease_until).await?;
        put_events(&tx, &events.iter().map(String::as_str).collect::<Vec<_>>()).await?;
        tx.commit().await?;
        Ok(fired)
    }

    pub(super) async fn pg_apply(&self, scope: &Scope, changes: &[Change]) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let mut events = Vec::new();
        for change in changes {
            match change {
                Change::Execution(e) => put_execution(&tx, scope, e).await?,
                Change::Task(t) => {
                    tx.execute(
                        "INSERT INTO task_executions (account, region, window_execution_id, task_execution_id, doc)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (account, region, window_execution_id, task_execution_id)
                         DO UPDATE SET doc = excluded.doc",
                        &[
                            &scope.account,
                            &scope.region,
                            &t.window_execution_id,
                            &t.task_execution_id,
                            &serde_json::to_string(t)?,
                        ],
                    )
                    .await?;
                }
                Change::Invocation(i) => {
                    tx.execute(
                        "INSERT INTO task_invocations
                            (account, region, task_execution_id, seq, window_execution_id, invocation_id, status, doc)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (account, region, task_execution_id, seq)
                         DO UPDATE SET status = excluded.status, doc = excluded.doc",
                        &[
                            &scope.account,
                            &scope.region,
                            &i.task_execution_id,
                            &(i.seq as i32),
                            &i.window_execution_id,
                            &i.invocation_id,
                            &i.status.as_str(),
                            &serde_json::to_string(i)?,
                        ],
                    )
                    .await?;
                }
                Change::Event(body) => events.push(body.as_str()),
            }
        }
        put_events(&tx, &events).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn pg_adopt(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query(
                "UPDATE window_executions SET owner = $1, lease_until_ms = $3
                 WHERE NOT finished AND (owner IS NULL OR (owner <> $1 AND coalesce(lease_until_ms, 0) < $2))
                 RETURNING account, region, doc, cancel_requested",
                &[&owner, &now, &lease_until],
            )
            .await?;
        rows.iter().map(|r| read_execution(r, 2)).collect()
    }

    pub(super) async fn pg_renew(&self, owner: &str, lease_until: i64) -> Result<(), StoreError> {
        let client = self.client().await;
        client
            .execute(
                "UPDATE window_executions SET lease_until_ms = $2 WHERE NOT finished AND owner = $1",
                &[&owner, &lease_until],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn pg_request_cancel(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<WindowExecution>, StoreError> {
        {
            let client = self.client().await;
            client
                .execute(
                    "UPDATE window_executions SET cancel_requested = true
                     WHERE account = $1 AND region = $2 AND window_execution_id = $3 AND NOT finished",
                    &[&scope.account, &scope.region, &id],
                )
                .await?;
        }
        self.pg_get_execution(scope, id).await
    }

    pub(super) async fn pg_get_execution(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<WindowExecution>, StoreError> {
        let client = self.client().await;
        let row = client
            .query_opt(
                "SELECT account, region, doc, cancel_requested FROM window_executions
                 WHERE account = $1 AND region = $2 AND window_execution_id = $3",
                &[&scope.account, &scope.region, &id],
            )
            .await?;
        Ok(row.as_ref().map(|r| read_execution(r, 2)).transpose()?.map(|(_, e)| e))
    }

    pub(super) async fn pg_list_executions(
        &self,
        scope: &Scope,
        window: &WindowId,
        filter: &ExecutionFilter,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<WindowExecution>, StoreError> {
        let client = self.client().await;
        let (after_start, after_id) = after.map_or((i64::MAX, "\u{10ffff}"), |(s, id)| (*s, id.as_str()));
        let rows = client
            .query(
                "SELECT account, region, doc, cancel_requested FROM window_executions
                 WHERE account = $1 AND region = $2 AND window_id = $3
                   AND start_ms > $4 AND start_ms < $5 AND (start_ms, window_execution_id) < ($6, $7)
                 ORDER BY start_ms DESC, window_execution_id DESC LIMIT $8",
                &[
                    &scope.account,
                    &scope.region,
                    &window.as_str(),
                    &filter.started_after_ms.unwrap_or(i64::MIN),
                    &filter.started_before_ms.unwrap_or(i64::MAX),
                    &after_start,
                    &after_id,
                    &sql_limit(limit),
                ],
            )
            .await?;
        rows.iter().map(|r| read_execution(r, 2).map(|(_, e)| e)).collect()
    }

    pub(super) async fn pg_list_task_executions(
        &self,
        scope: &Scope,
        execution: &str,
    ) -> Result<Vec<TaskExecution>, StoreError> {
        let mut tasks: Vec<TaskExecution> = self
            .query_docs(
                "SELECT doc FROM task_executions WHERE account = $1 AND region = $2 AND window_execution_id = $3",
                &[&scope.account, &scope.region, &execution],
            )
            .await?;
        tasks.sort_by(|a, b| {
            (a.priority, a.start_ms, &a.task_execution_id).cmp(&(b.priority, b.start_ms, &b.task_execution_id))
        });
        Ok(tasks)
    }

    pub(super) async fn pg_list_invocations(
        &self,
        scope: &Scope,
        task: &str,
        statuses: &[ExecutionStatus],
        after_seq: Option<u32>,
        limit: usize,
    ) -> Result<Vec<TaskInvocation>, StoreError> {
        let after = after_seq.map_or(-1, |s| s as i32);
        let wanted: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        self.query_docs(
            "SELECT doc FROM task_invocations
             WHERE account = $1 AND region = $2 AND task_execution_id = $3 AND seq > $4
               AND (cardinality($6::text[]) = 0 OR status = ANY($6))
             ORDER BY seq LIMIT $5",
            &[&scope.account, &scope.region, &task, &after, &sql_limit(limit), &wanted],
        )
        .await
    }

    pub(super) async fn pg_purge(&self, before: i64) -> Result<usize, StoreError> {
        const OLD: &str = "(SELECT account, region, window_execution_id FROM window_executions
                            WHERE finished AND end_ms < $1)";
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        tx.execute(
            &format!("DELETE FROM task_invocations WHERE (account, region, window_execution_id) IN {OLD}"),
            &[&before],
        )
        .await?;
        tx.execute(
            &format!("DELETE FROM task_executions WHERE (account, region, window_execution_id) IN {OLD}"),
            &[&before],
        )
        .await?;
        let n = tx.execute("DELETE FROM window_executions WHERE finished AND end_ms < $1", &[&before]).await?;
        tx.execute("DELETE FROM events WHERE created_ms < $1", &[&before]).await?;
        tx.execute("DELETE FROM automation_executions WHERE finished AND end_ms < $1", &[&before]).await?;
        tx.execute(
            "DELETE FROM commands WHERE requested_ms < $1 AND NOT EXISTS (
                 SELECT 1 FROM command_invocations i WHERE i.account = commands.account
                   AND i.region = commands.region AND i.command_id = commands.command_id AND NOT i.finished)",
            &[&before],
        )
        .await?;
        tx.execute(
            "DELETE FROM command_invocations WHERE requested_ms < $1 AND NOT EXISTS (
                 SELECT 1 FROM commands c WHERE c.account = command_invocations.account
                   AND c.region = command_invocations.region AND c.command_id = command_invocations.command_id)",
            &[&before],
        )
        .await?;
        tx.commit().await?;
        Ok(n as usize)
    }

    pub(super) async fn pg_events_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query("SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", &[&after, &sql_limit(limit)])
            .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub(super) async fn pg_tagged_resources(
        &self,
        scope: &Scope,
        rtype: &str,
        key: &str,
        values: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query(
                "SELECT resource_id FROM tags
                 WHERE account = $1 AND region = $2 AND resource_type = $3 AND tag_key = $4
                   AND (cardinality($5::text[]) = 0 OR tag_value = ANY($5))
                 ORDER BY resource_id",
                &[&scope.account, &scope.region, &rtype, &key, &values],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }
}
