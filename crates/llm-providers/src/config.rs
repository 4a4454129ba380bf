//! How a vendor is configured: the view of one `[providers.<name>]` config
//! entry a vendor reads its settings from, and what it hands back.

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use service_kit::{ConfigError, Env};

use crate::{Provider, Timeouts};

/// The config variable every config-file error is reported under.
pub const CONFIG_VAR: &str = "ROUTER_CONFIG";

/// What a vendor's `configure` sees of one `[providers.<name>]` entry.
pub struct ProviderContext<'a> {
    /// The provider's name in the config file.
    pub name: &'a str,
    /// The entry's vendor-specific keys (`kind` and `timeouts` removed).
    pub table: &'a toml::Table,
    pub env: &'a Env,
    /// Where the simulator listens, when it stands in for missing credentials
    /// (`None` with `PROVIDER_SIMULATOR=off`).
    pub simulator: Option<&'a str>,
    /// Where the config came from, for error messages.
    pub source: &'a str,
}

impl ProviderContext<'_> {
    /// The entry's keys as the vendor's settings struct; unknown keys are errors.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::Value::Table(self.table.clone())
            .try_into()
            .map_err(|e| self.error(e.to_string().trim()))
    }

    /// An error naming this provider's config entry.
    pub fn error(&self, message: impl fmt::Display) -> ConfigError {
        ConfigError::new(
            CONFIG_VAR,
            format!("{}: providers.{}: {message}", self.source, self.name),
        )
    }

    /// An environment variable's value (empty counts as unset).
    pub fn var(&self, name: &str) -> Option<String> {
        self.env.get(name).map(|v| v.trim().to_owned())
    }

    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.env.get(name).map(|v| SecretString::from(v.trim()))
    }

    /// `env_name`'s value, else the file's value: the environment wins.
    pub fn var_or(&self, env_name: &str, file: Option<&String>) -> Option<String> {
        self.var(env_name).or_else(|| file.cloned())
    }

    /// The simulator's URL for a provider without credentials; `None` when
    /// the simulator is switched off.
    pub fn simulate(&self) -> Option<String> {
        Some(self.simulator?.trim_end_matches('/').to_owned())
    }
}

/// A provider's validated settings, ready to be connected once the process
/// has a TLS crypto provider.
pub trait ProviderSetup: fmt::Debug + Send + Sync {
    fn base_url(&self) -> &str;
    /// Whether the simulator stands in for this provider (placeholder credentials).
    fn simulated(&self) -> bool;
    fn connect(&self, name: &str, http: reqwest::Client, timeouts: Timeouts) -> Arc<dyn Provider>;
}

/// Reads one provider entry: `Ok(None)` when it has no credentials and the
/// simulator is off (the provider is then unavailable).
pub type Configure =
    fn(&ProviderContext<'_>) -> Result<Option<Arc<dyn ProviderSetup>>, ConfigError>;

/// One vendor kind.
pub struct Vendor {
    pub kind: &'static str,
    /// Whether the vendor has an embeddings API we speak.
    pub embeddings: bool,
    pub configure: Configure,
}

/// Checks that `url` is an absolute http(s) URL; returns it without a trailing slash.
pub fn check_url(ctx: &ProviderContext<'_>, url: &str) -> Result<String, ConfigError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        Ok(_) => Err(ctx.error(format!("base URL {url:?} is not an http(s) URL"))),
        Err(e) => Err(ctx.error(format!("base URL {url:?} is invalid: {e}"))),
    }
}
