//! One provider candidate under its circuit breaker and retry policy.
//!
//! Every failed attempt, retries included, counts against the provider's
//! breaker as it happens, and a retry is sent only while the breaker still
//! admits the candidate. With one breaker failure per exhausted candidate
//! (the old rule) a dead primary took `threshold × (1 + max_retries)` calls
//! and more under concurrency before it opened (32 calls over the first 100
//! requests at concurrency 4); counting attempts opens it after
//! `threshold` calls, and the retries that were waiting in their backoff
//! are not sent at all.
//!
//! Generic over the error type so tests can drive it with their own errors.

use super::breaker::{BreakerPermit, CircuitBreaker};
use super::retry::{RetryDecision, RetryPolicy, run_with_retries};
use super::retry_budget::RetryBudget;
use std::future::Future;
use tokio::time::Instant;

/// How a failed attempt reads to the breaker and the retry policy.
pub trait AttemptError {
    /// `Some(reason)` when the failure shows the provider unhealthy; `None`
    /// for the caller's own mistakes (a 400: the provider is up).
    fn provider_failure(&self) -> Option<&'static str>;
    /// Whether the same request may succeed if sent again.
    fn retry_decision(&self) -> RetryDecision;
    /// What a retry returns instead of being sent when the breaker opened
    /// during its backoff.
    fn breaker_opened() -> Self;
}

/// The retry side of a guarded call.
pub struct RetryRules<'a> {
    pub policy: &'a RetryPolicy,
    pub budget: &'a RetryBudget,
    pub deadline: Option<Instant>,
}

/// Runs `op(retry)` (retry 0 is the first attempt) under `permit` of
/// `breaker` until it succeeds or may not retry. On success the permit comes
/// back with the value, to be given back when the call ends (a stream holds
/// it); on failure it has been given back already.
pub async fn run_guarded<T, E, F, Fut>(
    breaker: &CircuitBreaker,
    permit: BreakerPermit,
    rules: RetryRules<'_>,
    mut op: F,
) -> Result<(T, BreakerPermit), E>
where
    E: AttemptError,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let held = &permit;
    let result = run_with_retries(
        rules.policy,
        rules.budget,
        rules.deadline,
        |error: &E| {
            if breaker.admits_retry(held) {
                error.retry_decision()
            } else {
                RetryDecision::DoNotRetry
            }
        },
        |retry| {
            // Another call may have opened the breaker during the backoff.
            let call = (retry == 0 || breaker.admits_retry(held)).then(|| op(retry));
            async move {
                let Some(call) = call else {
                    return Err(E::breaker_opened());
                };
                let result = call.await;
                if let Err(error) = &result
                    && let Some(reason) = error.provider_failure()
                {
                    breaker.record_failed_attempt(held, reason);
                }
                result
            }
        },
    )
    .await;
    match result {
        Ok(value) => Ok((value, permit)),
        Err(error) => {
            match error.provider_failure() {
                // Each failed attempt was counted when it happened.
                Some(_) => breaker.release(permit),
                None => breaker.record_success(permit),
            }
            Err(error)
        }
    }
}
