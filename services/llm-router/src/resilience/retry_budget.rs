//! A retry budget (as in Finagle and linkerd): retries may add at most a fixed
//! ratio of the requests seen over a sliding window, plus a small floor per
//! second so that a quiet router can still retry. During an outage every
//! request fails, so without a budget each one would turn into `1 + max_retries`
//! provider calls; with it the provider sees at most `(1 + ratio)` times the
//! traffic (plus the floor).
//!
//! The engine keeps one budget per provider (see [`RetryBudgets`]): one
//! provider's outage must not use up the retries of another.

use parking_lot::Mutex;
use service_kit::{ConfigError, Env};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const BUCKETS: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryBudgetConfig {
    /// The sliding window (`ROUTER_RETRY_BUDGET_WINDOW_MS`, 10 s).
    pub window: Duration,
    /// Retries allowed per request in the window, in basis points
    /// (`ROUTER_RETRY_BUDGET_RATIO_PCT` × 100; default 20%).
    pub ratio_bp: u32,
    /// Retries always allowed per second of window (`ROUTER_RETRY_BUDGET_MIN_PER_SEC`, 10).
    pub min_per_sec: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            ratio_bp: 2_000,
            min_per_sec: 10,
        }
    }
}

impl RetryBudgetConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let pct: u32 = env.parse_or("ROUTER_RETRY_BUDGET_RATIO_PCT", d.ratio_bp / 100)?;
        if pct > 1_000 {
            return Err(ConfigError::new(
                "ROUTER_RETRY_BUDGET_RATIO_PCT",
                "at most 1000 (percent)",
            ));
        }
        let window = env.millis_or("ROUTER_RETRY_BUDGET_WINDOW_MS", d.window)?;
        if window < Duration::from_millis(BUCKETS.into()) {
            return Err(ConfigError::new(
                "ROUTER_RETRY_BUDGET_WINDOW_MS",
                "at least 10 ms",
            ));
        }
        Ok(Self {
            window,
            ratio_bp: pct * 100,
            min_per_sec: env.parse_or("ROUTER_RETRY_BUDGET_MIN_PER_SEC", d.min_per_sec)?,
        })
    }

    fn floor(&self) -> u64 {
        let millis = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        u64::from(self.min_per_sec).saturating_mul(millis) / 1_000
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    start: Instant,
    requests: u64,
    retries: u64,
}

/// One retry budget. Cheap to share behind an `Arc`; a short mutex per call.
#[derive(Debug)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    buckets: Mutex<VecDeque<Bucket>>,
}

impl RetryBudget {
    pub fn new(config: RetryBudgetConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(VecDeque::new()),
        }
    }

    /// Counts a first attempt (each call of `run_with_retries` does it once).
    pub fn record_request(&self) {
        self.with_current(|b| b.requests += 1);
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn try_withdraw(&self) -> bool {
        let mut buckets = self.buckets.lock();
        let now = Instant::now();
        self.rotate(&mut buckets, now);
        let (requests, retries) = buckets
            .iter()
            .fold((0u64, 0u64), |(q, r), b| (q + b.requests, r + b.retries));
        // retries < floor + ratio × requests, in integers (basis points).
        let allowed_bp = self
            .config
            .floor()
            .saturating_mul(10_000)
            .saturating_add(requests.saturating_mul(self.config.ratio_bp.into()));
        if retries.saturating_mul(10_000) >= allowed_bp {
            return false;
        }
        Self::current(&mut buckets, now, self.bucket_len()).retries += 1;
        true
    }

    fn bucket_len(&self) -> Duration {
        self.config.window / BUCKETS
    }

    fn with_current(&self, f: impl FnOnce(&mut Bucket)) {
        let mut buckets = self.buckets.lock();
        let now = Instant::now();
        self.rotate(&mut buckets, now);
        f(Self::current(&mut buckets, now, self.bucket_len()));
    }

    fn rotate(&self, buckets: &mut VecDeque<Bucket>, now: Instant) {
        while buckets
            .front()
            .is_some_and(|b| now.saturating_duration_since(b.start) >= self.config.window)
        {
            buckets.pop_front();
        }
    }

    fn current(buckets: &mut VecDeque<Bucket>, now: Instant, len: Duration) -> &mut Bucket {
        let fresh = buckets
            .back()
            .is_none_or(|b| now.saturating_duration_since(b.start) >= len);
        if fresh {
            buckets.push_back(Bucket {
                start: now,
                requests: 0,
                retries: 0,
            });
        }
        let last = buckets.len() - 1;
        &mut buckets[last]
    }
}

/// One [`RetryBudget`] per provider, created on first use.
#[derive(Debug, Default)]
pub struct RetryBudgets {
    config: RetryBudgetConfig,
    budgets: Mutex<HashMap<String, Arc<RetryBudget>>>,
}

impl RetryBudgets {
    pub fn new(config: RetryBudgetConfig) -> Self {
        Self {
            config,
            budgets: Mutex::new(HashMap::new()),
        }
    }

    pub fn for_provider(&self, provider: &str) -> Arc<RetryBudget> {
        let mut budgets = self.budgets.lock();
        // Every call asks: no allocation once the provider's budget exists.
        if let Some(budget) = budgets.get(provider) {
            return budget.clone();
        }
        budgets
            .entry(provider.to_owned())
            .or_insert_with(|| Arc::new(RetryBudget::new(self.config.clone())))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn floor_then_ratio_then_window_refill() {
        let budget = RetryBudget::new(RetryBudgetConfig {
            window: Duration::from_secs(10),
            ratio_bp: 2_000,
            min_per_sec: 1,
        });
        // Floor: 1/s over 10 s = 10 retries with no requests at all.
        for _ in 0..10 {
            assert!(budget.try_withdraw());
        }
        assert!(!budget.try_withdraw());
        // 20% of 50 requests = 10 more.
        for _ in 0..50 {
            budget.record_request();
        }
        for _ in 0..10 {
            assert!(budget.try_withdraw());
        }
        assert!(!budget.try_withdraw());
        // The window slides: everything above ages out.
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(budget.try_withdraw());
    }
}
