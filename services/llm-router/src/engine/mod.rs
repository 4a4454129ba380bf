//! The routing engine: resolves a call to its candidates and tries them in
//! order. Knows nothing of gRPC.
//!
//! One concern per module around each call:
//! - [`accounting`]: the budget admission before the call (worst case
//!   reserved, HALF_OPEN downgrade), its settlement and usage record after;
//! - [`call`]: the guard that hands over exactly one record per call, also
//!   when the caller goes away;
//! - [`resilient`]: retries and the circuit breaker around each candidate;
//! - [`attempt`]: one provider call, observed and costed;
//! - [`complete`] and [`stream`]: the candidates in order;
//! - [`cancel`]: the calls in flight, cancelled when the shutdown grace ends.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use tokio::time::Instant;

pub mod accounting;
mod attempt;
mod call;
mod cancel;
mod complete;
pub mod observe;
mod request;
mod resilient;
mod stream;

pub use accounting::{Accounting, usage_record};
pub use attempt::{Attempt, EmbedAttempt, OpenedStream, fill_usage};
pub use complete::{Completion, Embedding};
pub use observe::{CallObserver, CallOutcome, CallRecord, NoObserver, Operation, SharedObserver};
pub use request::{
    Caller, CandidateFailure, ChatCall, EmbedCall, EngineError, Limits, MAX_EMBED_INPUTS,
    all_failed_message, validate_chat, validate_embed,
};
pub use resilient::{Held, Resilience};
pub use stream::{EngineFrame, EngineStream, StreamFailure};

/// How long shutdown waits for cancelled calls to hand over their records.
const CANCELLED_CALLS_BOUND: Duration = Duration::from_secs(10);

/// How long a call may take when its caller set no deadline.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

use crate::pricing::{Cost, PriceTable};
use crate::providers::registry::Registry;
use crate::providers::{Provider, TokenUsage, http};
use crate::routing::{Candidate, ModelEntry, Resolved, RouteError, RouterSettings, Routes, Target};

/// A configured provider, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    pub name: String,
    pub kind: &'static str,
    pub base_url: String,
    /// Real credentials (not the simulator, not unavailable).
    pub configured: bool,
    pub simulated: bool,
    /// Position in the fallback order.
    pub priority: Option<u32>,
}

/// Where the runtime pin of the primary provider (the admin API's
/// `SetProviderOverride`, which beats `LLM_PROVIDER`) is read from, on every call.
pub trait PinSource: Send + Sync {
    fn pinned(&self) -> Option<Arc<str>>;
}

/// A [`PinSource`] that is just a cell.
#[derive(Debug, Default)]
pub struct PinCell(RwLock<Option<Arc<str>>>);

impl PinCell {
    /// Sets (or with `None` clears) the pin; returns the previous one.
    pub fn set(&self, provider: Option<&str>) -> Option<Arc<str>> {
        std::mem::replace(&mut *self.0.write(), provider.map(Arc::from))
    }
}

impl PinSource for PinCell {
    fn pinned(&self) -> Option<Arc<str>> {
        self.0.read().clone()
    }
}

pub struct Engine {
    registry: Registry,
    routes: Routes,
    prices: Arc<PriceTable>,
    limits: Limits,
    providers: Vec<ProviderInfo>,
    pin: Arc<dyn PinSource>,
    observer: SharedObserver,
    resilience: Resilience,
    accounting: Option<Arc<Accounting>>,
    call_timeout: Duration,
    in_flight: cancel::InFlightCalls,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("registry", &self.registry)
            .field("price_version", self.prices.version())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client of provider {provider}: {source}")]
pub struct ConnectError {
    pub provider: String,
    #[source]
    pub source: reqwest::Error,
}

impl Engine {
    /// An engine over already connected providers; routes keep only the
    /// candidates whose provider is in `registry`.
    pub fn new(registry: Registry, mut routes: Routes, prices: PriceTable, limits: Limits) -> Self {
        routes.retain_providers(|p| registry.contains(p));
        Engine {
            registry,
            routes,
            prices: Arc::new(prices),
            limits,
            providers: Vec::new(),
            pin: Arc::new(PinCell::default()),
            observer: Arc::new(NoObserver),
            resilience: Resilience::default(),
            accounting: None,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            in_flight: cancel::InFlightCalls::default(),
        }
    }

    /// Connects every available provider of `settings` (one pooled HTTP
    /// client each) and logs which are simulated or unavailable. Needs the
    /// TLS crypto provider installed.
    pub fn connect(settings: &RouterSettings) -> Result<Self, ConnectError> {
        let mut registry = Registry::new();
        let mut providers = Vec::with_capacity(settings.providers.len());
        for p in &settings.providers {
            let Some(setup) = &p.setup else {
                tracing::warn!(provider = %p.name, kind = p.kind, "provider.unavailable");
                providers.push(ProviderInfo {
                    name: p.name.clone(),
                    kind: p.kind,
                    base_url: String::new(),
                    configured: false,
                    simulated: false,
                    priority: p.priority,
                });
                continue;
            };
            let client = http::build_client(&p.timeouts).map_err(|source| ConnectError {
                provider: p.name.clone(),
                source,
            })?;
            registry.insert(&p.name, setup.connect(&p.name, client, p.timeouts));
            if setup.simulated() {
                tracing::warn!(
                    provider = %p.name,
                    kind = p.kind,
                    base_url = %setup.base_url(),
                    "provider.simulated"
                );
            } else {
                tracing::info!(provider = %p.name, kind = p.kind, base_url = %setup.base_url(), "provider.configured");
            }
            providers.push(ProviderInfo {
                name: p.name.clone(),
                kind: p.kind,
                base_url: setup.base_url().to_owned(),
                configured: !setup.simulated(),
                simulated: setup.simulated(),
                priority: p.priority,
            });
        }
        let limits = Limits {
            default_max_tokens: settings.default_max_tokens,
            max_tokens_limit: settings.max_tokens_limit,
        };
        let mut engine = Engine::new(
            registry,
            settings.routes.clone(),
            settings.prices.clone(),
            limits,
        );
        engine.providers = providers;
        for entry in engine.routes.catalogue(None) {
            if entry.candidates.is_empty() {
                tracing::warn!(model = %entry.id, "routing.no_candidates");
            }
        }
        tracing::info!(
            source = %settings.source,
            price_version = %settings.prices.version(),
            local_mode = settings.routes.local_mode(),
            pinned = settings.routes.pinned().unwrap_or(""),
            "routing.configured"
        );
        Ok(engine)
    }

    /// Hands every finished call's record to `observer` as well.
    pub fn with_observer(mut self, observer: SharedObserver) -> Self {
        self.observer = observer;
        self
    }

    /// Retries and circuit breakers (default: the documented defaults).
    pub fn with_resilience(mut self, resilience: Resilience) -> Self {
        self.resilience = resilience;
        self
    }

    /// Admits every call against the budget and delivers its usage record.
    /// Without it (tests, benchmarks) calls are neither budgeted nor recorded.
    pub fn with_accounting(mut self, accounting: Arc<Accounting>) -> Self {
        self.accounting = Some(accounting);
        self
    }

    /// How long a call may take when its caller set no deadline (retries stop
    /// before it).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// At the end of the shutdown grace: cancels the calls still in flight
    /// and waits until each has handed over its record (see `cancel`).
    pub async fn cancel_calls(&self) {
        if !self.in_flight.cancel_all(CANCELLED_CALLS_BOUND).await {
            tracing::error!(
                bound_ms = CANCELLED_CALLS_BOUND.as_millis() as u64,
                "router.cancelled_calls_outstanding"
            );
        }
    }

    pub fn resilience(&self) -> &Resilience {
        &self.resilience
    }

    /// When a call started at `started` must end: its caller's deadline, but
    /// never later than the call timeout.
    fn deadline(&self, caller: Option<Instant>, started: Instant) -> Instant {
        let own = started + self.call_timeout;
        caller.map_or(own, |d| d.min(own))
    }

    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every provider of the config, available or not.
    pub fn providers(&self) -> &[ProviderInfo] {
        &self.providers
    }

    /// Reads the runtime primary pin from `pin` (the admin API's override).
    pub fn with_pin_source(mut self, pin: Arc<dyn PinSource>) -> Self {
        self.pin = pin;
        self
    }

    /// The runtime primary pin, if any.
    pub fn primary_override(&self) -> Option<Arc<str>> {
        self.pin.pinned()
    }

    /// The models and tiers callers can name, candidates as they would be tried now.
    pub fn list_models(&self) -> Vec<ModelEntry> {
        self.routes.catalogue(self.primary_override().as_deref())
    }

    pub fn resolve_chat(&self, target: &Target) -> Result<Resolved, EngineError> {
        self.routes
            .resolve_chat(target, self.primary_override().as_deref())
            .map_err(route_error)
    }

    pub fn resolve_embedding(&self, model: Option<&str>) -> Result<Resolved, EngineError> {
        self.routes
            .resolve_embedding(model, self.primary_override().as_deref())
            .map_err(route_error)
    }

    fn provider(&self, candidate: &Candidate) -> Option<&Arc<dyn Provider>> {
        self.registry.get(&candidate.provider)
    }

    /// The cost of `usage` on `candidate`. Every routed model is priced at
    /// start-up; an engine built by hand may lack a price, which costs 0 and
    /// is logged loudly.
    /// No cost, under the current price version.
    fn nothing(&self) -> Cost {
        Cost {
            micros: crate::money::Micros::ZERO,
            price_version: Arc::clone(self.prices.version()),
        }
    }

    pub fn cost(&self, candidate: &Candidate, usage: TokenUsage) -> Cost {
        cost_of(&self.prices, candidate, usage)
    }
}

fn cost_of(prices: &PriceTable, candidate: &Candidate, usage: TokenUsage) -> Cost {
    prices
        .cost(&candidate.provider, &candidate.model, usage)
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "pricing.unpriced");
            Cost {
                micros: crate::money::Micros::ZERO,
                price_version: Arc::clone(prices.version()),
            }
        })
}

fn route_error(e: RouteError) -> EngineError {
    let field = match e {
        RouteError::UnknownModel(_)
        | RouteError::UnknownEmbeddingModel(_)
        | RouteError::NoDefaultEmbedding => "model",
    };
    EngineError::invalid(field, e.to_string())
}
