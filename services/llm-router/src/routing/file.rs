//! The router's config file (TOML) as written; see `config/router.toml`
//! for the documented example. [`super::load`] validates it.

use std::collections::BTreeMap;

use serde::Deserialize;

/// provider name → model (or Azure deployment).
pub type ModelMap = BTreeMap<String, String>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub routing: RoutingSection,
    #[serde(default)]
    pub timeouts: TimeoutsSection,
    pub providers: BTreeMap<String, ProviderEntry>,
    pub tiers: TiersSection,
    /// Chat model aliases callers may name.
    #[serde(default)]
    pub models: BTreeMap<String, ModelMap>,
    /// Embedding model aliases.
    #[serde(default)]
    pub embeddings: BTreeMap<String, ModelMap>,
    pub pricing: PricingSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSection {
    /// The order candidates are tried in (the primary first).
    #[serde(default)]
    pub fallback_order: Vec<String>,
    /// The provider `AI_MODE=local` routes to.
    #[serde(default)]
    pub local_provider: Option<String>,
    /// The tier of a request that names neither tier nor model.
    #[serde(default = "default_tier")]
    pub default_tier: String,
    /// The embeddings alias of a request that names none.
    #[serde(default)]
    pub default_embedding_model: Option<String>,
    /// `max_tokens` of a request that asks for 0.
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u32,
    /// The largest `max_tokens` accepted (it bounds the worst-case cost).
    #[serde(default = "max_tokens_limit")]
    pub max_tokens_limit: u32,
}

impl Default for RoutingSection {
    fn default() -> Self {
        RoutingSection {
            fallback_order: Vec::new(),
            local_provider: None,
            default_tier: default_tier(),
            default_embedding_model: None,
            default_max_tokens: default_max_tokens(),
            max_tokens_limit: max_tokens_limit(),
        }
    }
}

fn default_tier() -> String {
    "cost_effective".into()
}
fn default_max_tokens() -> u32 {
    1024
}
fn max_tokens_limit() -> u32 {
    32_768
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    #[serde(default = "connect_ms")]
    pub connect_ms: u64,
    #[serde(default = "first_token_ms")]
    pub first_token_ms: u64,
    #[serde(default = "total_ms")]
    pub total_ms: u64,
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        TimeoutsSection {
            connect_ms: connect_ms(),
            first_token_ms: first_token_ms(),
            total_ms: total_ms(),
        }
    }
}

fn connect_ms() -> u64 {
    5_000
}
fn first_token_ms() -> u64 {
    30_000
}
fn total_ms() -> u64 {
    120_000
}

/// Per-provider overrides of the `[timeouts]` defaults.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsOverride {
    pub connect_ms: Option<u64>,
    pub first_token_ms: Option<u64>,
    pub total_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProviderEntry {
    /// The vendor protocol: azure, anthropic, bedrock, vertex, openai, ollama.
    pub kind: String,
    #[serde(default)]
    pub timeouts: TimeoutsOverride,
    /// The vendor's own keys, checked by the vendor module.
    #[serde(flatten)]
    pub settings: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TiersSection {
    pub sota: ModelMap,
    pub cost_effective: ModelMap,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingSection {
    /// Recorded with every cost (e.g. `2025-10-01`).
    pub version: String,
    /// `"provider/model"` (or `"provider/*"`) → prices.
    pub models: BTreeMap<String, PriceEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    /// USD per 1M input tokens, as a decimal string ("2.50").
    pub input: toml::Value,
    /// USD per 1M output tokens.
    pub output: toml::Value,
}
