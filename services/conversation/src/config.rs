//! The conversation service's configuration, parsed once at start-up.

use crate::domain::Catalogue;
pub use service_kit::database::Database;
use service_kit::{ConfigError, Env, ServerSettings};
use std::time::Duration;

/// The router tier the tutor is served from (`TUTOR_TIER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TutorTier {
    Sota,
    CostEffective,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`CONVERSATION_LISTEN_ADDR`, default port 50051).
    pub listen_addr: String,
    pub server: ServerSettings,
    pub database: Database,
    /// Pool size (`DB_MAX_CONNECTIONS`, default 10).
    pub db_max_connections: u32,
    /// The llm-router's address(es) (`ROUTER_ADDR`, comma-separated to balance).
    pub router_addr: String,
    pub tutor_tier: TutorTier,
    /// A router model alias that overrides the tier (`TUTOR_MODEL`, optional).
    pub tutor_model: Option<String>,
    /// Upper bound on a reply's tokens (`TUTOR_MAX_TOKENS`, default 400).
    pub tutor_max_tokens: u32,
    /// Estimated tokens of history sent with each message (`HISTORY_TOKEN_BUDGET`, default 3000).
    pub history_token_budget: u64,
    /// A learner message still PENDING after this long is taken as abandoned
    /// (its process died) and a retry may answer it (`PENDING_TIMEOUT_MS`, default 5 min).
    pub pending_timeout: Duration,
    /// Deadline of one router call, streamed or not (`ROUTER_TIMEOUT_MS`, default 90 s).
    pub router_timeout: Duration,
    pub scenarios: Catalogue,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let database = Database::from_env(
            env,
            "CONVERSATION_SQLITE_PATH",
            ".fluentedge/conversation.db",
        )?;
        let tutor_tier = match env.string_or("TUTOR_TIER", "cost_effective").as_str() {
            "cost_effective" => TutorTier::CostEffective,
            "sota" => TutorTier::Sota,
            other => {
                return Err(ConfigError::new(
                    "TUTOR_TIER",
                    format!("expected sota or cost_effective, got {other:?}"),
                ));
            }
        };
        let tutor_max_tokens: u32 = env.parse_or("TUTOR_MAX_TOKENS", 400)?;
        if tutor_max_tokens == 0 {
            return Err(ConfigError::new("TUTOR_MAX_TOKENS", "must be at least 1"));
        }
        let db_max_connections: u32 = env.parse_or("DB_MAX_CONNECTIONS", 10)?;
        if db_max_connections == 0 {
            return Err(ConfigError::new("DB_MAX_CONNECTIONS", "must be at least 1"));
        }
        let scenarios = match env.get("SCENARIOS_FILE") {
            None => Catalogue::embedded(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new("SCENARIOS_FILE", format!("cannot read {path}: {e}"))
                })?;
                Catalogue::parse(&text)
            }
        }
        .map_err(|e| ConfigError::new("SCENARIOS_FILE", e.to_string()))?;
        Ok(Self {
            listen_addr: env.listen_addr_or("CONVERSATION_LISTEN_ADDR", 50051)?,
            server: ServerSettings::from_env(env, 50051 + 1000)?,
            database,
            db_max_connections,
            router_addr: env.backend_addrs_or("ROUTER_ADDR", "http://127.0.0.1:50052")?,
            tutor_tier,
            tutor_model: env.get("TUTOR_MODEL").map(str::to_owned),
            tutor_max_tokens,
            history_token_budget: env.parse_or("HISTORY_TOKEN_BUDGET", 3000)?,
            pending_timeout: env.millis_or("PENDING_TIMEOUT_MS", Duration::from_secs(300))?,
            router_timeout: env.millis_or("ROUTER_TIMEOUT_MS", Duration::from_secs(90))?,
            scenarios,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_env(&Env::default()).unwrap();
        assert_eq!(
            c.database,
            Database::Sqlite {
                path: ".fluentedge/conversation.db".into()
            }
        );
        assert_eq!(c.router_addr, "http://127.0.0.1:50052");
        assert_eq!(c.tutor_tier, TutorTier::CostEffective);
        assert_eq!(c.tutor_max_tokens, 400);
        assert_eq!(c.history_token_budget, 3000);
        assert_eq!(c.listen_addr, "0.0.0.0:50051");
        assert_eq!(c.server.metrics_addr.as_deref(), Some("0.0.0.0:51051"));
        assert!(c.scenarios.all().len() >= 8);
    }

    #[test]
    fn database_urls() {
        let pg = Env::from_pairs([("DATABASE_URL", "postgres://u@h:5432/db")]);
        assert!(matches!(
            Config::from_env(&pg).unwrap().database,
            Database::Postgres { .. }
        ));
        let lite = Env::from_pairs([("DATABASE_URL", "sqlite:///tmp/x.db?mode=rwc")]);
        assert_eq!(
            Config::from_env(&lite).unwrap().database,
            Database::Sqlite {
                path: "/tmp/x.db".into()
            }
        );
        let memory = Env::from_pairs([("DATABASE_URL", "sqlite::memory:")]);
        assert_eq!(Config::from_env(&memory).unwrap_err().var, "DATABASE_URL");
        let bad = Env::from_pairs([("DATABASE_URL", "mysql://x")]);
        assert_eq!(Config::from_env(&bad).unwrap_err().var, "DATABASE_URL");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("TUTOR_TIER", "best"),
            ("TUTOR_MAX_TOKENS", "0"),
            ("HISTORY_TOKEN_BUDGET", "-1"),
            ("SCENARIOS_FILE", "/nonexistent/scenarios.toml"),
        ] {
            let err = Config::from_env(&Env::from_pairs([(var, value)])).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }

    #[test]
    fn a_scenarios_file_replaces_the_catalogue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "[[scenario]]\nid = \"x\"\ntitle = \"X\"\ndescription = \"d\"\ncategory = \"work\"\n\
             tutor_role = \"r\"\ngoals = [\"g\"]\nopening_line = \"o\"\n",
        )
        .unwrap();
        let env = Env::from_pairs([("SCENARIOS_FILE", path.to_str().unwrap())]);
        let c = Config::from_env(&env).unwrap();
        assert_eq!(c.scenarios.all().len(), 1);
    }
}
