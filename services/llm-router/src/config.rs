//! The llm-router service's configuration, parsed once at start-up.

use std::path::PathBuf;
use std::time::Duration;

use service_kit::{ConfigError, Env, ServerSettings};

use crate::budget::BudgetConfig;
use crate::delivery::{self, DeliveryConfig};
use crate::redis::RedisSettings;
use crate::resilience::{BreakerConfig, RetryBudgetConfig, RetryPolicy};
use crate::routing::{self, RouterSettings};

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`ROUTER_LISTEN_ADDR`, default port 50052).
    pub listen_addr: String,
    pub server: ServerSettings,
    /// Providers, tiers, aliases, timeouts and prices: the config file
    /// (`ROUTER_CONFIG`, else the embedded `config/router.toml`) with the
    /// manuals' environment variables applied.
    pub routing: RouterSettings,
    /// `REDIS_URL` (unset: budget and outbox in this process and a local
    /// SQLite file, single replica only), `REDIS_KEY_PREFIX`, `REDIS_COMMAND_TIMEOUT_MS`.
    pub redis: RedisSettings,
    /// usage-accounting, the ledger (`USAGE_ADDR`, default `http://127.0.0.1:50053`;
    /// several comma-separated addresses are balanced).
    pub usage_addr: String,
    /// Bound on each ledger call (`USAGE_CALL_TIMEOUT_MS`, 2 s).
    pub usage_timeout: Duration,
    /// The SQLite outbox without `REDIS_URL` (`USAGE_OUTBOX_PATH`).
    pub outbox_path: PathBuf,
    pub budget: BudgetConfig,
    pub delivery: DeliveryConfig,
    pub breaker: BreakerConfig,
    pub retry: RetryPolicy,
    pub retry_budget: RetryBudgetConfig,
    /// How often readiness checks the budget store (`ROUTER_READINESS_INTERVAL_MS`, 1 s).
    pub readiness_interval: Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let usage_timeout = env.millis_or("USAGE_CALL_TIMEOUT_MS", Duration::from_secs(2))?;
        if usage_timeout.is_zero() {
            return Err(ConfigError::new("USAGE_CALL_TIMEOUT_MS", "at least 1"));
        }
        let readiness_interval =
            env.millis_or("ROUTER_READINESS_INTERVAL_MS", Duration::from_secs(1))?;
        if readiness_interval.is_zero() {
            return Err(ConfigError::new(
                "ROUTER_READINESS_INTERVAL_MS",
                "at least 1",
            ));
        }
        Ok(Self {
            listen_addr: env.listen_addr_or("ROUTER_LISTEN_ADDR", 50052)?,
            server: ServerSettings::from_env(env, 50052 + 1000)?,
            routing: routing::load(env)?,
            redis: RedisSettings::from_env(env)?,
            usage_addr: env.backend_addrs_or("USAGE_ADDR", "http://127.0.0.1:50053")?,
            usage_timeout,
            outbox_path: delivery::outbox_path(env),
            budget: BudgetConfig::from_env(env)?,
            delivery: DeliveryConfig::from_env(env)?,
            breaker: BreakerConfig::from_env(env)?,
            retry: RetryPolicy::from_env(env)?,
            retry_budget: RetryBudgetConfig::from_env(env)?,
            readiness_interval,
        })
    }
}
