//! Store failures. Their text goes to the log, never to clients.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no backend this build knows.
    #[error("unsupported database URL {0:?}: use sqlite://PATH, a file path, or postgres://...")]
    UnsupportedUrl(String),
    /// The connection pool could not be built or gave no connection.
    #[error("database connection failed: {0}")]
    Connect(String),
    /// Migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// A stored row could not be turned back into a value.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A write met a conflict it could not resolve (the conflicting row
    /// vanished); nothing was stored.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// The batch a commit job ran in did not commit (the text says why);
    /// nothing of it was stored.
    #[error("batch not committed: {0}")]
    Batch(String),
    /// The store's worker threads are gone.
    #[error("store workers stopped")]
    Stopped,
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Connect(e.to_string())
    }
}
