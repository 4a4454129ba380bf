//! The conversation service's configuration, parsed once at start-up.

use service_kit::{ConfigError, Env, ServerSettings};

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the gRPC server listens (`CONVERSATION_LISTEN_ADDR`, default port 50051).
    pub listen_addr: String,
    pub server: ServerSettings,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: env.listen_addr_or("CONVERSATION_LISTEN_ADDR", 50051)?,
            server: ServerSettings::from_env(env, 50051 + 1000)?,
        })
    }
}
