//! What the services with a SQL database share (feature `database`): where
//! the data lives (`DATABASE_URL`, or an embedded SQLite file), how the pools
//! are opened, and the two storage failures callers tell apart.

use crate::{ConfigError, Env};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Where a service's data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// `DATABASE_URL=postgres://…` (production).
    Postgres { url: String },
    /// `DATABASE_URL=sqlite://PATH`, or the embedded default file.
    Sqlite { path: PathBuf },
}

// The URL may carry a password: never print it.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Postgres { .. } => f.write_str("Postgres { url: <redacted> }"),
            Self::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
        }
    }
}

impl Database {
    /// `DATABASE_URL` when set, else the SQLite file named by `path_var`
    /// (default `default_path`).
    pub fn from_env(env: &Env, path_var: &str, default_path: &str) -> Result<Self, ConfigError> {
        match env.get("DATABASE_URL") {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Self::Postgres {
                    url: url.to_owned(),
                })
            }
            Some(url) if url.starts_with("sqlite:") => {
                let path = url
                    .trim_start_matches("sqlite:")
                    .trim_start_matches("//")
                    .split('?')
                    .next()
                    .unwrap_or_default();
                // In memory, every pooled connection would see its own empty
                // database, and the data would not outlive the process.
                if path.is_empty() || path.starts_with(':') {
                    return Err(ConfigError::new(
                        "DATABASE_URL",
                        "sqlite URLs need a file path (sqlite://PATH): in-memory SQLite is not \
                         supported",
                    ));
                }
                Ok(Self::Sqlite {
                    path: PathBuf::from(path),
                })
            }
            Some(_) => Err(ConfigError::new(
                "DATABASE_URL",
                "expected postgres://… or sqlite://PATH (unset: embedded SQLite)",
            )),
            None => Ok(Self::Sqlite {
                path: PathBuf::from(env.string_or(path_var, default_path)),
            }),
        }
    }
}

/// How a pool is sized and how long callers wait on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// How long a caller waits for a pooled PostgreSQL connection.
    pub postgres_acquire_timeout: Duration,
    /// How long a SQLite writer waits on the database lock (and a caller for
    /// a pooled connection): writers queue rather than fail.
    pub sqlite_busy_timeout: Duration,
}

impl PoolOptions {
    pub fn new(max_connections: u32) -> Self {
        Self {
            max_connections,
            postgres_acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(10),
        }
    }

    pub fn sqlite_busy_timeout(mut self, timeout: Duration) -> Self {
        self.sqlite_busy_timeout = timeout;
        self
    }
}

/// A PostgreSQL pool that connects on first use, so a service starts
/// (NOT_SERVING) while the database is still coming up.
pub fn postgres_pool(url: &str, options: PoolOptions) -> Result<PgPool, StorageError> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|e| StorageError::Internal(format!("DATABASE_URL: {e}")))?;
    Ok(PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.postgres_acquire_timeout)
        .connect_lazy_with(connect))
}

/// A pool on the SQLite file at `path` (created, with its directory, if
/// missing), connecting on first use. WAL lets readers run beside the writer.
pub fn sqlite_pool(path: &Path, options: PoolOptions) -> Result<SqlitePool, StorageError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(options.sqlite_busy_timeout)
        .foreign_keys(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.sqlite_busy_timeout)
        .connect_lazy_with(connect))
}

/// Connection pool gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

impl PoolStats {
    pub fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Self {
        Self {
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached (or the pool is exhausted or closed).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed, a total overflowed, or a row could not be read.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StorageError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: Option<&str>) -> Result<Database, ConfigError> {
        let env = match url {
            Some(url) => Env::from_pairs([("DATABASE_URL", url)]),
            None => Env::default(),
        };
        Database::from_env(&env, "X_SQLITE_PATH", ".fluentedge/x.db")
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse(None).unwrap(),
            Database::Sqlite {
                path: ".fluentedge/x.db".into()
            }
        );
        let pg = parse(Some("postgres://u:secret@h/db")).unwrap();
        assert!(matches!(pg, Database::Postgres { .. }));
        assert!(!format!("{pg:?}").contains("secret"));
        assert!(matches!(
            parse(Some("postgresql://h/db")).unwrap(),
            Database::Postgres { .. }
        ));
        assert_eq!(
            parse(Some("sqlite:///var/lib/x.db?mode=rwc")).unwrap(),
            Database::Sqlite {
                path: "/var/lib/x.db".into()
            }
        );
        for bad in ["sqlite::memory:", "sqlite://", "mysql://x"] {
            assert_eq!(parse(Some(bad)).unwrap_err().var, "DATABASE_URL", "{bad}");
        }
    }

    #[test]
    fn the_path_variable_names_the_default_file() {
        let env = Env::from_pairs([("X_SQLITE_PATH", "/tmp/y.db")]);
        assert_eq!(
            Database::from_env(&env, "X_SQLITE_PATH", "unused").unwrap(),
            Database::Sqlite {
                path: "/tmp/y.db".into()
            }
        );
    }

    #[test]
    fn unreachable_and_broken_are_told_apart() {
        assert!(matches!(
            StorageError::from(sqlx::Error::PoolTimedOut),
            StorageError::Unavailable(_)
        ));
        assert!(matches!(
            StorageError::from(sqlx::Error::RowNotFound),
            StorageError::Internal(_)
        ));
    }
}
