//! Persistence: diesel over SQLite (embedded default) or PostgreSQL, with one
//! schema and one set of migrations. [`Db`] holds the synchronous queries;
//! [`Store`] runs them on a SyncArbiter so they never block async threads.

mod actor;
mod batch;
mod db;
mod effects;
mod error;
mod rows;
pub mod schema;

pub use actor::Store;
pub use db::{
    Appended, Backend, Conn, Db, HistoryPage, NewUser, RoomRecord, RoomSettings, UserRecord,
};
pub use effects::{created_earlier, join_role};
pub use error::StoreError;
