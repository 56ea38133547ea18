//! Run Command on SQLite: commands, their invocations, and the agents' message queue
//! (an invocation with a message waiting is the queue entry: no separate table to keep
//! in step).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use casement_model::command::{prepare, settle};
use casement_model::{insert_bounded, Command, CommandInvocation, InvocationState, Scope};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{doc, SqliteStore};
use crate::group_commit::{ApplyBatch, Outcomes, Update};
use crate::{CommandKey, CommandUpdate, StoreError};

fn put_command(tx: &Transaction<'_>, scope: &Scope, c: &Command) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO commands (account, region, command_id, requested_ms, doc) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account, region, command_id) DO UPDATE SET doc = excluded.doc",
    )?
    .execute(params![scope.account, scope.region, c.command_id, c.requested_ms, serde_json::to_string(c)?])?;
    Ok(())
}

fn put_invocation(tx: &Transaction<'_>, scope: &Scope, i: &CommandInvocation) -> Result<(), StoreError> {
    let deadline = (!i.state.is_final()).then_some(i.deadline_ms);
    tx.prepare_cached(
        "INSERT INTO command_invocations (account, region, command_id, instance_id, seq, requested_ms,
            released, finished, pending_message, deadline_ms, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (account, region, command_id, instance_id) DO UPDATE SET
            released = excluded.released,
            finished = excluded.finished, pending_message = excluded.pending_message,
            deadline_ms = excluded.deadline_ms, doc = excluded.doc",
    )?
    .execute(params![
        scope.account,
        scope.region,
        i.command_id,
        i.instance_id,
        i.seq,
        i.requested_ms,
        i.released,
        i.state.is_final(),
        i.pending_message(),
        deadline,
        serde_json::to_string(i)?
    ])?;
    Ok(())
}

fn get_command(conn: &rusqlite::Connection, scope: &Scope, id: &str) -> Result<Option<Command>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT doc FROM commands WHERE account = ?1 AND region = ?2 AND command_id = ?3")?
        .query_row(params![scope.account, scope.region, id], |r| r.get(0))
        .optional()?;
    body.map(doc).transpose()
}

fn invocation_docs(
    tx: &Transaction<'_>,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<CommandInvocation>, StoreError> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(p, |r| r.get::<_, String>(0))?;
    rows.map(|r| doc(r?)).collect()
}

/// Settle the command after a change: release or terminate waiting invocations (the
/// caller stores the recomputed command). Appends what it rewrote to `update`.
fn settle_invocations(
    tx: &Transaction<'_>,
    scope: &Scope,
    cmd: &mut Command,
    update: &mut Vec<CommandInvocation>,
    now_ms: i64,
) -> Result<(), StoreError> {
    loop {
        let s = settle(cmd);
        if s.release == 0 && !s.terminate_waiting {
            break;
        }
        let waiting = invocation_docs(
            tx,
            "SELECT doc FROM command_invocations
             WHERE account = ?1 AND region = ?2 AND command_id = ?3 AND released = 0 AND finished = 0
             ORDER BY seq LIMIT ?4",
            params![
                scope.account,
                scope.region,
                cmd.command_id,
                if s.terminate_waiting { -1 } else { s.release as i64 }
            ],
        )?;
        if waiting.is_empty() {
            // The counts call for releases the rows cannot give: stop rather than spin.
            break;
        }
        for mut inv in waiting {
            let before = inv.standing();
            if s.terminate_waiting {
                inv.finish(InvocationState::Terminated, now_ms);
            } else {
                inv.released = true;
            }
            cmd.counts.change(before, &inv);
            put_invocation(tx, scope, &inv)?;
            update.push(inv);
        }
    }
    Ok(())
}

/// The invocations an update chose, in send order for "all of them".
fn update_targets(tx: &Transaction<'_>, u: &Update) -> Result<Vec<CommandInvocation>, StoreError> {
    let Some(ids) = &u.instances else {
        return invocation_docs(
            tx,
            "SELECT doc FROM command_invocations WHERE account = ?1 AND region = ?2 AND command_id = ?3
             ORDER BY seq",
            params![u.scope.account, u.scope.region, u.command_id],
        );
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(invocation_docs(
            tx,
            "SELECT doc FROM command_invocations
             WHERE account = ?1 AND region = ?2 AND command_id = ?3 AND instance_id = ?4",
            params![u.scope.account, u.scope.region, u.command_id, id],
        )?);
    }
    Ok(out)
}

/// Apply one update to its invocations and settle `cmd` (the batch's working copy).
/// Returns the invocations rewritten, how many the update was offered, and whether the
/// command changed (and must be written back).
fn apply_update(
    tx: &Transaction<'_>,
    u: &Update,
    cmd: &mut Command,
    now_ms: i64,
) -> Result<(Vec<CommandInvocation>, usize, bool), StoreError> {
    let before = cmd.progress();
    let targets = update_targets(tx, u)?;
    let matched = targets.len();
    let mut changed = Vec::new();
    for mut inv in targets {
        let was = inv.standing();
        if (u.f)(cmd, &mut inv) {
            cmd.counts.change(was, &inv);
            put_invocation(tx, &u.scope, &inv)?;
            changed.push(inv);
        }
    }
    if changed.is_empty() && cmd.progress() == before {
        return Ok((changed, matched, false));
    }
    settle_invocations(tx, &u.scope, cmd, &mut changed, now_ms)?;
    Ok((changed, matched, true))
}

fn now() -> i64 {
    super::now_ms()
}

/// SQLite applies a batch synchronously, under its one connection.
impl ApplyBatch for SqliteStore {
    fn apply_batch<'a>(
        &'a self,
        batch: &'a [Update],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Outcomes> + Send + 'a>> {
        Box::pin(std::future::ready(self.apply_updates(batch)))
    }
}

/// Beyond this many cached commands the cache starts over.
const COMMAND_CACHE_MAX: usize = 10_000;

impl SqliteStore {
    fn cached_command(&self, scope: &Scope, id: &str) -> Option<Arc<Command>> {
        let map = self.commands.read().unwrap_or_else(|p| p.into_inner());
        map.get(id).filter(|(s, _)| s == scope).map(|(_, c)| c.clone())
    }

    fn cache_command(&self, scope: &Scope, cmd: Arc<Command>) {
        let mut map = self.commands.write().unwrap_or_else(|p| p.into_inner());
        insert_bounded(&mut map, COMMAND_CACHE_MAX, cmd.command_id.clone(), (scope.clone(), cmd));
    }

    /// A command, from the cache or else the store. What is read here is not cached: only
    /// writes fill the cache, under the write lock, so a read racing a write cannot put
    /// back an older version.
    fn command(
        &self,
        conn: &rusqlite::Connection,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<Arc<Command>>, StoreError> {
        if let Some(c) = self.cached_command(scope, id) {
            return Ok(Some(c));
        }
        Ok(get_command(conn, scope, id)?.map(Arc::new))
    }

    pub(super) fn create_command_sync(
        &self,
        scope: &Scope,
        mut cmd: Command,
        mut invocations: Vec<CommandInvocation>,
    ) -> Result<CommandUpdate, StoreError> {
        self.write_then(
            |tx| {
                prepare(&mut cmd, &mut invocations);
                for inv in &invocations {
                    put_invocation(tx, scope, inv)?;
                }
                let mut changed: Vec<CommandInvocation> =
                    invocations.into_iter().filter(|i| i.pending_message()).collect();
                settle_invocations(tx, scope, &mut cmd, &mut changed, now())?;
                put_command(tx, scope, &cmd)?;
                Ok(CommandUpdate { command: Arc::new(cmd), changed, matched: 0 })
            },
            |u| self.cache_command(scope, u.command.clone()),
        )
    }

    /// Apply a batch of command updates in one transaction (see `group_commit`). Each
    /// sees the ones before it; each command it touches is written once, at the end, and
    /// every update's outcome shares that final version.
    pub(super) fn apply_updates(&self, updates: &[Update]) -> Result<Vec<Option<CommandUpdate>>, StoreError> {
        self.write_then(
            |tx| {
                // The commands this batch touches, as it leaves them, and whether each
                // changed; the cached version is shared until the first change copies it.
                let mut working: HashMap<(&Scope, &str), (Arc<Command>, bool)> = HashMap::new();
                let mut applied = Vec::with_capacity(updates.len());
                let now = now();
                for u in updates {
                    let key = (&u.scope, u.command_id.as_str());
                    let (cmd, dirty) = match working.entry(key) {
                        Entry::Occupied(e) => e.into_mut(),
                        Entry::Vacant(e) => match self.command(tx, &u.scope, &u.command_id)? {
                            Some(c) => e.insert((c, false)),
                            None => {
                                applied.push(None);
                                continue;
                            }
                        },
                    };
                    let (changed, matched, touched) = apply_update(tx, u, Arc::make_mut(cmd), now)?;
                    *dirty |= touched;
                    applied.push(Some((key, changed, matched)));
                }
                for ((scope, _), (cmd, dirty)) in &working {
                    if *dirty {
                        put_command(tx, scope, cmd)?;
                    }
                }
                let outcomes: Vec<_> = applied
                    .into_iter()
                    .map(|a| {
                        a.map(|(key, changed, matched)| CommandUpdate {
                            command: working[&key].0.clone(),
                            changed,
                            matched,
                        })
                    })
                    .collect();
                let written: Vec<(Scope, Arc<Command>)> = working
                    .into_iter()
                    .filter(|(_, (_, dirty))| *dirty)
                    .map(|((scope, _), (cmd, _))| (scope.clone(), cmd))
                    .collect();
                Ok((outcomes, written))
            },
            |(_, written)| {
                for (scope, cmd) in written {
                    self.cache_command(scope, cmd.clone());
                }
            },
        )
        .map(|(outcomes, _)| outcomes)
    }

    pub(super) fn get_command_sync(&self, scope: &Scope, id: &str) -> Result<Option<Command>, StoreError> {
        Ok(self.command(&self.reader(), scope, id)?.map(Arc::unwrap_or_clone))
    }

    pub(super) fn list_commands_sync(
        &self,
        scope: &Scope,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<Command>, StoreError> {
        let conn = self.reader();
        let (t, id) = after.map_or((i64::MAX, String::new()), |(t, id, _)| (*t, id.clone()));
        let lim = limit.min(i64::MAX as usize) as i64;
        let mut out = Vec::new();
        match instance {
            None => {
                let mut stmt = conn.prepare_cached(
                    "SELECT doc FROM commands WHERE account = ?1 AND region = ?2
                       AND (requested_ms < ?3 OR (requested_ms = ?3 AND command_id < ?4))
                     ORDER BY requested_ms DESC, command_id DESC LIMIT ?5",
                )?;
                let rows =
                    stmt.query_map(params![scope.account, scope.region, t, id, lim], |r| r.get::<_, String>(0))?;
                for r in rows {
                    out.push(doc(r?)?);
                }
            }
            Some(node) => {
                let mut stmt = conn.prepare_cached(
                    "SELECT c.doc FROM command_invocations i JOIN commands c
                       ON c.account = i.account AND c.region = i.region AND c.command_id = i.command_id
                     WHERE i.account = ?1 AND i.region = ?2 AND i.instance_id = ?6
                       AND (i.requested_ms < ?3 OR (i.requested_ms = ?3 AND i.command_id < ?4))
                     ORDER BY i.requested_ms DESC, i.command_id DESC LIMIT ?5",
                )?;
                let rows =
                    stmt.query_map(params![scope.account, scope.region, t, id, lim, node], |r| r.get::<_, String>(0))?;
                for r in rows {
                    out.push(doc(r?)?);
                }
            }
        }
        Ok(out)
    }

    pub(super) fn get_command_invocation_sync(
        &self,
        scope: &Scope,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Option<CommandInvocation>, StoreError> {
        let conn = self.reader();
        let body: Option<String> = conn
            .prepare_cached(
                "SELECT doc FROM command_invocations
                 WHERE account = ?1 AND region = ?2 AND command_id = ?3 AND instance_id = ?4",
            )?
            .query_row(params![scope.account, scope.region, command_id, instance_id], |r| r.get(0))
            .optional()?;
        body.map(doc).transpose()
    }

    pub(super) fn list_command_invocations_sync(
        &self,
        scope: &Scope,
        command: Option<&str>,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<CommandInvocation>, StoreError> {
        let conn = self.reader();
        let (t, cid, iid) = after.map_or((i64::MAX, String::new(), String::new()), |k| k.clone());
        let lim = limit.min(i64::MAX as usize) as i64;
        // Keyset order: (requested DESC, command DESC, instance ASC); one statement per
        // shape, so each is a seek on its own index.
        let own_after = match command {
            Some(c) if cid == c => iid.as_str(),
            _ => "",
        };
        let (sql, p): (&str, Vec<&dyn rusqlite::ToSql>) = match (&command, &instance) {
            // One command: its invocations share requested and command, so the key is
            // the instance.
            (Some(c), node) => (
                "SELECT doc FROM command_invocations
                 WHERE account = ?1 AND region = ?2 AND command_id = ?3 AND (?4 IS NULL OR instance_id = ?4)
                   AND instance_id > ?5
                 ORDER BY instance_id LIMIT ?6",
                vec![&scope.account, &scope.region, c, node, &own_after, &lim],
            ),
            (None, Some(node)) => (
                "SELECT doc FROM command_invocations INDEXED BY command_invocations_by_node
                 WHERE account = ?1 AND region = ?2 AND instance_id = ?3
                   AND (requested_ms < ?4 OR (requested_ms = ?4 AND command_id < ?5))
                 ORDER BY requested_ms DESC, command_id DESC LIMIT ?6",
                vec![&scope.account, &scope.region, node, &t, &cid, &lim],
            ),
            (None, None) => (
                "SELECT doc FROM command_invocations INDEXED BY command_invocations_by_time
                 WHERE account = ?1 AND region = ?2
                   AND (requested_ms < ?3 OR (requested_ms = ?3 AND command_id < ?4)
                        OR (requested_ms = ?3 AND command_id = ?4 AND instance_id > ?5))
                 ORDER BY requested_ms DESC, command_id DESC, instance_id ASC LIMIT ?6",
                vec![&scope.account, &scope.region, &t, &cid, &iid, &lim],
            ),
        };
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(p.as_slice(), |r| r.get::<_, String>(0))?;
        rows.map(|r| doc(r?)).collect()
    }

    /// Names the partial index of waiting messages: without statistics SQLite's planner
    /// preferred a primary-key prefix scan of the whole scope (measured: it made delivery
    /// to 1,000 agents quadratic).
    pub(super) fn node_messages_sync(
        &self,
        scope: &Scope,
        instance_id: &str,
        limit: usize,
    ) -> Result<Vec<(Command, CommandInvocation)>, StoreError> {
        let conn = self.reader();
        let invs: Vec<CommandInvocation> = {
            let mut stmt = conn.prepare_cached(
                "SELECT doc FROM command_invocations INDEXED BY command_invocations_messages
                 WHERE account = ?1 AND region = ?2 AND instance_id = ?3 AND pending_message = 1
                 ORDER BY requested_ms, seq LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![scope.account, scope.region, instance_id, limit as i64], |r| {
                r.get::<_, String>(0)
            })?;
            rows.map(|r| doc(r?)).collect::<Result<_, StoreError>>()?
        };
        let mut out = Vec::with_capacity(invs.len());
        for inv in invs {
            if let Some(cmd) = self.command(&conn, scope, &inv.command_id)? {
                out.push((Arc::unwrap_or_clone(cmd), inv));
            }
        }
        Ok(out)
    }

    pub(super) fn due_invocations_sync(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Scope, String, String)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT account, region, command_id, instance_id FROM command_invocations
             WHERE deadline_ms IS NOT NULL AND deadline_ms <= ?1 LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
            Ok((Scope::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?), r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
