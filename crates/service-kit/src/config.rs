//! Typed configuration from an injected environment map.
//!
//! Services parse their config once, at start-up, from an [`Env`] (the process
//! environment in `main`, a plain map in tests) into a validated struct. A bad
//! value is a [`ConfigError`] naming the variable, and `main` exits non-zero.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A bad or missing configuration value.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            message: message.into(),
        }
    }
}

/// The environment a service is configured from.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(key.into(), value.into());
    }

    /// The raw value; empty strings count as unset (as in most `.env` files).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The raw value, even when empty (to refuse a set-but-empty secret).
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    pub fn string_or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_owned()
    }

    /// Backend gRPC address(es) from `key` (default `default`), checked now:
    /// a malformed one stops the process naming `key` rather than failing
    /// every call later.
    pub fn backend_addrs_or(&self, key: &str, default: &str) -> Result<String, ConfigError> {
        let addrs = self.string_or(key, default);
        crate::grpc_client::parse_addrs(&addrs)
            .map_err(|e| ConfigError::new(key, e.to_string()))?;
        Ok(addrs)
    }

    /// A parsed value, or `None` when unset.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => raw
                .trim()
                .parse::<T>()
                .map(Some)
                .map_err(|e| ConfigError::new(key, format!("cannot parse {raw:?}: {e}"))),
        }
    }

    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                other => Err(ConfigError::new(
                    key,
                    format!("expected true or false, got {other:?}"),
                )),
            },
        }
    }

    /// A duration in milliseconds.
    pub fn millis_or(&self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        Ok(self
            .parse::<u64>(key)?
            .map(Duration::from_millis)
            .unwrap_or(default))
    }

    /// Whether development conveniences are switched on (`FLUENTEDGE_DEV=1`).
    pub fn dev_mode(&self) -> Result<bool, ConfigError> {
        self.bool_or(DEV_MODE_VAR, false)
    }

    /// A socket address; a bare port means all interfaces, or loopback in
    /// development mode, which refuses any address that is not loopback (its
    /// public development keys must never be reachable from the network).
    pub fn listen_addr_or(&self, key: &str, default_port: u16) -> Result<String, ConfigError> {
        let dev = self.dev_mode()?;
        let any = if dev { "127.0.0.1" } else { "0.0.0.0" };
        let addr = match self.get(key) {
            None => format!("{any}:{default_port}"),
            Some(v) if v.trim().parse::<u16>().is_ok() => format!("{any}:{}", v.trim()),
            Some(v) => v
                .trim()
                .parse::<std::net::SocketAddr>()
                .map(|a| a.to_string())
                .map_err(|e| ConfigError::new(key, format!("not a host:port: {e}")))?,
        };
        if dev
            && !addr
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.ip().is_loopback())
        {
            return Err(ConfigError::new(
                key,
                format!(
                    "{addr} is not a loopback address: {DEV_MODE_VAR}=1 listens on loopback only"
                ),
            ));
        }
        Ok(addr)
    }
}

/// The switch for development conveniences (development keys and secrets,
/// development sign-in); `make run` sets it.
pub const DEV_MODE_VAR: &str = "FLUENTEDGE_DEV";

/// Settings every gRPC server shares (`GRPC_*`).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Longest a unary call may run before DEADLINE_EXCEEDED (`GRPC_REQUEST_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// Concurrent requests per connection (`GRPC_CONCURRENCY_LIMIT`).
    pub concurrency_limit: usize,
    /// Largest message accepted or sent (`GRPC_MAX_MESSAGE_BYTES`).
    pub max_message_bytes: usize,
    /// How long in-flight calls get to finish after SIGTERM (`SHUTDOWN_GRACE_MS`).
    pub shutdown_grace: Duration,
    /// Where Prometheus metrics are served (`METRICS_ADDR`; `off` disables them).
    pub metrics_addr: Option<String>,
}

impl ServerSettings {
    pub fn from_env(env: &Env, default_metrics_port: u16) -> Result<Self, ConfigError> {
        let metrics_addr = match env.get("METRICS_ADDR") {
            Some("off") | Some("none") => None,
            _ => Some(env.listen_addr_or("METRICS_ADDR", default_metrics_port)?),
        };
        let settings = Self {
            request_timeout: env.millis_or("GRPC_REQUEST_TIMEOUT_MS", Duration::from_secs(120))?,
            concurrency_limit: env.parse_or("GRPC_CONCURRENCY_LIMIT", 1024)?,
            max_message_bytes: env.parse_or("GRPC_MAX_MESSAGE_BYTES", 4 * 1024 * 1024)?,
            shutdown_grace: env.millis_or("SHUTDOWN_GRACE_MS", Duration::from_secs(25))?,
            metrics_addr,
        };
        if settings.concurrency_limit == 0 {
            return Err(ConfigError::new(
                "GRPC_CONCURRENCY_LIMIT",
                "must be at least 1",
            ));
        }
        if settings.max_message_bytes < 1024 {
            return Err(ConfigError::new(
                "GRPC_MAX_MESSAGE_BYTES",
                "must be at least 1024",
            ));
        }
        Ok(settings)
    }

    /// Defaults for tests: no metrics listener, short grace.
    pub fn for_tests() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            concurrency_limit: 1024,
            max_message_bytes: 4 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(5),
            metrics_addr: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_variable() {
        let env = Env::from_pairs([("GRPC_CONCURRENCY_LIMIT", "lots")]);
        let err = ServerSettings::from_env(&env, 9000).unwrap_err();
        assert_eq!(err.var, "GRPC_CONCURRENCY_LIMIT");
        assert!(err.to_string().contains("lots"));
    }

    #[test]
    fn development_mode_listens_on_loopback_only() {
        let dev = Env::from_pairs([
            ("FLUENTEDGE_DEV", "1"),
            ("B", "0.0.0.0:80"),
            ("C", "[::1]:81"),
        ]);
        assert_eq!(dev.listen_addr_or("A", 8000).unwrap(), "127.0.0.1:8000");
        assert_eq!(dev.listen_addr_or("B", 8000).unwrap_err().var, "B");
        assert_eq!(dev.listen_addr_or("C", 8000).unwrap(), "[::1]:81");
        let prod = Env::from_pairs([("A", "8001")]);
        assert_eq!(prod.listen_addr_or("A", 8000).unwrap(), "0.0.0.0:8001");
        let metrics =
            ServerSettings::from_env(&Env::from_pairs([("FLUENTEDGE_DEV", "1")]), 9100).unwrap();
        assert_eq!(metrics.metrics_addr.as_deref(), Some("127.0.0.1:9100"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([("X", "  ")]);
        assert_eq!(env.parse_or::<u32>("X", 7).unwrap(), 7);
    }

    #[test]
    fn listen_addresses() {
        let env = Env::from_pairs([("A", "9100"), ("B", "127.0.0.1:1"), ("C", "nope")]);
        assert_eq!(env.listen_addr_or("A", 1).unwrap(), "0.0.0.0:9100");
        assert_eq!(env.listen_addr_or("B", 1).unwrap(), "127.0.0.1:1");
        assert_eq!(env.listen_addr_or("D", 5).unwrap(), "0.0.0.0:5");
        assert!(env.listen_addr_or("C", 1).is_err());
    }
}
