//! The llm-router service's configuration, parsed once at start-up.

use service_kit::{ConfigError, Env, ServerSettings};

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
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: env.listen_addr_or("ROUTER_LISTEN_ADDR", 50052)?,
            server: ServerSettings::from_env(env, 50052 + 1000)?,
            routing: routing::load(env)?,
        })
    }
}
