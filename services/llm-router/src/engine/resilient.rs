//! Retries and the per-provider circuit breaker around each candidate. The
//! breaker's permit covers the whole candidate, but every failed attempt
//! (retries included) counts against the provider as it happens, and a retry
//! is sent only while the breaker still admits it; a stream keeps its permit
//! until it ends.

use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;

use super::Engine;
use llm_providers::{ErrorKind, ProviderError};

use super::observe;
use crate::clock;
use crate::resilience::{
    AttemptError, BreakerConfig, BreakerPermit, Breakers, CircuitBreaker, RetryBudgetConfig,
    RetryBudgets, RetryDecision, RetryPolicy, RetryRules, run_guarded,
};
use crate::routing::Candidate;

/// The retry policy, the per-provider retry budgets and circuit breakers.
pub struct Resilience {
    pub policy: RetryPolicy,
    pub retry_budgets: RetryBudgets,
    pub breakers: Arc<Breakers>,
}

impl Resilience {
    pub fn new(policy: RetryPolicy, retry_budgets: RetryBudgets, breakers: Arc<Breakers>) -> Self {
        Resilience {
            policy,
            retry_budgets,
            breakers,
        }
    }
}

impl Default for Resilience {
    /// The documented defaults, on the system clock.
    fn default() -> Self {
        Resilience::new(
            RetryPolicy::default(),
            RetryBudgets::new(RetryBudgetConfig::default()),
            Arc::new(Breakers::new(BreakerConfig::default(), clock::system())),
        )
    }
}

/// A candidate's breaker permit, given back once the call's outcome is known.
pub struct Held {
    breaker: CircuitBreaker,
    permit: BreakerPermit,
}

impl Held {
    pub fn succeeded(self) {
        self.breaker.record_success(self.permit);
    }

    /// A failure of the provider counts against its breaker; the request's
    /// own fault (a 400, a prompt too long, a content filter) shows the
    /// provider is up.
    pub fn failed(self, error: &ProviderError) {
        if error.kind().is_callers_fault() {
            self.breaker.record_success(self.permit);
        } else {
            self.breaker
                .record_failure(self.permit, error.kind().reason());
        }
    }
}

impl AttemptError for ProviderError {
    fn provider_failure(&self) -> Option<&'static str> {
        (!self.kind().is_callers_fault()).then(|| self.kind().reason())
    }

    fn retry_decision(&self) -> RetryDecision {
        if self.is_retryable() {
            RetryDecision::Retry {
                after: self.retry_after(),
            }
        } else {
            RetryDecision::DoNotRetry
        }
    }

    fn breaker_opened() -> Self {
        ProviderError::new(
            ErrorKind::CircuitOpen,
            "circuit breaker opened during the retry backoff",
        )
    }
}

impl Engine {
    /// Calls `candidate` with `op` through its circuit breaker, retrying
    /// retryable failures until `deadline` (see `resilience::guarded`: every
    /// failed attempt counts against the provider, a retry goes out only while
    /// the breaker admits it); `attempts` counts the provider calls made. On
    /// success the permit is handed back, to be given back when the call ends.
    /// An open breaker fails at once with [`ErrorKind::CircuitOpen`].
    /// `fallback` is the candidate's place in the call's order (0: the first
    /// choice), for the log lines that tell where the call went.
    pub(super) async fn call_candidate<T, F, Fut>(
        &self,
        candidate: &Candidate,
        fallback: usize,
        deadline: Instant,
        attempts: &mut u32,
        mut op: F,
    ) -> Result<(T, Held), ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let breaker = self.resilience.breakers.get(&candidate.provider);
        let permit = match breaker.try_acquire() {
            Ok(permit) => permit,
            Err(open) => {
                metrics::counter!("llm_provider_breaker_rejections_total", "provider" => candidate.provider.to_string())
                    .increment(1);
                let error = ProviderError::new(ErrorKind::CircuitOpen, open.to_string());
                observe::candidate_failed(candidate, fallback, &error);
                return Err(error);
            }
        };
        observe::routed(candidate, fallback, *attempts + 1);
        let retry_budget = self
            .resilience
            .retry_budgets
            .for_provider(&candidate.provider);
        let rules = RetryRules {
            policy: &self.resilience.policy,
            budget: &retry_budget,
            deadline: Some(deadline),
        };
        let result = run_guarded(&breaker, permit, rules, |retry| {
            *attempts += 1;
            if retry > 0 {
                metrics::counter!("llm_provider_retries_total", "provider" => candidate.provider.to_string())
                    .increment(1);
                tracing::info!(provider = %candidate.provider, model = %candidate.model, retry, "router.retry");
            }
            op()
        })
        .await;
        match result {
            Ok((value, permit)) => Ok((value, Held { breaker, permit })),
            Err(error) => {
                if error.kind().falls_over() {
                    observe::candidate_failed(candidate, fallback, &error);
                }
                Err(error)
            }
        }
    }
}
