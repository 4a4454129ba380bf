//! Per-provider circuit breakers (per router replica, like Envoy's outlier
//! detection).
//!
//! Every failed attempt counts, retries included (see `record_failed_attempt`),
//! and a stream cut after it started counts one failure; after
//! `failure_threshold` consecutive failures the breaker opens for `open_for`;
//! then it half-opens and lets exactly one probe through: success closes it,
//! failure re-opens it for twice as long (up to `max_open_for`).
//!
//! Each call holds a [`BreakerPermit`]. Results of permits issued before the
//! latest transition (a "generation") no longer move the state: ten calls in
//! flight when the breaker opens cannot count as ten more failures, nor can a
//! late success close it without a probe. A probe permit dropped without a
//! result (the caller went away) counts as a failed probe, so half-open can
//! never wedge.

use crate::clock::SharedClock;
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use service_kit::{ConfigError, Env};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

const LATENCY_SAMPLES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed calls that open the breaker (`ROUTER_BREAKER_FAILURES`, 5).
    pub failure_threshold: u32,
    /// First open period (`ROUTER_BREAKER_OPEN_MS`, 60 s).
    pub open_for: Duration,
    /// Longest open period after repeated failed probes (`ROUTER_BREAKER_MAX_OPEN_MS`, 10 min).
    pub max_open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(60),
            max_open_for: Duration::from_secs(600),
        }
    }
}

impl BreakerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let config = Self {
            failure_threshold: env.parse_or("ROUTER_BREAKER_FAILURES", d.failure_threshold)?,
            open_for: env.millis_or("ROUTER_BREAKER_OPEN_MS", d.open_for)?,
            max_open_for: env.millis_or("ROUTER_BREAKER_MAX_OPEN_MS", d.max_open_for)?,
        };
        if config.failure_threshold == 0 {
            return Err(ConfigError::new("ROUTER_BREAKER_FAILURES", "at least 1"));
        }
        if config.max_open_for < config.open_for {
            return Err(ConfigError::new(
                "ROUTER_BREAKER_MAX_OPEN_MS",
                "must not be shorter than ROUTER_BREAKER_OPEN_MS",
            ));
        }
        Ok(config)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    /// One probe call is (or may be) in flight.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// The `llm_provider_breaker_state` gauge value.
    pub fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

/// The breaker refused the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerOpen {
    pub provider: String,
    /// When the next probe may go through; `None` while a probe is in flight.
    pub retry_at: Option<DateTime<Utc>>,
}

impl fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_at {
            Some(at) => write!(
                f,
                "circuit breaker open for {} until {}",
                self.provider,
                at.to_rfc3339()
            ),
            None => write!(
                f,
                "circuit breaker half-open for {} (probe in flight)",
                self.provider
            ),
        }
    }
}

impl std::error::Error for BreakerOpen {}

/// What `ListProviders` shows of one breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerSnapshot {
    pub provider: String,
    pub state: BreakerState,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub retry_at: Option<DateTime<Utc>>,
    /// Median of the latest successful calls.
    pub recent_latency: Option<Duration>,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    generation: u64,
    consecutive_failures: u32,
    current_open_for: Duration,
    open_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_failure_at: Option<DateTime<Utc>>,
    latencies: VecDeque<Duration>,
}

#[derive(Debug)]
struct Shared {
    provider: String,
    config: BreakerConfig,
    clock: SharedClock,
    inner: Mutex<Inner>,
}

/// One provider's breaker. Clones share state.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    shared: Arc<Shared>,
}

/// Leave to make one call. Give it back with `record_success` or
/// `record_failure`; dropping it is neutral, except for a probe (a failure).
#[derive(Debug)]
pub struct BreakerPermit {
    shared: Arc<Shared>,
    generation: u64,
    probe: bool,
    started: tokio::time::Instant,
    done: bool,
}

impl BreakerPermit {
    /// Whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

impl Drop for BreakerPermit {
    fn drop(&mut self) {
        if !self.done && self.probe {
            self.shared
                .complete(self.generation, true, Err("probe abandoned"), None);
        }
    }
}

impl CircuitBreaker {
    pub fn new(provider: impl Into<String>, config: BreakerConfig, clock: SharedClock) -> Self {
        let breaker = Self {
            shared: Arc::new(Shared {
                provider: provider.into(),
                inner: Mutex::new(Inner {
                    state: BreakerState::Closed,
                    generation: 0,
                    consecutive_failures: 0,
                    current_open_for: config.open_for,
                    open_until: None,
                    last_error: None,
                    last_failure_at: None,
                    latencies: VecDeque::with_capacity(LATENCY_SAMPLES),
                }),
                config,
                clock,
            }),
        };
        breaker.shared.publish(BreakerState::Closed);
        breaker
    }

    pub fn provider(&self) -> &str {
        &self.shared.provider
    }

    /// A permit for one call, or why not. Half-open admits exactly one caller.
    pub fn try_acquire(&self) -> Result<BreakerPermit, BreakerOpen> {
        let shared = &self.shared;
        let mut inner = shared.inner.lock();
        let probe = match inner.state {
            BreakerState::Closed => false,
            BreakerState::HalfOpen => {
                return Err(BreakerOpen {
                    provider: shared.provider.clone(),
                    retry_at: None,
                });
            }
            BreakerState::Open => {
                let now = shared.clock.now();
                match inner.open_until {
                    Some(until) if now < until => {
                        return Err(BreakerOpen {
                            provider: shared.provider.clone(),
                            retry_at: Some(until),
                        });
                    }
                    _ => {}
                }
                inner.state = BreakerState::HalfOpen;
                inner.generation += 1;
                tracing::info!(provider = %shared.provider, state = "HALF_OPEN", "circuit_breaker.provider_half_opened");
                shared.publish(BreakerState::HalfOpen);
                true
            }
        };
        Ok(BreakerPermit {
            shared: shared.clone(),
            generation: inner.generation,
            probe,
            started: tokio::time::Instant::now(),
            done: false,
        })
    }

    /// The call succeeded (or the provider answered with the caller's own
    /// mistake, e.g. a 400: it is up).
    pub fn record_success(&self, mut permit: BreakerPermit) {
        permit.done = true;
        let latency = permit.started.elapsed();
        permit
            .shared
            .complete(permit.generation, permit.probe, Ok(()), Some(latency));
    }

    /// One attempt under `permit` failed and a retry may follow. It counts
    /// against the provider at once, so an outage opens the breaker within
    /// the first few attempts rather than after five whole candidates (each
    /// with its retries). Give the permit back with [`Self::release`]
    /// afterwards, not `record_failure`: the failure is already counted.
    pub fn record_failed_attempt(&self, permit: &BreakerPermit, reason: &str) {
        permit
            .shared
            .complete(permit.generation, permit.probe, Err(reason), None);
    }

    /// Whether a retry under `permit` may go out: not once the breaker moved
    /// on since it was issued (it opened), and never for the half-open probe,
    /// whose one attempt decides.
    pub fn admits_retry(&self, permit: &BreakerPermit) -> bool {
        !permit.probe && self.shared.inner.lock().generation == permit.generation
    }

    /// Gives back a permit whose outcome was already counted attempt by attempt.
    pub fn release(&self, mut permit: BreakerPermit) {
        permit.done = true;
    }

    /// The call failed after its retries. `reason` is a classified, secret-free summary.
    pub fn record_failure(&self, mut permit: BreakerPermit, reason: &str) {
        permit.done = true;
        permit
            .shared
            .complete(permit.generation, permit.probe, Err(reason), None);
    }

    pub fn snapshot(&self) -> BreakerSnapshot {
        let shared = &self.shared;
        let inner = shared.inner.lock();
        let mut sorted: Vec<Duration> = inner.latencies.iter().copied().collect();
        sorted.sort_unstable();
        BreakerSnapshot {
            provider: shared.provider.clone(),
            state: inner.state,
            consecutive_failures: inner.consecutive_failures,
            last_error: inner.last_error.clone(),
            last_failure_at: inner.last_failure_at,
            retry_at: match inner.state {
                BreakerState::Open => inner.open_until,
                _ => None,
            },
            recent_latency: sorted.get(sorted.len().saturating_sub(1) / 2).copied(),
        }
    }
}

impl Shared {
    fn publish(&self, state: BreakerState) {
        metrics::gauge!("llm_provider_breaker_state", "provider" => self.provider.clone())
            .set(state.gauge());
    }

    fn complete(
        &self,
        generation: u64,
        probe: bool,
        result: Result<(), &str>,
        latency: Option<Duration>,
    ) {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        if let Some(latency) = latency {
            if inner.latencies.len() == LATENCY_SAMPLES {
                inner.latencies.pop_front();
            }
            inner.latencies.push_back(latency);
        }
        if let Err(reason) = result {
            inner.last_error = Some(reason.to_owned());
            inner.last_failure_at = Some(now);
        }
        if generation != inner.generation {
            return; // issued before the latest transition: no say in the state
        }
        match (inner.state, probe, result) {
            (BreakerState::Closed, _, Ok(())) => inner.consecutive_failures = 0,
            (BreakerState::Closed, _, Err(reason)) => {
                inner.consecutive_failures += 1;
                if inner.consecutive_failures >= self.config.failure_threshold {
                    inner.current_open_for = self.config.open_for;
                    self.open(&mut inner, now);
                    tracing::warn!(
                        provider = %self.provider,
                        consecutive_failures = inner.consecutive_failures,
                        open_for_ms = inner.current_open_for.as_millis() as u64,
                        last_error = reason,
                        state = "OPEN",
                        "circuit_breaker.provider_opened"
                    );
                }
            }
            (BreakerState::HalfOpen, true, Ok(())) => {
                inner.state = BreakerState::Closed;
                inner.generation += 1;
                inner.consecutive_failures = 0;
                inner.open_until = None;
                inner.current_open_for = self.config.open_for;
                tracing::info!(provider = %self.provider, state = "CLOSED", "circuit_breaker.provider_closed");
                self.publish(BreakerState::Closed);
            }
            (BreakerState::HalfOpen, true, Err(reason)) => {
                inner.consecutive_failures += 1;
                inner.current_open_for = inner
                    .current_open_for
                    .saturating_mul(2)
                    .min(self.config.max_open_for);
                self.open(&mut inner, now);
                tracing::warn!(
                    provider = %self.provider,
                    open_for_ms = inner.current_open_for.as_millis() as u64,
                    last_error = reason,
                    state = "OPEN",
                    "circuit_breaker.provider_reopened"
                );
            }
            // Open, or a non-probe permit while half-open: cannot happen within
            // one generation, and must not move the state if it did.
            _ => {}
        }
    }

    fn open(&self, inner: &mut Inner, now: DateTime<Utc>) {
        let open_for =
            chrono::Duration::from_std(inner.current_open_for).unwrap_or(chrono::Duration::MAX);
        inner.state = BreakerState::Open;
        inner.generation += 1;
        inner.open_until = Some(now.checked_add_signed(open_for).unwrap_or(now));
        self.publish(BreakerState::Open);
    }
}

/// Every provider's breaker, by registry name. Breakers are made on first use
/// with the shared config, so a provider added to the registry needs nothing here.
pub struct Breakers {
    config: BreakerConfig,
    clock: SharedClock,
    map: RwLock<BTreeMap<String, CircuitBreaker>>,
}

impl Breakers {
    pub fn new(config: BreakerConfig, clock: SharedClock) -> Self {
        Self {
            config,
            clock,
            map: RwLock::new(BTreeMap::new()),
        }
    }

    /// The breaker of `provider`.
    pub fn get(&self, provider: &str) -> CircuitBreaker {
        if let Some(b) = self.map.read().get(provider) {
            return b.clone();
        }
        self.map
            .write()
            .entry(provider.to_owned())
            .or_insert_with(|| {
                CircuitBreaker::new(provider, self.config.clone(), self.clock.clone())
            })
            .clone()
    }

    /// Snapshots of every breaker made so far, by provider name.
    pub fn snapshots(&self) -> Vec<BreakerSnapshot> {
        self.map
            .read()
            .values()
            .map(CircuitBreaker::snapshot)
            .collect()
    }
}
