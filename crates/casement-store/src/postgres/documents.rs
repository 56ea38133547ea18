//! SSM documents on PostgreSQL. Same rules as the SQLite backend; a write that expects
//! the document's latest version locks its row first (`FOR UPDATE`), so two servers
//! adding versions to one document commit one after the other and the second sees the
//! first's version.

use casement_model::document::DOCUMENT_RESOURCE_TYPE;
use casement_model::{DocumentInfo, DocumentVersion, Scope, Tag, VersionMeta};
use tokio_postgres::Transaction;

use super::{doc, drop_tags, put_tags, sql_limit, PgStore};
use crate::StoreError;

async fn put_version(tx: &Transaction<'_>, scope: &Scope, name: &str, v: &DocumentVersion) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO document_versions (account, region, name, version, meta, content) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &scope.account,
            &scope.region,
            &name,
            &i64::from(v.meta.version),
            &serde_json::to_string(&v.meta)?,
            &v.content,
        ],
    )
    .await?;
    Ok(())
}

async fn put_info(tx: &Transaction<'_>, scope: &Scope, d: &DocumentInfo) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO documents (account, region, name, doc) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account, region, name) DO UPDATE SET doc = excluded.doc",
        &[&scope.account, &scope.region, &d.name, &serde_json::to_string(d)?],
    )
    .await?;
    tx.execute(
        "DELETE FROM document_shares WHERE region = $1 AND owner = $2 AND name = $3",
        &[&scope.region, &scope.account, &d.name],
    )
    .await?;
    for account in &d.shared_with {
        tx.execute(
            "INSERT INTO document_shares (region, shared_with, owner, name) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&scope.region, account, &scope.account, &d.name],
        )
        .await?;
    }
    Ok(())
}

async fn expect_latest(tx: &Transaction<'_>, scope: &Scope, name: &str, expected: u32) -> Result<(), StoreError> {
    let row = tx
        .query_opt(
            "SELECT doc FROM documents WHERE account = $1 AND region = $2 AND name = $3 FOR UPDATE",
            &[&scope.account, &scope.region, &name],
        )
        .await?;
    match row.map(|r| doc::<DocumentInfo>(r.get(0))).transpose()? {
        None => Err(StoreError::NotFound),
        Some(d) if d.latest_version != expected => Err(StoreError::Conflict),
        Some(_) => Ok(()),
    }
}

/// A document's record beside its default version's, as the listings return them.
const WITH_DEFAULT: &str = "JOIN document_versions v ON v.account = d.account AND v.region = d.region
    AND v.name = d.name AND v.version = (d.doc::json ->> 'default_version')::bigint";

impl PgStore {
    pub(super) async fn create_document_pg(
        &self,
        scope: &Scope,
        d: &DocumentInfo,
        v: &DocumentVersion,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO documents (account, region, name, doc) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account, region, name) DO NOTHING",
                &[&scope.account, &scope.region, &d.name, &serde_json::to_string(d)?],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists);
        }
        put_info(&tx, scope, d).await?;
        put_version(&tx, scope, &d.name, v).await?;
        put_tags(&tx, scope, DOCUMENT_RESOURCE_TYPE, &d.name, tags).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn get_document_pg(&self, scope: &Scope, name: &str) -> Result<Option<DocumentInfo>, StoreError> {
        self.query_doc(
            "SELECT doc FROM documents WHERE account = $1 AND region = $2 AND name = $3",
            &[&scope.account, &scope.region, &name],
        )
        .await
    }

    pub(super) async fn get_document_version_pg(
        &self,
        scope: &Scope,
        name: &str,
        version: u32,
    ) -> Result<Option<DocumentVersion>, StoreError> {
        let client = self.client().await;
        let row = client
            .query_opt(
                "SELECT meta, content FROM document_versions
                 WHERE account = $1 AND region = $2 AND name = $3 AND version = $4",
                &[&scope.account, &scope.region, &name, &i64::from(version)],
            )
            .await?;
        row.map(|r| Ok(DocumentVersion { meta: doc(r.get(0))?, content: r.get(1) })).transpose()
    }

    pub(super) async fn list_document_versions_pg(
        &self,
        scope: &Scope,
        name: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        self.query_docs(
            "SELECT meta FROM document_versions WHERE account = $1 AND region = $2 AND name = $3 AND version > $4
             ORDER BY version LIMIT $5",
            &[&scope.account, &scope.region, &name, &i64::from(after), &sql_limit(limit)],
        )
        .await
    }

    pub(super) async fn add_document_version_pg(
        &self,
        scope: &Scope,
        d: &DocumentInfo,
        v: &DocumentVersion,
        expected_latest: u32,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        expect_latest(&tx, scope, &d.name, expected_latest).await?;
        put_version(&tx, scope, &d.name, v).await?;
        put_info(&tx, scope, d).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn update_document_pg(
        &self,
        scope: &Scope,
        d: &DocumentInfo,
        expected_latest: u32,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        expect_latest(&tx, scope, &d.name, expected_latest).await?;
        put_info(&tx, scope, d).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn delete_document_pg(&self, scope: &Scope, name: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        drop_tags(&tx, scope, DOCUMENT_RESOURCE_TYPE, name).await?;
        tx.execute(
            "DELETE FROM document_shares WHERE region = $1 AND owner = $2 AND name = $3",
            &[&scope.region, &scope.account, &name],
        )
        .await?;
        tx.execute(
            "DELETE FROM document_versions WHERE account = $1 AND region = $2 AND name = $3",
            &[&scope.account, &scope.region, &name],
        )
        .await?;
        let deleted = tx
            .execute(
                "DELETE FROM documents WHERE account = $1 AND region = $2 AND name = $3",
                &[&scope.account, &scope.region, &name],
            )
            .await?;
        tx.commit().await?;
        Ok(deleted > 0)
    }

    pub(super) async fn delete_document_version_pg(
        &self,
        scope: &Scope,
        d: &DocumentInfo,
        version: u32,
        expected_latest: u32,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await;
        let tx = client.transaction().await?;
        expect_latest(&tx, scope, &d.name, expected_latest).await?;
        let deleted = tx
            .execute(
                "DELETE FROM document_versions WHERE account = $1 AND region = $2 AND name = $3 AND version = $4",
                &[&scope.account, &scope.region, &d.name, &i64::from(version)],
            )
            .await?;
        if deleted > 0 {
            put_info(&tx, scope, d).await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }

    pub(super) async fn list_documents_pg(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(DocumentInfo, VersionMeta)>, StoreError> {
        let client = self.client().await;
        let sql = format!(
            "SELECT d.doc, v.meta FROM documents d {WITH_DEFAULT}
             WHERE d.account = $1 AND d.region = $2 AND d.name > $3 ORDER BY d.name LIMIT $4"
        );
        let rows =
            client.query(&sql, &[&scope.account, &scope.region, &after.unwrap_or(""), &sql_limit(limit)]).await?;
        rows.into_iter().map(|r| Ok((doc(r.get(0))?, doc(r.get(1))?))).collect()
    }

    pub(super) async fn list_shared_documents_pg(
        &self,
        scope: &Scope,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> Result<Vec<(String, DocumentInfo, VersionMeta)>, StoreError> {
        let client = self.client().await;
        let sql = format!(
            "SELECT DISTINCT s.owner, s.name, d.doc, v.meta FROM document_shares s
               JOIN documents d ON d.account = s.owner AND d.region = s.region AND d.name = s.name
               {WITH_DEFAULT}
             WHERE s.region = $1 AND s.shared_with IN ($2, 'all') AND s.owner <> $2
               AND (s.owner, s.name) > ($3, $4)
             ORDER BY s.owner, s.name LIMIT $5"
        );
        let (owner, name) = after.map(|(o, n)| (o.as_str(), n.as_str())).unwrap_or(("", ""));
        let rows = client.query(&sql, &[&scope.region, &scope.account, &owner, &name, &sql_limit(limit)]).await?;
        rows.into_iter().map(|r| Ok((r.get(0), doc(r.get(2))?, doc(r.get(3))?))).collect()
    }
}
