#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("the client token was used with different parameters")]
    IdempotencyMismatch,
    #[error("limit of {0} reached")]
    LimitExceeded(usize),
    #[error("the target is referenced by a task")]
    InUse,
    #[error("too many tags")]
    TooManyTags,
    /// A create found the name taken.
    #[error("already exists")]
    AlreadyExists,
    /// A write that expected the record as it was read found it changed by another
    /// request (optimistic concurrency).
    #[error("changed by a concurrent update")]
    Conflict,
    /// A request the store turned down, with the reason to report (registration with a
    /// used-up or expired activation…).
    #[error("{0}")]
    Refused(String),
    #[error("database error: {0}")]
    Backend(String),
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
