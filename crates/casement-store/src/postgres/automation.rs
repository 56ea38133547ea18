//! Automation executions on PostgreSQL. A write by an execution's driver names the
//! driver (`owner`): once another server has taken the execution over after the lease
//! ran out, the old driver's writes are refused (`Conflict`) and it stops, so a step is
//! never driven by two servers.

use casement_model::automation::{status, AUTOMATION_RESOURCE_TYPE};
use casement_model::{AutomationExecution, AutomationSignal, Scope, Tag};

use super::{check_token, doc, executions, lock_scope, put_tags, record_token, sql_limit, PgStore};
use crate::{ExecutionKey, Idempotency, StoreError};

impl PgStore {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_automation_pg(
        &self,
        scope: &Scope,
        e: &AutomationExecution,
        tags: &[Tag],
        idem: Option<&Idempotency>,
        owner: &str,
        lease_until: i64,
    ) -> Result<String, StoreError> {
        let body = serde_json::to_string(e)?;
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        if idem.is_some() {
            lock_scope(&tx, scope).await?;
        }
        if let Some(id) = check_token(&tx, scope, idem).await? {
            return Ok(id);
        }
        tx.execute(
            "INSERT INTO automation_executions (account, region, execution_id, created_ms, status, finished,
               end_ms, owner, lease_until_ms, doc, rate_control)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &scope.account,
                &scope.region,
                &e.automation_execution_id,
                &e.created_ms,
                &e.status,
                &e.is_final(),
                &e.end_ms,
                &owner,
                &lease_until,
                &body,
                &e.target_parameter_name.is_some(),
            ],
        )
        .await?;
        put_tags(&tx, scope, AUTOMATION_RESOURCE_TYPE, &e.automation_execution_id, tags).await?;
        record_token(&tx, scope, idem, &e.automation_execution_id).await?;
        tx.commit().await?;
        Ok(e.automation_execution_id.clone())
    }

    pub(super) async fn put_automation_pg(
        &self,
        scope: &Scope,
        e: &AutomationExecution,
        owner: &str,
        consumed: Option<i64>,
        events: &[String],
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(e)?;
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE automation_executions SET status = $5, finished = $6, end_ms = $7, doc = $8
                 WHERE account = $1 AND region = $2 AND execution_id = $3 AND owner = $4",
                &[
                    &scope.account,
                    &scope.region,
                    &e.automation_execution_id,
                    &owner,
                    &e.status,
                    &e.is_final(),
                    &e.end_ms,
                    &body,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict);
        }
        if let Some(seq) = consumed {
            tx.execute(
                "DELETE FROM automation_signals WHERE account = $1 AND region = $2 AND execution_id = $3 AND seq <= $4",
                &[&scope.account, &scope.region, &e.automation_execution_id, &seq],
            )
            .await?;
        }
        executions::put_events(&tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn get_automation_pg(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<AutomationExecution>, StoreError> {
        self.query_doc(
            "SELECT doc FROM automation_executions WHERE account = $1 AND region = $2 AND execution_id = $3",
            &[&scope.account, &scope.region, &id],
        )
        .await
    }

    pub(super) async fn list_automations_pg(
        &self,
        scope: &Scope,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<AutomationExecution>, StoreError> {
        let (after_ms, after_id) = after.map(|(t, id)| (*t, id.as_str())).unwrap_or((i64::MAX, ""));
        self.query_docs(
            "SELECT doc FROM automation_executions
             WHERE account = $1 AND region = $2
               AND (created_ms < $3 OR (created_ms = $3 AND ($4 = '' OR execution_id < $4)))
             ORDER BY created_ms DESC, execution_id DESC LIMIT $5",
            &[&scope.account, &scope.region, &after_ms, &after_id, &sql_limit(limit)],
        )
        .await
    }

    pub(super) async fn add_automation_signal_pg(
        &self,
        scope: &Scope,
        id: &str,
        signal: &AutomationSignal,
    ) -> Result<(), StoreError> {
        let client = self.client().await;
        client
            .execute(
                "INSERT INTO automation_signals (account, region, execution_id, doc) VALUES ($1, $2, $3, $4)",
                &[&scope.account, &scope.region, &id, &serde_json::to_string(signal)?],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn automation_signals_pg(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Vec<(i64, AutomationSignal)>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query(
                "SELECT seq, doc FROM automation_signals WHERE account = $1 AND region = $2 AND execution_id = $3
                 ORDER BY seq",
                &[&scope.account, &scope.region, &id],
            )
            .await?;
        rows.into_iter().map(|r| Ok((r.get(0), doc(r.get(1))?))).collect()
    }

    pub(super) async fn adopt_automations_pg(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Vec<(Scope, AutomationExecution)>, StoreError> {
        let client = self.client().await;
        let rows = client
            .query(
                "UPDATE automation_executions SET owner = $1, lease_until_ms = $3
                 WHERE NOT finished AND (owner IS NULL OR (owner <> $1 AND coalesce(lease_until_ms, 0) < $2))
                 RETURNING account, region, doc",
                &[&owner, &now, &lease_until],
            )
            .await?;
        rows.into_iter().map(|r| Ok((Scope { account: r.get(0), region: r.get(1) }, doc(r.get(2))?))).collect()
    }

    pub(super) async fn renew_automation_leases_pg(&self, owner: &str, lease_until: i64) -> Result<(), StoreError> {
        let client = self.client().await;
        client
            .execute(
                "UPDATE automation_executions SET lease_until_ms = $2 WHERE NOT finished AND owner = $1",
                &[&owner, &lease_until],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn running_automations_pg(&self, scope: &Scope) -> Result<usize, StoreError> {
        let client = self.client().await;
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM automation_executions
                 WHERE NOT finished AND account = $1 AND region = $2 AND status <> $3 AND NOT rate_control",
                &[&scope.account, &scope.region, &status::PENDING],
            )
            .await?
            .get(0);
        Ok(n as usize)
    }
}
