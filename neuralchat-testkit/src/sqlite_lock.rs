//! A SQLite database's write lock, held from outside the server: its
//! writes wait (up to its busy timeout) until the lock is let go. Tests use
//! it to keep messages waiting to be stored.

use anyhow::{Context, Result};
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

/// A connection holding the write lock (`BEGIN IMMEDIATE`).
pub struct WriteLock {
    /// The connection in its open transaction.
    conn: SqliteConnection,
}

impl WriteLock {
    /// Takes the write lock of the SQLite database file at `path`.
    pub fn hold(path: &str) -> Result<WriteLock> {
        let mut conn =
            SqliteConnection::establish(path).with_context(|| format!("opening {path}"))?;
        conn.batch_execute("BEGIN IMMEDIATE")
            .context("taking the write lock")?;
        Ok(WriteLock { conn })
    }

    /// Lets the lock go, having written nothing.
    pub fn release(mut self) -> Result<()> {
        self.conn
            .batch_execute("ROLLBACK")
            .context("letting the write lock go")
    }
}
