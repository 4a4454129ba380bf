//! Retries of one provider candidate: exponential backoff with full jitter,
//! `Retry-After` honoured up to a cap, only for failures the caller classifies
//! as retryable, under a [`RetryBudget`], and never past the caller's deadline.
//!
//! Generic over the error type so the engine's provider errors plug in through
//! a `classify` function.

use super::retry_budget::RetryBudget;
use rand::Rng;
use service_kit::{ConfigError, Env};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

const TIMER_TICK: Duration = Duration::from_millis(1);

/// How often and how patiently one candidate is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`ROUTER_MAX_RETRIES`, default 3).
    pub max_retries: u32,
    /// Backoff ceiling of the first retry; doubles per retry (`ROUTER_RETRY_BASE_MS`, 200).
    pub base: Duration,
    /// Largest backoff ceiling (`ROUTER_RETRY_MAX_BACKOFF_MS`, 10 000).
    pub max_backoff: Duration,
    /// Longest `Retry-After` we wait (`ROUTER_RETRY_AFTER_CAP_MS`, 30 000): a
    /// provider asking for more is retried after the cap (or the deadline stops it).
    pub retry_after_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            retry_after_cap: Duration::from_secs(30),
        }
    }
}

/// What the caller's classifier says about one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Not retryable (e.g. 400, 401, content filter): fail now.
    DoNotRetry,
    /// Retryable (connect error, timeout, 429, 5xx, overloaded), with the
    /// provider's `Retry-After` when it sent one.
    Retry { after: Option<Duration> },
}

impl RetryPolicy {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let policy = Self {
            max_retries: env.parse_or("ROUTER_MAX_RETRIES", d.max_retries)?,
            base: env.millis_or("ROUTER_RETRY_BASE_MS", d.base)?,
            max_backoff: env.millis_or("ROUTER_RETRY_MAX_BACKOFF_MS", d.max_backoff)?,
            retry_after_cap: env.millis_or("ROUTER_RETRY_AFTER_CAP_MS", d.retry_after_cap)?,
        };
        if policy.max_retries > 10 {
            return Err(ConfigError::new("ROUTER_MAX_RETRIES", "at most 10"));
        }
        Ok(policy)
    }

    /// The wait before retry number `retry_number` (1 for the first retry).
    /// With `Retry-After`, exactly that (capped); otherwise "full jitter": a
    /// uniform draw in `[0, min(max_backoff, base × 2^(n-1))]`, which spreads
    /// the retries of many callers instead of synchronising them.
    pub fn backoff<R: Rng + ?Sized>(
        &self,
        retry_number: u32,
        retry_after: Option<Duration>,
        rng: &mut R,
    ) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.retry_after_cap);
        }
        let factor = 2u32.saturating_pow(retry_number.saturating_sub(1));
        let ceiling = self.base.saturating_mul(factor).min(self.max_backoff);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

/// Runs `op` (given the attempt number, 0 for the first) until it succeeds, the
/// failure is not retryable, `policy.max_retries` retries were made, the retry
/// budget is spent, or the next retry could not start before `deadline`.
/// Returns the last error in the failure cases.
pub async fn run_with_retries<T, E, F, Fut, C>(
    policy: &RetryPolicy,
    budget: &RetryBudget,
    deadline: Option<Instant>,
    classify: C,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Fn(&E) -> RetryDecision,
{
    budget.record_request();
    let mut retries = 0u32;
    loop {
        let error = match op(retries).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if retries >= policy.max_retries {
            return Err(error);
        }
        let after = match classify(&error) {
            RetryDecision::DoNotRetry => return Err(error),
            RetryDecision::Retry { after } => after,
        };
        let wait = policy.backoff(retries + 1, after, &mut rand::rng());
        // Timers fire on millisecond ticks, so a retry planned just under the
        // deadline could start on it: keep one tick of margin.
        if let Some(deadline) = deadline
            && Instant::now() + wait + TIMER_TICK >= deadline
        {
            tracing::debug!(
                retry = retries + 1,
                wait_ms = wait.as_millis() as u64,
                "router.retry_skipped_deadline"
            );
            return Err(error);
        }
        if !budget.try_withdraw() {
            tracing::warn!(retry = retries + 1, "router.retry_budget_exhausted");
            metrics::counter!("llm_retry_budget_exhausted_total").increment(1);
            return Err(error);
        }
        tracing::debug!(
            retry = retries + 1,
            wait_ms = wait.as_millis() as u64,
            "router.retry_scheduled"
        );
        tokio::time::sleep(wait).await;
        retries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn full_jitter_stays_under_the_doubling_ceiling() {
        let policy = RetryPolicy::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in 1..=8u32 {
            let ceiling = (policy.base * 2u32.pow(n - 1)).min(policy.max_backoff);
            for _ in 0..200 {
                assert!(policy.backoff(n, None, &mut rng) <= ceiling);
            }
        }
    }

    #[test]
    fn retry_after_is_exact_and_capped() {
        let policy = RetryPolicy::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let two = Duration::from_secs(2);
        assert_eq!(policy.backoff(1, Some(two), &mut rng), two);
        let long = Duration::from_secs(600);
        assert_eq!(
            policy.backoff(1, Some(long), &mut rng),
            policy.retry_after_cap
        );
    }
}
