//! Schema migrations, embedded in the binary and applied in order at open. The applied
//! version lives in SQLite's `user_version`, so no bookkeeping table is needed.

use rusqlite::Connection;

use crate::StoreError;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_resources.sql"),
    include_str!("../../migrations/sqlite/0002_executions.sql"),
    include_str!("../../migrations/sqlite/0003_nodes_commands.sql"),
    include_str!("../../migrations/sqlite/0004_documents.sql"),
    include_str!("../../migrations/sqlite/0005_automation.sql"),
];

pub fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current as usize > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database schema (version {current}) is newer than this binary knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied SQLite migration");
    }
    Ok(())
}
