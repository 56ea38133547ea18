//! Activations and managed nodes on SQLite.

use casement_model::{Activation, ManagedNode, NodeKey, Scope, Tag};
use rusqlite::{params, OptionalExtension};

use casement_model::node::{ACTIVATION_RESOURCE_TYPE, NODE_RESOURCE_TYPE};

use super::{doc, drop_tags, put_tags, SqliteStore};
use crate::rules::check_registration;
use crate::StoreError;

impl SqliteStore {
    pub(super) fn create_activation_sync(
        &self,
        scope: &Scope,
        a: &Activation,
        code_sha256: &str,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(a)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO activations (account, region, activation_id, code_sha256, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![scope.account, scope.region, a.activation_id, code_sha256, body],
            )?;
            put_tags(tx, scope, ACTIVATION_RESOURCE_TYPE, &a.activation_id, tags)
        })
    }

    pub(super) fn get_activation_sync(&self, scope: &Scope, id: &str) -> Result<Option<Activation>, StoreError> {
        let conn = self.reader();
        let body: Option<String> = conn
            .prepare_cached("SELECT doc FROM activations WHERE account = ?1 AND region = ?2 AND activation_id = ?3")?
            .query_row(params![scope.account, scope.region, id], |r| r.get(0))
            .optional()?;
        body.map(doc).transpose()
    }

    pub(super) fn list_activations_sync(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Activation>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT doc FROM activations WHERE account = ?1 AND region = ?2 AND activation_id > ?3
             ORDER BY activation_id LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![scope.account, scope.region, after.unwrap_or(""), limit as i64], |r| {
            r.get::<_, String>(0)
        })?;
        rows.map(|r| doc(r?)).collect()
    }

    pub(super) fn delete_activation_sync(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            drop_tags(tx, scope, ACTIVATION_RESOURCE_TYPE, id)?;
            Ok(tx.execute(
                "DELETE FROM activations WHERE account = ?1 AND region = ?2 AND activation_id = ?3",
                params![scope.account, scope.region, id],
            )? > 0)
        })
    }

    pub(super) fn register_node_sync(
        &self,
        activation_id: &str,
        code_sha256: &str,
        now_ms: i64,
        mut node: ManagedNode,
        access_key_id: &str,
        secret: &str,
    ) -> Result<(Scope, ManagedNode), StoreError> {
        self.write(|tx| {
            let row: Option<(String, String, String, String)> = tx
                .query_row(
                    "SELECT account, region, code_sha256, doc FROM activations WHERE activation_id = ?1",
                    params![activation_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((account, region, stored_code, body)) = row else { return Err(StoreError::NotFound) };
            let scope = Scope::new(account, region);
            let mut act: Activation = doc(body)?;
            check_registration(&act, &stored_code, code_sha256, now_ms)?;
            act.registrations_count += 1;
            tx.execute(
                "UPDATE activations SET doc = ?4 WHERE account = ?1 AND region = ?2 AND activation_id = ?3",
                params![scope.account, scope.region, activation_id, serde_json::to_string(&act)?],
            )?;
            node.activation_id = act.activation_id.clone();
            node.iam_role = act.iam_role.clone();
            node.name = act.default_instance_name.clone();
            node.registration_ms = now_ms;
            node.last_ping_ms = now_ms;
            tx.execute(
                "INSERT INTO managed_nodes (account, region, instance_id, access_key_id, secret, last_ping_ms, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    scope.account,
                    scope.region,
                    node.instance_id,
                    access_key_id,
                    secret,
                    now_ms,
                    serde_json::to_string(&node)?
                ],
            )?;
            Ok((scope, node))
        })
    }

    pub(super) fn node_key_sync(&self, access_key_id: &str) -> Result<Option<NodeKey>, StoreError> {
        let conn = self.reader();
        let key = conn
            .prepare_cached(
                "SELECT account, region, instance_id, secret, deregistered FROM managed_nodes WHERE access_key_id = ?1",
            )?
            .query_row(params![access_key_id], |r| {
                Ok(NodeKey {
                    scope: Scope::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    instance_id: r.get(2)?,
                    access_key_id: access_key_id.to_owned(),
                    secret_access_key: r.get(3)?,
                    deregistered: r.get(4)?,
                })
            })
            .optional()?;
        Ok(key)
    }

    pub(super) fn update_node_sync(&self, scope: &Scope, node: &ManagedNode) -> Result<bool, StoreError> {
        let body = serde_json::to_string(node)?;
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE managed_nodes SET doc = ?4, last_ping_ms = ?5
                 WHERE account = ?1 AND region = ?2 AND instance_id = ?3 AND deregistered = 0",
                params![scope.account, scope.region, node.instance_id, body, node.last_ping_ms],
            )? > 0)
        })
    }

    pub(super) fn ping_node_sync(&self, scope: &Scope, id: &str, now_ms: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE managed_nodes SET last_ping_ms = ?4 WHERE account = ?1 AND region = ?2 AND instance_id = ?3",
            )?
            .execute(params![scope.account, scope.region, id, now_ms])?;
            Ok(())
        })
    }

    pub(super) fn get_node_sync(&self, scope: &Scope, id: &str) -> Result<Option<ManagedNode>, StoreError> {
        let conn = self.reader();
        let row: Option<(String, i64)> = conn
            .prepare_cached(
                "SELECT doc, last_ping_ms FROM managed_nodes
                 WHERE account = ?1 AND region = ?2 AND instance_id = ?3 AND deregistered = 0",
            )?
            .query_row(params![scope.account, scope.region, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(node_row).transpose()
    }

    pub(super) fn list_nodes_sync(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ManagedNode>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT doc, last_ping_ms FROM managed_nodes
             WHERE account = ?1 AND region = ?2 AND instance_id > ?3 AND deregistered = 0
             ORDER BY instance_id LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![scope.account, scope.region, after.unwrap_or(""), limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.map(|r| node_row(r?)).collect()
    }

    pub(super) fn deregister_node_sync(&self, scope: &Scope, id: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE managed_nodes SET deregistered = 1
                 WHERE account = ?1 AND region = ?2 AND instance_id = ?3 AND deregistered = 0",
                params![scope.account, scope.region, id],
            )?;
            drop_tags(tx, scope, NODE_RESOURCE_TYPE, id)?;
            Ok(n > 0)
        })
    }
}

fn node_row((body, ping): (String, i64)) -> Result<ManagedNode, StoreError> {
    let mut n: ManagedNode = doc(body)?;
    n.last_ping_ms = ping;
    Ok(n)
}
