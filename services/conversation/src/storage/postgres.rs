//! The PostgreSQL store (production): only the pool; the SQL is in `sql.rs`.

use super::Result;
use super::sql::SqlStore;
use service_kit::database::{PoolOptions, postgres_pool};
use sqlx::Postgres;

pub type PostgresStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// A pool that connects on first use, so the service starts (NOT_SERVING)
    /// while the database is still coming up.
    pub fn connect_lazy(url: &str, max_connections: u32) -> Result<Self> {
        let pool = postgres_pool(url, PoolOptions::new(max_connections))?;
        Ok(Self::new(pool, |pool| {
            Box::pin(super::pg_migrations::run(pool))
        }))
    }
}
