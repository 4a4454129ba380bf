//! The gateway's configuration, parsed once at start-up.

use service_kit::{ConfigError, Env};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP server listens (`GATEWAY_LISTEN_ADDR`, default port 8000).
    pub listen_addr: String,
    /// conversation's gRPC address(es), comma-separated (`CONVERSATION_ADDR`).
    pub conversation_addr: String,
    /// llm-router's gRPC address(es) (`ROUTER_ADDR`).
    pub router_addr: String,
    /// usage-accounting's gRPC address(es) (`USAGE_ADDR`).
    pub usage_addr: String,
    /// Longest a request may take (`GATEWAY_REQUEST_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// Largest request body accepted (`GATEWAY_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// How long in-flight requests get after SIGTERM (`SHUTDOWN_GRACE_MS`).
    pub shutdown_grace: Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: env.listen_addr_or("GATEWAY_LISTEN_ADDR", 8000)?,
            conversation_addr: env.string_or("CONVERSATION_ADDR", "http://127.0.0.1:50051"),
            router_addr: env.string_or("ROUTER_ADDR", "http://127.0.0.1:50052"),
            usage_addr: env.string_or("USAGE_ADDR", "http://127.0.0.1:50053"),
            request_timeout: env
                .millis_or("GATEWAY_REQUEST_TIMEOUT_MS", Duration::from_secs(120))?,
            max_body_bytes: env.parse_or("GATEWAY_MAX_BODY_BYTES", 1024 * 1024)?,
            shutdown_grace: env.millis_or("SHUTDOWN_GRACE_MS", Duration::from_secs(25))?,
        })
    }
}
