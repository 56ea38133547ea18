//! Automation executions on SQLite.

use casement_model::automation::{status, AUTOMATION_RESOURCE_TYPE};
use casement_model::{AutomationExecution, AutomationSignal, Scope, Tag};
use rusqlite::{params, OptionalExtension};

use super::{check_token, doc, put_tags, record_token, SqliteStore};
use crate::{ExecutionKey, Idempotency, StoreError};

impl SqliteStore {
    pub(super) fn create_automation_sync(
        &self,
        scope: &Scope,
        e: &AutomationExecution,
        tags: &[Tag],
        idem: Option<&Idempotency>,
        owner: &str,
        lease_until: i64,
    ) -> Result<String, StoreError> {
        let body = serde_json::to_string(e)?;
        self.write(|tx| {
            if let Some(id) = check_token(tx, scope, idem)? {
                return Ok(id);
            }
            tx.execute(
                "INSERT INTO automation_executions (account, region, execution_id, created_ms, status, finished,
                   end_ms, owner, lease_until_ms, doc, rate_control)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    scope.account,
                    scope.region,
                    e.automation_execution_id,
                    e.created_ms,
                    e.status,
                    e.is_final(),
                    e.end_ms,
                    owner,
                    lease_until,
                    body,
                    e.target_parameter_name.is_some()
                ],
            )?;
            put_tags(tx, scope, AUTOMATION_RESOURCE_TYPE, &e.automation_execution_id, tags)?;
            record_token(tx, scope, idem, &e.automation_execution_id)?;
            Ok(e.automation_execution_id.clone())
        })
    }

    pub(super) fn put_automation_sync(
        &self,
        scope: &Scope,
        e: &AutomationExecution,
        owner: &str,
        consumed: Option<i64>,
        events: &[String],
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(e)?;
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE automation_executions SET status = ?5, finished = ?6, end_ms = ?7, doc = ?8
                     WHERE account = ?1 AND region = ?2 AND execution_id = ?3 AND owner = ?4",
                )?
                .execute(params![
                    scope.account,
                    scope.region,
                    e.automation_execution_id,
                    owner,
                    e.status,
                    e.is_final(),
                    e.end_ms,
                    body
                ])?;
            if n == 0 {
                return Err(StoreError::Conflict);
            }
            if let Some(seq) = consumed {
                tx.prepare_cached(
                    "DELETE FROM automation_signals WHERE account = ?1 AND region = ?2 AND execution_id = ?3 AND seq <= ?4",
                )?
                .execute(params![scope.account, scope.region, e.automation_execution_id, seq])?;
            }
            super::executions::put_events(tx, events)
        })
    }

    pub(super) fn get_automation_sync(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<AutomationExecution>, StoreError> {
        let conn = self.reader();
        let body: Option<String> = conn
            .prepare_cached(
                "SELECT doc FROM automation_executions WHERE account = ?1 AND region = ?2 AND execution_id = ?3",
            )?
            .query_row(params![scope.account, scope.region, id], |r| r.get(0))
            .optional()?;
        body.map(doc).transpose()
    }

    pub(super) fn list_automations_sync(
        &self,
        scope: &Scope,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<AutomationExecution>, StoreError> {
        let (after_ms, after_id) = after.map(|(t, id)| (*t, id.as_str())).unwrap_or((i64::MAX, ""));
        self.query_docs(
            "SELECT doc FROM automation_executions
             WHERE account = ?1 AND region = ?2
               AND (created_ms < ?3 OR (created_ms = ?3 AND (?4 = '' OR execution_id < ?4)))
             ORDER BY created_ms DESC, execution_id DESC LIMIT ?5",
            params![scope.account, scope.region, after_ms, after_id, limit as i64],
        )
    }

    pub(super) fn add_automation_signal_sync(
        &self,
        scope: &Scope,
        id: &str,
        signal: &AutomationSignal,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(signal)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO automation_signals (account, region, execution_id, doc) VALUES (?1, ?2, ?3, ?4)",
                params![scope.account, scope.region, id, body],
            )?;
            Ok(())
        })
    }

    pub(super) fn automation_signals_sync(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Vec<(i64, AutomationSignal)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, doc FROM automation_signals WHERE account = ?1 AND region = ?2 AND execution_id = ?3
             ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![scope.account, scope.region, id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|r| {
            let (seq, body) = r?;
            Ok((seq, doc(body)?))
        })
        .collect()
    }

    pub(super) fn adopt_automations_sync(
        &self,
        owner: &str,
        lease_until: i64,
    ) -> Result<Vec<(Scope, AutomationExecution)>, StoreError> {
        // One process owns the database file: whatever another owner left running is
        // this process's to finish.
        self.write(|tx| {
            let rows: Vec<(String, String, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT account, region, doc FROM automation_executions
                     WHERE finished = 0 AND (owner IS NULL OR owner <> ?1)",
                )?;
                let rows = stmt.query_map(params![owner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            tx.execute(
                "UPDATE automation_executions SET owner = ?1, lease_until_ms = ?2 WHERE finished = 0",
                params![owner, lease_until],
            )?;
            rows.into_iter().map(|(account, region, d)| Ok((Scope { account, region }, doc(d)?))).collect()
        })
    }

    pub(super) fn renew_automation_leases_sync(&self, owner: &str, lease_until: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE automation_executions SET lease_until_ms = ?2 WHERE finished = 0 AND owner = ?1",
                params![owner, lease_until],
            )?;
            Ok(())
        })
    }

    pub(super) fn running_automations_sync(&self, scope: &Scope) -> Result<usize, StoreError> {
        let conn = self.reader();
        let n: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM automation_executions
                 WHERE finished = 0 AND account = ?1 AND region = ?2 AND status <> ?3 AND rate_control = 0",
            )?
            .query_row(params![scope.account, scope.region, status::PENDING], |r| r.get(0))?;
        Ok(n as usize)
    }
}
