//! Resilience around each provider call: retries with backoff under a retry
//! budget, and per-provider circuit breakers.
//!
//! The engine wraps each candidate as `breaker.try_acquire()` →
//! `run_guarded(...)` (retries under the retry budget, every failed attempt
//! counted against the breaker, no retry once it opened) → on success the
//! permit is given back when the call ends.

pub mod breaker;
pub mod guarded;
pub mod retry;
pub mod retry_budget;

pub use breaker::{
    BreakerConfig, BreakerOpen, BreakerPermit, BreakerSnapshot, BreakerState, Breakers,
    CircuitBreaker,
};
pub use guarded::{AttemptError, RetryRules, run_guarded};
pub use retry::{RetryDecision, RetryPolicy, run_with_retries};
pub use retry_budget::{RetryBudget, RetryBudgetConfig, RetryBudgets};
