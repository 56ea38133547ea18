//! SSM documents on SQLite.

use casement_model::document::DOCUMENT_RESOURCE_TYPE;
use casement_model::{DocumentInfo, DocumentVersion, Scope, Tag, VersionMeta};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{doc, drop_tags, put_tags, SqliteStore};
use crate::StoreError;

fn put_version(tx: &Transaction<'_>, scope: &Scope, name: &str, v: &DocumentVersion) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO document_versions (account, region, name, version, meta, content) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        scope.account,
        scope.region,
        name,
        v.meta.version,
        serde_json::to_string(&v.meta)?,
        v.content
    ])?;
    Ok(())
}

/// Rewrite a document's share rows from its record.
fn put_shares(tx: &Transaction<'_>, scope: &Scope, d: &DocumentInfo) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM document_shares WHERE region = ?1 AND owner = ?2 AND name = ?3")?
        .execute(params![scope.region, scope.account, d.name])?;
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO document_shares (region, shared_with, owner, name) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for account in &d.shared_with {
        stmt.execute(params![scope.region, account, scope.account, d.name])?;
    }
    Ok(())
}

/// The document's latest version as stored, inside the transaction.
fn latest(tx: &Transaction<'_>, scope: &Scope, name: &str) -> Result<Option<u32>, StoreError> {
    let body: Option<String> = tx
        .prepare_cached("SELECT doc FROM documents WHERE account = ?1 AND region = ?2 AND name = ?3")?
        .query_row(params![scope.account, scope.region, name], |r| r.get(0))
        .optional()?;
    Ok(body.map(doc::<DocumentInfo>).transpose()?.map(|d| d.latest_version))
}

fn expect_latest(tx: &Transaction<'_>, scope: &Scope, name: &str, expected: u32) -> Result<(), StoreError> {
    match latest(tx, scope, name)? {
        None => Err(StoreError::NotFound),
        Some(v) if v != expected => Err(StoreError::Conflict),
        Some(_) => Ok(()),
    }
}

fn put_info(tx: &Transaction<'_>, scope: &Scope, d: &DocumentInfo) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO documents (account, region, name, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account, region, name) DO UPDATE SET doc = excluded.doc",
    )?
    .execute(params![scope.account, scope.region, d.name, serde_json::to_string(d)?])?;
    put_shares(tx, scope, d)
}

impl SqliteStore {
    pub(super) fn create_document_sync(
        &self,
        scope: &Scope,
        d: &DocumentInfo,
        v: &DocumentVersion,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            if latest(tx, scope, &d.name)?.is_some() {
                return Err(StoreError::AlreadyExists);
            }
            put_info(tx, scope, d)?;
            put_version(tx, scope, &d.name, v)?;
            put_tags(tx, scope, DOCUMENT_RESOURCE_TYPE, &d.name, tags)
        })
    }

    pub(super) fn get_document_sync(&self, scope: &Scope, name: &str) -> Result<Option<DocumentInfo>, StoreError> {
        let conn = self.reader();
        let body: Option<String> = conn
            .prepare_cached("SELECT doc FROM documents WHERE account = ?1 AND region = ?2 AND name = ?3")?
            .query_row(params![scope.account, scope.region, name], |r| r.get(0))
            .optional()?;
        body.map(doc).transpose()
    }

    pub(super) fn get_document_version_sync(
        &self,
        scope: &Scope,
        name: &str,
        version: u32,
    ) -> Result<Option<DocumentVersion>, StoreError> {
        let conn = self.reader();
        let row: Option<(String, String)> = conn
            .prepare_cached(
                "SELECT meta, content FROM document_versions
                 WHERE account = ?1 AND region = ?2 AND name = ?3 AND version = ?4",
            )?
            .query_row(params![scope.account, scope.region, name, version], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(meta, content)| Ok(DocumentVersion { meta: doc(meta)?, content })).transpose()
    }

    pub(super) fn list_document_versions_sync(
        &self,
        scope: &Scope,
        name: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        self.query_docs(
            "SELECT meta FROM document_versions WHERE account = ?1 AND region = ?2 AND name = ?3 AND version > ?4
             ORDER BY version LIMIT ?5",
            params![scope.account, scope.region, name, after, limit as i64],
        )
    }

    pub(super) fn add_document_version_sync(
        &self,
        scope: &Scope,
        d: &DocumentInfo,
        v: &DocumentVersion,
        expected_latest: u32,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            expect_latest(tx, scope, &d.name, expected_latest)?;
            put_version(tx, scope, &d.name, v)?;
            put_info(tx, scope, d)
        })
    }

    pub(super) fn update_document_sync(
        &self,
        scope: &Scope,
        d: &DocumentInfo,
        expected_latest: u32,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            expect_latest(tx, scope, &d.name, expected_latest)?;
            put_info(tx, scope, d)
        })
    }

    pub(super) fn delete_document_sync(&self, scope: &Scope, name: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            drop_tags(tx, scope, DOCUMENT_RESOURCE_TYPE, name)?;
            tx.prepare_cached("DELETE FROM document_shares WHERE region = ?1 AND owner = ?2 AND name = ?3")?
                .execute(params![scope.region, scope.account, name])?;
            tx.prepare_cached("DELETE FROM document_versions WHERE account = ?1 AND region = ?2 AND name = ?3")?
                .execute(params![scope.account, scope.region, name])?;
            Ok(tx
                .prepare_cached("DELETE FROM documents WHERE account = ?1 AND region = ?2 AND name = ?3")?
                .execute(params![scope.account, scope.region, name])?
                > 0)
        })
    }

    pub(super) fn delete_document_version_sync(
        &self,
        scope: &Scope,
        d: &DocumentInfo,
        version: u32,
        expected_latest: u32,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            expect_latest(tx, scope, &d.name, expected_latest)?;
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM document_versions WHERE account = ?1 AND region = ?2 AND name = ?3 AND version = ?4",
                )?
                .execute(params![scope.account, scope.region, d.name, version])?;
            if deleted > 0 {
                put_info(tx, scope, d)?;
            }
            Ok(deleted > 0)
        })
    }

    pub(super) fn list_documents_sync(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(DocumentInfo, VersionMeta)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT d.doc, v.meta FROM documents d JOIN document_versions v
               ON v.account = d.account AND v.region = d.region AND v.name = d.name
              AND v.version = json_extract(d.doc, '$.default_version')
             WHERE d.account = ?1 AND d.region = ?2 AND d.name > ?3 ORDER BY d.name LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![scope.account, scope.region, after.unwrap_or(""), limit as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|r| {
            let (d, m) = r?;
            Ok((doc(d)?, doc(m)?))
        })
        .collect()
    }

    pub(super) fn list_shared_documents_sync(
        &self,
        scope: &Scope,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> Result<Vec<(String, DocumentInfo, VersionMeta)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT s.owner, s.name, d.doc, v.meta FROM document_shares s
               JOIN documents d ON d.account = s.owner AND d.region = s.region AND d.name = s.name
               JOIN document_versions v ON v.account = d.account AND v.region = d.region AND v.name = d.name
                AND v.version = json_extract(d.doc, '$.default_version')
             WHERE s.region = ?1 AND s.shared_with IN (?2, 'all') AND s.owner <> ?2
               AND (s.owner > ?3 OR (s.owner = ?3 AND s.name > ?4))
             ORDER BY s.owner, s.name LIMIT ?5",
        )?;
        let (owner, name) = after.map(|(o, n)| (o.as_str(), n.as_str())).unwrap_or(("", ""));
        let rows = stmt.query_map(params![scope.region, scope.account, owner, name, limit as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })?;
        rows.map(|r| {
            let (o, d, m) = r?;
            Ok((o, doc(d)?, doc(m)?))
        })
        .collect()
    }
}
