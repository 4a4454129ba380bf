//! The embedded SQLite store: the default when no `DATABASE_URL` is set, so
//! the service runs on a bare machine. Only the pool; the SQL (same schema
//! and semantics as PostgreSQL) is in `sql.rs`, the column types in `codec.rs`.

use super::Result;
use super::sql::SqlStore;
use service_kit::database::{PoolOptions, sqlite_pool};
use sqlx::Sqlite;
use std::path::Path;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens (creating it and its directory if missing) the database file at
    /// `path`, lazily.
    pub fn open_lazy(path: &Path, max_connections: u32) -> Result<Self> {
        let pool = sqlite_pool(path, PoolOptions::new(max_connections))?;
        Ok(Self::new(pool, |pool| Box::pin(MIGRATOR.run(pool))))
    }
}
