//! Reads the config file (`ROUTER_CONFIG`, else the embedded default),
//! applies the manuals' environment variables and validates every entry:
//! a bad entry fails start-up with a message naming it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use service_kit::{ConfigError, Env};

use super::file::{FileConfig, ModelMap, PriceEntry, TimeoutsOverride, TimeoutsSection};
use super::{Candidate, Route, Routes, Tier};
use llm_providers::Timeouts;
use llm_providers::config::{CONFIG_VAR, ProviderContext, ProviderSetup};
use llm_providers::registry;

use crate::money::Micros;
use crate::pricing::{Price, PriceTable};

/// The documented default config, also used when `ROUTER_CONFIG` is unset.
pub const EMBEDDED: &str = include_str!("../../config/router.toml");
const EMBEDDED_SOURCE: &str = "embedded config/router.toml";
pub const DEFAULT_SIMULATOR_URL: &str = "http://127.0.0.1:8090";

/// One `[providers.<name>]` entry, resolved.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub name: String,
    pub kind: &'static str,
    pub timeouts: Timeouts,
    /// `None`: no credentials and the simulator is off, so unavailable.
    pub setup: Option<Arc<dyn ProviderSetup>>,
    /// Position in the fallback order (0 = primary), if in it.
    pub priority: Option<u32>,
}

/// Everything the router's routing needs, validated.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    /// Where the config came from (for logs).
    pub source: String,
    pub providers: Vec<ProviderSettings>,
    pub routes: Routes,
    pub prices: PriceTable,
    pub default_max_tokens: u32,
    pub max_tokens_limit: u32,
}

pub fn load(env: &Env) -> Result<RouterSettings, ConfigError> {
    match env.get("ROUTER_CONFIG") {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new(CONFIG_VAR, format!("cannot read {path}: {e}")))?;
            load_str(&text, path, env)
        }
        None => load_str(EMBEDDED, EMBEDDED_SOURCE, env),
    }
}

/// Which tier maps the Azure deployment variables override.
const AZURE_TIER_VARS: [(Tier, &str); 2] = [
    (Tier::Sota, "AZURE_SOTA_DEPLOYMENT"),
    (Tier::CostEffective, "AZURE_COST_EFFECTIVE_DEPLOYMENT"),
];

pub fn load_str(text: &str, source: &str, env: &Env) -> Result<RouterSettings, ConfigError> {
    let v = Validator { source };
    let mut file: FileConfig = toml::from_str(text).map_err(|e| v.err(e.message()))?;

    // The manuals' deployment variables replace every Azure provider's model.
    let azure: Vec<String> = file
        .providers
        .iter()
        .filter(|(_, p)| p.kind == "azure")
        .map(|(name, _)| name.clone())
        .collect();
    for (tier, var) in AZURE_TIER_VARS {
        if let Some(deployment) = env.get(var) {
            let map = tier_map(&mut file, tier);
            for name in &azure {
                map.insert(name.clone(), deployment.trim().to_owned());
            }
        }
    }

    let simulator = simulator_url(env)?;
    timeouts(&v, "timeouts", &file.timeouts, TimeoutsOverride::default())?;
    let order = &file.routing.fallback_order;
    let mut providers = Vec::with_capacity(file.providers.len());
    for (name, entry) in &file.providers {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(v.err(format!(
                "providers.{name}: provider names are lowercase letters, digits, '-' and '_'"
            )));
        }
        let vendor = registry::vendor(&entry.kind).ok_or_else(|| {
            v.err(format!(
                "providers.{name}.kind: unknown kind {:?} (expected one of {})",
                entry.kind,
                registry::kinds()
            ))
        })?;
        let ctx = ProviderContext {
            name,
            table: &entry.settings,
            env,
            simulator: simulator.as_deref(),
            source,
        };
        providers.push(ProviderSettings {
            name: name.clone(),
            kind: vendor.kind,
            timeouts: timeouts(
                &v,
                &format!("providers.{name}.timeouts"),
                &file.timeouts,
                entry.timeouts,
            )?,
            setup: (vendor.configure)(&ctx)?,
            priority: order
                .iter()
                .position(|p| p == name)
                .and_then(|i| u32::try_from(i).ok()),
        });
    }
    let known = |name: &str| file.providers.contains_key(name);
    let kind_of = |name: &str| file.providers.get(name).map(|p| p.kind.as_str());

    let pinned = match env.get("LLM_PROVIDER").map(str::trim) {
        None => None,
        Some(p) if known(p) => Some(Arc::from(p)),
        Some(p) => {
            return Err(ConfigError::new(
                "LLM_PROVIDER",
                format!(
                    "unknown provider {p:?} (configured: {})",
                    file.providers
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    };
    let local = match env.get("AI_MODE").map(|m| m.trim().to_ascii_lowercase()) {
        None => false,
        Some(m) if m == "cloud" => false,
        Some(m) if m == "local" => true,
        Some(m) => {
            return Err(ConfigError::new(
                "AI_MODE",
                format!("expected cloud or local, got {m:?}"),
            ));
        }
    };

    // Routing section.
    if order.is_empty() {
        return Err(v.err("routing.fallback_order: name at least one provider"));
    }
    let mut seen = HashSet::new();
    for p in order {
        if !known(p) {
            return Err(v.err(format!("routing.fallback_order: unknown provider {p:?}")));
        }
        if !seen.insert(p) {
            return Err(v.err(format!("routing.fallback_order: {p:?} appears twice")));
        }
    }
    let local_provider = file.routing.local_provider.clone();
    if let Some(p) = &local_provider
        && !known(p)
    {
        return Err(v.err(format!("routing.local_provider: unknown provider {p:?}")));
    }
    if local && local_provider.is_none() {
        return Err(ConfigError::new(
            "AI_MODE",
            format!("local needs routing.local_provider in {source}"),
        ));
    }
    let default_tier = Tier::parse(&file.routing.default_tier).ok_or_else(|| {
        v.err(format!(
            "routing.default_tier: {:?} is not sota or cost_effective",
            file.routing.default_tier
        ))
    })?;
    let r = &file.routing;
    if r.default_max_tokens == 0 || r.default_max_tokens > r.max_tokens_limit {
        return Err(v.err(format!(
            "routing.default_max_tokens: {} must be between 1 and routing.max_tokens_limit ({})",
            r.default_max_tokens, r.max_tokens_limit
        )));
    }

    // Model maps.
    let check_map = |entry: &str, map: &ModelMap, embeddings: bool| -> Result<(), ConfigError> {
        for (p, model) in map {
            let Some(kind) = kind_of(p) else {
                return Err(v.err(format!("{entry}.{p}: unknown provider {p:?}")));
            };
            if model.trim().is_empty() {
                return Err(v.err(format!("{entry}.{p}: empty model name")));
            }
            if embeddings && !registry::vendor(kind).is_some_and(|k| k.embeddings) {
                return Err(v.err(format!("{entry}.{p}: {kind} has no embeddings API")));
            }
        }
        Ok(())
    };
    check_map("tiers.sota", &file.tiers.sota, false)?;
    check_map("tiers.cost_effective", &file.tiers.cost_effective, false)?;
    for (alias, map) in &file.models {
        if alias.trim().is_empty() || Tier::parse(alias).is_some() {
            return Err(v.err(format!("models.{alias:?}: not a usable alias name")));
        }
        check_map(&format!("models.{alias:?}"), map, false)?;
    }
    for (alias, map) in &file.embeddings {
        if alias.trim().is_empty() {
            return Err(v.err("embeddings: empty alias name"));
        }
        check_map(&format!("embeddings.{alias:?}"), map, true)?;
    }
    if let Some(d) = &file.routing.default_embedding_model
        && !file.embeddings.contains_key(d)
    {
        return Err(v.err(format!(
            "routing.default_embedding_model: {d:?} is not in [embeddings]"
        )));
    }

    let prices = price_table(&v, &file, &known)?;
    check_priced(&v, &file, &prices, env)?;

    let local_name = local.then_some(local_provider.as_deref()).flatten();
    // Tiers follow the fallback order strictly (other providers serve them
    // only when pinned); an alias names its providers, so all of them serve.
    let route = |entry: &str, map: &ModelMap, required: bool| -> Result<Route, ConfigError> {
        let mut route = build_route(map, order, local_name);
        if !required {
            route.ordered.append(&mut route.others);
        }
        if required && local && route.ordered.is_empty() {
            return Err(ConfigError::new(
                "AI_MODE",
                format!(
                    "local mode routes to {:?}, which {entry} in {source} has no model for",
                    local_name.unwrap_or_default()
                ),
            ));
        }
        Ok(route)
    };
    let routes = Routes {
        sota: route("tiers.sota", &file.tiers.sota, true)?,
        cost_effective: route("tiers.cost_effective", &file.tiers.cost_effective, true)?,
        aliases: file
            .models
            .iter()
            .map(|(a, m)| Ok((a.clone(), route("", m, false)?)))
            .collect::<Result<BTreeMap<_, _>, ConfigError>>()?,
        embeddings: file
            .embeddings
            .iter()
            .map(|(a, m)| Ok((a.clone(), route("", m, false)?)))
            .collect::<Result<BTreeMap<_, _>, ConfigError>>()?,
        default_tier,
        default_embedding: file.routing.default_embedding_model.clone(),
        pinned,
        local,
    };
    Ok(RouterSettings {
        source: source.to_owned(),
        providers,
        routes,
        prices,
        default_max_tokens: file.routing.default_max_tokens,
        max_tokens_limit: file.routing.max_tokens_limit,
    })
}

struct Validator<'a> {
    source: &'a str,
}

impl Validator<'_> {
    fn err(&self, message: impl std::fmt::Display) -> ConfigError {
        ConfigError::new(CONFIG_VAR, format!("{}: {message}", self.source))
    }
}

/// `SIMULATOR_URL` (default `http://127.0.0.1:8090`), or `None` with `PROVIDER_SIMULATOR=off`.
fn simulator_url(env: &Env) -> Result<Option<String>, ConfigError> {
    if !env.bool_or("PROVIDER_SIMULATOR", true)? {
        return Ok(None);
    }
    let url = env.string_or("SIMULATOR_URL", DEFAULT_SIMULATOR_URL);
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(Some(url)),
        _ => Err(ConfigError::new(
            "SIMULATOR_URL",
            format!("{url:?} is not an http(s) URL"),
        )),
    }
}

/// The `[timeouts]` defaults with a provider's overrides; every one must be positive.
fn timeouts(
    v: &Validator<'_>,
    entry: &str,
    defaults: &TimeoutsSection,
    o: TimeoutsOverride,
) -> Result<Timeouts, ConfigError> {
    let pick = |name: &str, over: Option<u64>, default: u64| -> Result<Duration, ConfigError> {
        match over.unwrap_or(default) {
            0 => Err(v.err(format!("{entry}.{name}: must be positive"))),
            ms => Ok(Duration::from_millis(ms)),
        }
    };
    Ok(Timeouts {
        connect: pick("connect_ms", o.connect_ms, defaults.connect_ms)?,
        first_token: pick("first_token_ms", o.first_token_ms, defaults.first_token_ms)?,
        total: pick("total_ms", o.total_ms, defaults.total_ms)?,
    })
}

fn tier_map(file: &mut FileConfig, tier: Tier) -> &mut ModelMap {
    match tier {
        Tier::Sota => &mut file.tiers.sota,
        Tier::CostEffective => &mut file.tiers.cost_effective,
    }
}

fn build_route(map: &ModelMap, order: &[String], local: Option<&str>) -> Route {
    if let Some(local) = local {
        return Route {
            ordered: map
                .get(local)
                .map(|m| vec![Candidate::new(local, m)])
                .unwrap_or_default(),
            others: Vec::new(),
        };
    }
    Route {
        ordered: order
            .iter()
            .filter_map(|p| map.get(p).map(|m| Candidate::new(p, m)))
            .collect(),
        others: map
            .iter()
            .filter(|(p, _)| !order.contains(p))
            .map(|(p, m)| Candidate::new(p, m))
            .collect(),
    }
}

/// A price written as a decimal string ("2.50") or a whole number; floats
/// are refused because they cannot hold most prices exactly.
fn amount(v: &Validator<'_>, entry: &str, value: &toml::Value) -> Result<Micros, ConfigError> {
    match value {
        toml::Value::String(s) => Micros::parse_usd(s).map_err(|e| v.err(format!("{entry}: {e}"))),
        toml::Value::Integer(i) if *i >= 0 => Ok(Micros::from_usd(*i)),
        toml::Value::Float(f) => Err(v.err(format!(
            "{entry}: write prices as strings (\"{f}\") so they stay exact"
        ))),
        other => Err(v.err(format!("{entry}: {other} is not a price"))),
    }
}

fn price_table(
    v: &Validator<'_>,
    file: &FileConfig,
    known: &impl Fn(&str) -> bool,
) -> Result<PriceTable, ConfigError> {
    if file.pricing.version.trim().is_empty() {
        return Err(v.err("pricing.version: must not be empty"));
    }
    let mut table = PriceTable::new(file.pricing.version.trim());
    for (key, PriceEntry { input, output }) in &file.pricing.models {
        let entry = format!("pricing.models.{key:?}");
        let Some((provider, model)) = key
            .split_once('/')
            .filter(|(p, m)| !p.is_empty() && !m.is_empty())
        else {
            return Err(v.err(format!(
                "{entry}: keys are \"provider/model\" or \"provider/*\""
            )));
        };
        if !known(provider) {
            return Err(v.err(format!("{entry}: unknown provider {provider:?}")));
        }
        let price = Price {
            input_per_mtok: amount(v, &format!("{entry}.input"), input)?,
            output_per_mtok: amount(v, &format!("{entry}.output"), output)?,
        };
        table.insert(provider, model, price);
    }
    Ok(table)
}

/// Every model a route may use must have a price: a call whose cost cannot
/// be computed would escape the budget.
fn check_priced(
    v: &Validator<'_>,
    file: &FileConfig,
    prices: &PriceTable,
    env: &Env,
) -> Result<(), ConfigError> {
    let maps = [
        ("tiers.sota".to_owned(), &file.tiers.sota),
        (
            "tiers.cost_effective".to_owned(),
            &file.tiers.cost_effective,
        ),
    ]
    .into_iter()
    .chain(
        file.models
            .iter()
            .map(|(a, m)| (format!("models.{a:?}"), m)),
    )
    .chain(
        file.embeddings
            .iter()
            .map(|(a, m)| (format!("embeddings.{a:?}"), m)),
    );
    for (entry, map) in maps {
        for (provider, model) in map {
            if let Err(e) = prices.price(provider, model) {
                let from_env = AZURE_TIER_VARS
                    .iter()
                    .find(|(t, var)| {
                        entry == format!("tiers.{t}") && env.get(var).map(str::trim) == Some(model)
                    })
                    .map(|(_, var)| *var);
                let message = format!("{e}: add \"{provider}/{model}\" to [pricing.models]");
                return Err(match from_env {
                    Some(var) => ConfigError::new(var, format!("{message} in {}", v.source)),
                    None => v.err(format!("{entry}.{provider}: {message}")),
                });
            }
        }
    }
    Ok(())
}
