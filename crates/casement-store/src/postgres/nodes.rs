//! Activations, managed nodes and Run Command on PostgreSQL. Same rules as the SQLite
//! backend; a command's changes serialize on its row (`SELECT … FOR UPDATE`), so replies
//! reaching different servers settle one after the other, and each server commits the
//! updates that reach it together (`group_commit`).

use std::collections::HashMap;
use std::sync::Arc;

use casement_model::command::{prepare, settle};
use casement_model::{Activation, Command, CommandInvocation, InvocationState, ManagedNode, NodeKey, Scope, Tag};
use tokio_postgres::Transaction;

use casement_model::node::{ACTIVATION_RESOURCE_TYPE, NODE_RESOURCE_TYPE};

use super::{doc, drop_tags, now_ms, put_tags, sql_limit, PgStore};
use crate::group_commit::{ApplyBatch, Outcomes, Update};
use crate::rules::check_registration;
use crate::{CommandKey, CommandUpdate, StoreError};

async fn put_command(tx: &Transaction<'_>, scope: &Scope, c: &Command) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO commands (account, region, command_id, requested_ms, doc) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account, region, command_id) DO UPDATE SET doc = excluded.doc",
        &[&scope.account, &scope.region, &c.command_id, &c.requested_ms, &serde_json::to_string(c)?],
    )
    .await?;
    Ok(())
}

const PUT_INVOCATION: &str = "INSERT INTO command_invocations (account, region, command_id, instance_id, seq,
        requested_ms, released, finished, pending_message, deadline_ms, doc)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (account, region, command_id, instance_id) DO UPDATE SET
        released = excluded.released,
        finished = excluded.finished, pending_message = excluded.pending_message,
        deadline_ms = excluded.deadline_ms, doc = excluded.doc";

/// Write invocations with one prepared statement, every row in flight at once: a fleet's
/// thousand rows cost one round trip, not a thousand (or two thousand, with a prepare
/// each).
async fn put_invocations<'i>(
    tx: &Transaction<'_>,
    scope: &Scope,
    invocations: impl Iterator<Item = &'i CommandInvocation>,
) -> Result<(), StoreError> {
    let stmt = tx.prepare(PUT_INVOCATION).await?;
    /// A row's values that are not fields of the invocation.
    struct Row<'i> {
        inv: &'i CommandInvocation,
        seq: i64,
        finished: bool,
        pending: bool,
        deadline: Option<i64>,
        doc: String,
    }
    let rows = invocations
        .map(|inv| {
            Ok(Row {
                inv,
                seq: i64::from(inv.seq),
                finished: inv.state.is_final(),
                pending: inv.pending_message(),
                deadline: (!inv.state.is_final()).then_some(inv.deadline_ms),
                doc: serde_json::to_string(inv)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let writes = rows.iter().map(|r| async {
        tx.execute(
            &stmt,
            &[
                &scope.account,
                &scope.region,
                &r.inv.command_id,
                &r.inv.instance_id,
                &r.seq,
                &r.inv.requested_ms,
                &r.inv.released,
                &r.finished,
                &r.pending,
                &r.deadline,
                &r.doc,
            ],
        )
        .await
    });
    futures_util::future::try_join_all(writes).await?;
    Ok(())
}

async fn invocation_docs(
    tx: &Transaction<'_>,
    sql: &str,
    p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<CommandInvocation>, StoreError> {
    tx.query(sql, p).await?.into_iter().map(|r| doc(r.get(0))).collect()
}

fn node_row(r: &tokio_postgres::Row) -> Result<ManagedNode, StoreError> {
    let mut n: ManagedNode = doc(r.get(0))?;
    n.last_ping_ms = r.get(1);
    Ok(n)
}

impl PgStore {
    pub(super) async fn create_activation_pg(
        &self,
        scope: &Scope,
        a: &Activation,
        code_sha256: &str,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO activations (account, region, activation_id, code_sha256, doc) VALUES ($1, $2, $3, $4, $5)",
            &[&scope.account, &scope.region, &a.activation_id, &code_sha256, &serde_json::to_string(a)?],
        )
        .await?;
        put_tags(&tx, scope, ACTIVATION_RESOURCE_TYPE, &a.activation_id, tags).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn get_activation_pg(&self, scope: &Scope, id: &str) -> Result<Option<Activation>, StoreError> {
        self.query_doc(
            "SELECT doc FROM activations WHERE account = $1 AND region = $2 AND activation_id = $3",
            &[&scope.account, &scope.region, &id],
        )
        .await
    }

    pub(super) async fn list_activations_pg(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Activation>, StoreError> {
        self.query_docs(
            "SELECT doc FROM activations WHERE account = $1 AND region = $2 AND activation_id > $3
             ORDER BY activation_id LIMIT $4",
            &[&scope.account, &scope.region, &after.unwrap_or(""), &sql_limit(limit)],
        )
        .await
    }

    pub(super) async fn delete_activation_pg(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        drop_tags(&tx, scope, ACTIVATION_RESOURCE_TYPE, id).await?;
        let n = tx
            .execute(
                "DELETE FROM activations WHERE account = $1 AND region = $2 AND activation_id = $3",
                &[&scope.account, &scope.region, &id],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn register_node_pg(
        &self,
        activation_id: &str,
        code_sha256: &str,
        now: i64,
        mut node: ManagedNode,
        access_key_id: &str,
        secret: &str,
    ) -> Result<(Scope, ManagedNode), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT account, region, code_sha256, doc FROM activations WHERE activation_id = $1 FOR UPDATE",
                &[&activation_id],
            )
            .await?
        else {
            return Err(StoreError::NotFound);
        };
        let scope = Scope::new(row.get::<_, String>(0), row.get::<_, String>(1));
        let stored_code: String = row.get(2);
        let mut act: Activation = doc(row.get(3))?;
        check_registration(&act, &stored_code, code_sha256, now)?;
        act.registrations_count += 1;
        tx.execute(
            "UPDATE activations SET doc = $4 WHERE account = $1 AND region = $2 AND activation_id = $3",
            &[&scope.account, &scope.region, &activation_id, &serde_json::to_string(&act)?],
        )
        .await?;
        node.activation_id = act.activation_id.clone();
        node.iam_role = act.iam_role.clone();
        node.name = act.default_instance_name.clone();
        node.registration_ms = now;
        node.last_ping_ms = now;
        tx.execute(
            "INSERT INTO managed_nodes (account, region, instance_id, access_key_id, secret, last_ping_ms, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &scope.account,
                &scope.region,
                &node.instance_id,
                &access_key_id,
                &secret,
                &now,
                &serde_json::to_string(&node)?,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok((scope, node))
    }

    pub(super) async fn node_key_pg(&self, access_key_id: &str) -> Result<Option<NodeKey>, StoreError> {
        let client = self.client().await;
        let row = client
            .query_opt(
                "SELECT account, region, instance_id, secret, deregistered FROM managed_nodes WHERE access_key_id = $1",
                &[&access_key_id],
            )
            .await?;
        Ok(row.map(|r| NodeKey {
            scope: Scope::new(r.get::<_, String>(0), r.get::<_, String>(1)),
            instance_id: r.get(2),
            access_key_id: access_key_id.to_owned(),
            secret_access_key: r.get(3),
            deregistered: r.get(4),
        }))
    }

    pub(super) async fn update_node_pg(&self, scope: &Scope, node: &ManagedNode) -> Result<bool, StoreError> {
        let client = self.client().await;
        let n = client
            .execute(
                "UPDATE managed_nodes SET doc = $4, last_ping_ms = $5
                 WHERE account = $1 AND region = $2 AND instance_id = $3 AND NOT deregistered",
                &[&scope.account, &scope.region, &node.instance_id, &serde_json::to_string(node)?, &node.last_ping_ms],
            )
            .await?;
        Ok(n > 0)
    }

    pub(super) async fn ping_node_pg(&self, scope: &Scope, id: &str, now: i64) -> Result<(), StoreError> {
        self.client()
            .await
            .execute(
                "UPDATE managed_nodes SET last_ping_ms = $4 WHERE account = $1 AND region = $2 AND instance_id = $3",
                &[&scope.account, &scope.region, &id, &now],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn get_node_pg(&self, scope: &Scope, id: &str) -> Result<Option<ManagedNode>, StoreError> {
        let client = self.client().await;
        let row = client
            .query_opt(
                "SELECT doc, last_ping_ms FROM managed_nodes
                 WHERE account = $1 AND region = $2 AND instance_id = $3 AND NOT deregistered",
                &[&scope.account, &scope.region, &id],
            )
            .await?;
        row.as_ref().map(node_row).transpose()
    }

    pub(super) async fn list_nodes_pg(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ManagedNode>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query(
                "SELECT doc, last_ping_ms FROM managed_nodes
                 WHERE account = $1 AND region = $2 AND instance_id > $3 AND NOT deregistered
                 ORDER BY instance_id LIMIT $4",
                &[&scope.account, &scope.region, &after.unwrap_or(""), &sql_limit(limit)],
            )
            .await?;
        rows.iter().map(node_row).collect()
    }

    pub(super) async fn deregister_node_pg(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE managed_nodes SET deregistered = TRUE
                 WHERE account = $1 AND region = $2 AND instance_id = $3 AND NOT deregistered",
                &[&scope.account, &scope.region, &id],
            )
            .await?;
        drop_tags(&tx, scope, NODE_RESOURCE_TYPE, id).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn create_command_pg(
        &self,
        scope: &Scope,
        mut cmd: Command,
        mut invocations: Vec<CommandInvocation>,
    ) -> Result<CommandUpdate, StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        prepare(&mut cmd, &mut invocations);
        put_invocations(&tx, scope, invocations.iter()).await?;
        let mut changed: Vec<CommandInvocation> = invocations.into_iter().filter(|i| i.pending_message()).collect();
        let mut w = Working::new(cmd, HashMap::new());
        w.settle(&tx, scope, &mut changed).await?;
        put_command(&tx, scope, &w.cmd).await?;
        tx.commit().await?;
        Ok(CommandUpdate { command: Arc::new(w.cmd), changed, matched: 0 })
    }

    /// Apply a batch of command updates in one transaction (see `group_commit`). The
    /// commands it touches are locked first, in one order (servers sharing the database
    /// take them alike, so two batches cannot deadlock), and their invocations the batch
    /// names read in one query per command; the updates then apply in memory in arrival
    /// order (each sees the ones before it), and what they changed is written with the
    /// statements in flight together (one round trip, not one per invocation). Each
    /// command is written once, at the end, and every update's outcome shares that
    /// final version.
    pub(super) async fn apply_updates_pg(&self, batch: &[Update]) -> Outcomes {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let mut keys: Vec<(&Scope, &str)> = batch.iter().map(|u| (&u.scope, u.command_id.as_str())).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut working: HashMap<(&Scope, &str), Working> = HashMap::with_capacity(keys.len());
        for (scope, id) in keys {
            let row = tx
                .query_opt(
                    "SELECT doc FROM commands WHERE account = $1 AND region = $2 AND command_id = $3 FOR UPDATE",
                    &[&scope.account, &scope.region, &id],
                )
                .await?;
            let Some(row) = row else { continue };
            let named = batch.iter().filter(|u| u.scope == *scope && u.command_id == id);
            let invocations = if named.clone().any(|u| u.instances.is_none()) {
                invocation_docs(
                    &tx,
                    "SELECT doc FROM command_invocations WHERE account = $1 AND region = $2 AND command_id = $3",
                    &[&scope.account, &scope.region, &id],
                )
                .await?
            } else {
                let mut ids: Vec<&str> = named.flat_map(|u| u.instances.iter().flatten().map(String::as_str)).collect();
                ids.sort_unstable();
                ids.dedup();
                invocation_docs(
                    &tx,
                    "SELECT doc FROM command_invocations
                     WHERE account = $1 AND region = $2 AND command_id = $3 AND instance_id = ANY($4)",
                    &[&scope.account, &scope.region, &id, &ids],
                )
                .await?
            };
            let invocations = invocations.into_iter().map(|i| (i.instance_id.clone(), i)).collect();
            working.insert((scope, id), Working::new(doc(row.get(0))?, invocations));
        }
        let mut applied = Vec::with_capacity(batch.len());
        for u in batch {
            let key = (&u.scope, u.command_id.as_str());
            let Some(w) = working.get_mut(&key) else {
                applied.push(None);
                continue;
            };
            let before = w.cmd.progress();
            let mut targets: Vec<String> = match &u.instances {
                None => w.invocations.keys().cloned().collect(),
                Some(ids) => ids.iter().filter(|i| w.invocations.contains_key(*i)).cloned().collect(),
            };
            targets.sort_by_key(|id| w.invocations[id].seq);
            let matched = targets.len();
            let mut changed = Vec::new();
            for id in targets {
                let Some(inv) = w.invocations.get_mut(&id) else { continue };
                let was = inv.standing();
                if (u.f)(&mut w.cmd, inv) {
                    w.cmd.counts.change(was, inv);
                    changed.push(inv.clone());
                    w.unwritten.push(id);
                }
            }
            if !changed.is_empty() || w.cmd.progress() != before {
                w.settle(&tx, &u.scope, &mut changed).await?;
                w.dirty = true;
            }
            applied.push(Some((key, changed, matched)));
        }
        let mut finals: HashMap<(&Scope, &str), Arc<Command>> = HashMap::with_capacity(working.len());
        for (key, mut w) in working {
            w.write(&tx, key.0).await?;
            if w.dirty {
                put_command(&tx, key.0, &w.cmd).await?;
            }
            finals.insert(key, Arc::new(w.cmd));
        }
        tx.commit().await?;
        Ok(applied
            .into_iter()
            .map(|a| a.map(|(key, changed, matched)| CommandUpdate { command: finals[&key].clone(), changed, matched }))
            .collect())
    }

    pub(super) async fn get_command_pg(&self, scope: &Scope, id: &str) -> Result<Option<Command>, StoreError> {
        self.query_doc(
            "SELECT doc FROM commands WHERE account = $1 AND region = $2 AND command_id = $3",
            &[&scope.account, &scope.region, &id],
        )
        .await
    }

    pub(super) async fn list_commands_pg(
        &self,
        scope: &Scope,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<Command>, StoreError> {
        let (t, id) = after.map_or((i64::MAX, String::new()), |(t, id, _)| (*t, id.clone()));
        match instance {
            None => {
                self.query_docs(
                    "SELECT doc FROM commands WHERE account = $1 AND region = $2
                       AND (requested_ms < $3 OR (requested_ms = $3 AND command_id < $4))
                     ORDER BY requested_ms DESC, command_id DESC LIMIT $5",
                    &[&scope.account, &scope.region, &t, &id, &sql_limit(limit)],
                )
                .await
            }
            Some(node) => {
                self.query_docs(
                    "SELECT c.doc FROM command_invocations i JOIN commands c
                       ON c.account = i.account AND c.region = i.region AND c.command_id = i.command_id
                     WHERE i.account = $1 AND i.region = $2 AND i.instance_id = $6
                       AND (i.requested_ms < $3 OR (i.requested_ms = $3 AND i.command_id < $4))
                     ORDER BY i.requested_ms DESC, i.command_id DESC LIMIT $5",
                    &[&scope.account, &scope.region, &t, &id, &sql_limit(limit), &node],
                )
                .await
            }
        }
    }

    pub(super) async fn get_command_invocation_pg(
        &self,
        scope: &Scope,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Option<CommandInvocation>, StoreError> {
        self.query_doc(
            "SELECT doc FROM command_invocations
             WHERE account = $1 AND region = $2 AND command_id = $3 AND instance_id = $4",
            &[&scope.account, &scope.region, &command_id, &instance_id],
        )
        .await
    }

    pub(super) async fn list_command_invocations_pg(
        &self,
        scope: &Scope,
        command: Option<&str>,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<CommandInvocation>, StoreError> {
        let (t, cid, iid) = after.map_or((i64::MAX, String::new(), String::new()), |k| k.clone());
        self.query_docs(
            "SELECT doc FROM command_invocations
             WHERE account = $1 AND region = $2
               AND ($3::TEXT IS NULL OR command_id = $3) AND ($4::TEXT IS NULL OR instance_id = $4)
               AND (requested_ms < $6 OR (requested_ms = $6 AND command_id < $5)
                    OR (requested_ms = $6 AND command_id = $5 AND instance_id > $7))
             ORDER BY requested_ms DESC, command_id DESC, instance_id ASC LIMIT $8",
            &[&scope.account, &scope.region, &command, &instance, &cid, &t, &iid, &sql_limit(limit)],
        )
        .await
    }

    pub(super) async fn node_messages_pg(
        &self,
        scope: &Scope,
        instance_id: &str,
        limit: usize,
    ) -> Result<Vec<(Command, CommandInvocation)>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query(
                "SELECT i.doc, c.doc FROM command_invocations i JOIN commands c
                   ON c.account = i.account AND c.region = i.region AND c.command_id = i.command_id
                 WHERE i.account = $1 AND i.region = $2 AND i.instance_id = $3 AND i.pending_message
                 ORDER BY i.requested_ms, i.seq LIMIT $4",
                &[&scope.account, &scope.region, &instance_id, &sql_limit(limit)],
            )
            .await?;
        rows.into_iter().map(|r| Ok((doc(r.get(1))?, doc(r.get(0))?))).collect()
    }

    pub(super) async fn due_invocations_pg(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(Scope, String, String)>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query(
                "SELECT account, region, command_id, instance_id FROM command_invocations
                 WHERE deadline_ms IS NOT NULL AND deadline_ms <= $1 LIMIT $2",
                &[&now, &sql_limit(limit)],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (Scope::new(r.get::<_, String>(0), r.get::<_, String>(1)), r.get(2), r.get(3)))
            .collect())
    }
}

/// A command in a transaction: as the transaction leaves it, the invocations it has read
/// (by node), and which of those still have to be written.
struct Working {
    cmd: Command,
    dirty: bool,
    invocations: HashMap<String, CommandInvocation>,
    unwritten: Vec<String>,
}

impl Working {
    fn new(cmd: Command, invocations: HashMap<String, CommandInvocation>) -> Self {
        Self { cmd, dirty: false, invocations, unwritten: Vec::new() }
    }

    /// Release or terminate waiting invocations as the command's counts now call for
    /// (`settle`), appending what it rewrote to `changed`. The waiting ones are read from
    /// the database, so what this transaction changed is written first.
    async fn settle(
        &mut self,
        tx: &Transaction<'_>,
        scope: &Scope,
        changed: &mut Vec<CommandInvocation>,
    ) -> Result<(), StoreError> {
        loop {
            let s = settle(&mut self.cmd);
            if s.release == 0 && !s.terminate_waiting {
                return Ok(());
            }
            self.write(tx, scope).await?;
            let limit = if s.terminate_waiting { i64::MAX } else { sql_limit(s.release) };
            let mut waiting = invocation_docs(
                tx,
                "SELECT doc FROM command_invocations
                 WHERE account = $1 AND region = $2 AND command_id = $3 AND NOT released AND NOT finished
                 ORDER BY seq LIMIT $4",
                &[&scope.account, &scope.region, &self.cmd.command_id, &limit],
            )
            .await?;
            if waiting.is_empty() {
                // The counts call for releases the rows cannot give: stop rather than spin.
                return Ok(());
            }
            for inv in &mut waiting {
                let before = inv.standing();
                if s.terminate_waiting {
                    inv.finish(InvocationState::Terminated, now_ms());
                } else {
                    inv.released = true;
                }
                self.cmd.counts.change(before, inv);
            }
            put_invocations(tx, scope, waiting.iter()).await?;
            for inv in waiting {
                self.invocations.insert(inv.instance_id.clone(), inv.clone());
                changed.push(inv);
            }
        }
    }

    /// Write the changed invocations (`put_invocations`: all in flight at once).
    async fn write(&mut self, tx: &Transaction<'_>, scope: &Scope) -> Result<(), StoreError> {
        let mut ids = std::mem::take(&mut self.unwritten);
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort_unstable();
        ids.dedup();
        put_invocations(tx, scope, ids.iter().filter_map(|id| self.invocations.get(id))).await
    }
}

/// PostgreSQL applies a batch on one pooled connection, in one transaction.
impl ApplyBatch for PgStore {
    fn apply_batch<'a>(
        &'a self,
        batch: &'a [Update],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Outcomes> + Send + 'a>> {
        Box::pin(self.apply_updates_pg(batch))
    }
}
