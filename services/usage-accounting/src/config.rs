//! The usage-accounting service's configuration, parsed once at start-up.

use crate::storage::RetentionAction;
pub use service_kit::database::Database;
use service_kit::{ConfigError, Env, ServerSettings};

/// A century: beyond it "retention" is a typo, not a policy.
const MAX_RETENTION_MONTHS: u32 = 1200;

/// Archive-then-delete of whole old months.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Calendar months kept before the current one (`USAGE_RETENTION_MONTHS`;
    /// 0 or unset: keep forever).
    pub keep_months: u32,
    /// `USAGE_RETENTION_ACTION`: `archive` (default) or `delete`.
    pub action: RetentionAction,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`USAGE_LISTEN_ADDR`, default port 50053).
    pub listen_addr: String,
    pub server: ServerSettings,
    pub database: Database,
    /// Pool size (`DATABASE_MAX_CONNECTIONS`, default 10).
    pub db_max_connections: u32,
    pub retention: Retention,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let db_max_connections = env.parse_or("DATABASE_MAX_CONNECTIONS", 10u32)?;
        if db_max_connections == 0 {
            return Err(ConfigError::new(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        let keep_months = env.parse_or("USAGE_RETENTION_MONTHS", 0u32)?;
        if keep_months > MAX_RETENTION_MONTHS {
            return Err(ConfigError::new(
                "USAGE_RETENTION_MONTHS",
                format!("at most {MAX_RETENTION_MONTHS} (0 keeps every month)"),
            ));
        }
        Ok(Self {
            listen_addr: env.listen_addr_or("USAGE_LISTEN_ADDR", 50053)?,
            server: ServerSettings::from_env(env, 51053)?,
            database: Database::from_env(env, "USAGE_SQLITE_PATH", ".fluentedge/usage.db")?,
            db_max_connections,
            retention: Retention {
                keep_months,
                action: match env.string_or("USAGE_RETENTION_ACTION", "archive").as_str() {
                    "archive" => RetentionAction::Archive,
                    "delete" => RetentionAction::Delete,
                    other => {
                        return Err(ConfigError::new(
                            "USAGE_RETENTION_ACTION",
                            format!("expected archive or delete, got {other:?}"),
                        ));
                    }
                },
            },
        })
    }

    /// A config for tests: the given database, no metrics listener.
    pub fn for_tests(database: Database) -> Self {
        Self {
            listen_addr: "127.0.0.1:0".into(),
            server: ServerSettings::for_tests(),
            database,
            db_max_connections: 5,
            retention: Retention::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_are_the_embedded_ledger_kept_forever() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.database,
            Database::Sqlite {
                path: ".fluentedge/usage.db".into()
            }
        );
        assert_eq!(c.listen_addr, "0.0.0.0:50053");
        assert_eq!(c.server.metrics_addr.as_deref(), Some("0.0.0.0:51053"));
        assert_eq!(c.retention.keep_months, 0);
        assert_eq!(c.db_max_connections, 10);
    }

    #[test]
    fn database_urls() {
        let pg = parse(&[("DATABASE_URL", "postgres://u:secret@h/db")]).unwrap();
        assert!(matches!(pg.database, Database::Postgres { .. }));
        assert!(!format!("{:?}", pg.database).contains("secret"));
        let lite = parse(&[("DATABASE_URL", "sqlite:///var/lib/usage.db?mode=rwc")]).unwrap();
        assert_eq!(
            lite.database,
            Database::Sqlite {
                path: "/var/lib/usage.db".into()
            }
        );
        assert_eq!(
            parse(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var,
            "DATABASE_URL"
        );
        assert!(parse(&[("DATABASE_URL", "sqlite::memory:")]).is_err());
    }

    #[test]
    fn retention_settings() {
        let c = parse(&[
            ("USAGE_RETENTION_MONTHS", "13"),
            ("USAGE_RETENTION_ACTION", "delete"),
        ])
        .unwrap();
        assert_eq!(c.retention.keep_months, 13);
        assert_eq!(c.retention.action, RetentionAction::Delete);
        assert!(parse(&[("USAGE_RETENTION_ACTION", "shred")]).is_err());
        assert!(parse(&[("USAGE_RETENTION_MONTHS", "-1")]).is_err());
        assert!(parse(&[("USAGE_RETENTION_MONTHS", "1201")]).is_err());
        assert!(parse(&[("DATABASE_MAX_CONNECTIONS", "0")]).is_err());
    }
}
