//! The router's Redis connection (fred): every command bounded by a timeout
//! (fred's default is none), reconnecting forever with backoff, TCP_NODELAY,
//! and Lua scripts run by SHA with a fallback when the server lost its cache.

use fred::prelude::*;
use fred::types::ConnectHandle;
use fred::types::config::UnresponsiveConfig;
use parking_lot::RwLock;
use service_kit::{ConfigError, Env};
use std::time::Duration;

/// `REDIS_URL` (absent: in-process stores), `REDIS_KEY_PREFIX`, `REDIS_COMMAND_TIMEOUT_MS`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// A URL in a form fred accepts: `redis://`, `redis-cluster://`, `redis-sentinel://`.
    pub url: Option<String>,
    /// Prepended to every key (default `fe:`), so several deployments or
    /// tests can share one Redis.
    pub key_prefix: String,
    pub command_timeout: Duration,
}

// The URL may carry a password: never print it.
impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("key_prefix", &self.key_prefix)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

impl RedisSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.get("REDIS_URL").map(str::to_owned);
        if let Some(url) = &url {
            Config::from_url(url).map_err(|e| {
                ConfigError::new("REDIS_URL", format!("not a Redis URL: {}", e.details()))
            })?;
        }
        let key_prefix = env.string_or("REDIS_KEY_PREFIX", "fe:");
        if key_prefix.contains(['{', '}']) {
            return Err(ConfigError::new(
                "REDIS_KEY_PREFIX",
                "must not contain braces (they delimit the hash tag)",
            ));
        }
        let command_timeout =
            env.millis_or("REDIS_COMMAND_TIMEOUT_MS", Duration::from_millis(250))?;
        if command_timeout.is_zero() {
            return Err(ConfigError::new("REDIS_COMMAND_TIMEOUT_MS", "at least 1"));
        }
        Ok(Self {
            url,
            key_prefix,
            command_timeout,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redis: {0}")]
pub struct RedisError(pub String);

/// A connected (or connecting) client and its connection task.
pub struct RedisHandle {
    pub client: Client,
    task: Option<ConnectHandle>,
}

impl RedisHandle {
    /// Quits the connection; bounded, so shutdown never hangs on a dead Redis.
    pub async fn shutdown(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.quit()).await;
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for RedisHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Connects to `url`. Waits up to `wait` for the first connection but returns
/// either way: a Redis that is down at start-up is reported by readiness and
/// the budget check fails closed until it is up.
pub async fn connect(
    url: &str,
    command_timeout: Duration,
    wait: Duration,
) -> Result<RedisHandle, RedisError> {
    let mut config = Config::from_url(url).map_err(|e| RedisError(e.details().to_owned()))?;
    // Keep reconnecting after a failed first attempt instead of giving up.
    config.fail_fast = false;
    let client = Builder::from_config(config)
        .with_performance_config(|p| p.default_command_timeout = command_timeout)
        .with_connection_config(|c| {
            c.connection_timeout = command_timeout.max(Duration::from_millis(500)) * 4;
            c.internal_command_timeout = command_timeout.max(Duration::from_millis(500)) * 4;
            // A command is sent once: a timed-out script must not run again later
            // (the scripts are idempotent anyway, this keeps late effects rare).
            c.max_command_attempts = 1;
            c.tcp.nodelay = Some(true);
            // A Redis that stops answering (frozen, partitioned) is dropped
            // and reconnected rather than waited on.
            c.unresponsive = UnresponsiveConfig {
                max_timeout: Some(Duration::from_secs(2)),
                interval: Duration::from_millis(500),
            };
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
        .build()
        .map_err(|e| RedisError(e.to_string()))?;
    let task = client.connect();
    match tokio::time::timeout(wait, client.wait_for_connect()).await {
        Ok(Ok(())) => tracing::info!("redis.connected"),
        Ok(Err(e)) => tracing::warn!(error = %e, "redis.connect_failed"),
        Err(_) => tracing::warn!(wait_ms = wait.as_millis() as u64, "redis.connect_pending"),
    }
    Ok(RedisHandle {
        client,
        task: Some(task),
    })
}

/// Maps a fred error to a message that names the cause (no secrets in it).
pub fn describe(e: &Error, timeout: Duration) -> String {
    match e.kind() {
        ErrorKind::Timeout => format!("redis command timed out after {} ms", timeout.as_millis()),
        _ => format!("redis: {e}"),
    }
}

/// A Lua script run with EVALSHA; loaded on first use; when the server lost
/// its script cache (restart, failover, SCRIPT FLUSH) it falls back to EVAL,
/// which caches it again.
pub struct LuaScript {
    source: &'static str,
    sha: RwLock<Option<String>>,
}

impl LuaScript {
    pub const fn new(source: &'static str) -> Self {
        Self {
            source,
            sha: RwLock::new(None),
        }
    }

    pub async fn run(
        &self,
        client: &Client,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Value, Error> {
        let known = self.sha.read().clone();
        let sha = match known {
            Some(sha) => sha,
            None => {
                let sha: String = client.script_load(self.source).await?;
                *self.sha.write() = Some(sha.clone());
                sha
            }
        };
        match client.evalsha(sha, keys.clone(), args.clone()).await {
            Err(e) if e.details().starts_with("NOSCRIPT") => {
                client.eval(self.source, keys, args).await
            }
            other => other,
        }
    }
}
