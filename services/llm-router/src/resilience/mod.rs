//! Resilience around each provider call: retries with backoff under a retry
//! budget, and per-provider circuit breakers.
//!
//! The engine wraps each candidate as
//! `breaker.try_acquire()` → `run_with_retries(...)` → `record_success/record_failure`,
//! so a candidate whose retries are exhausted counts one breaker failure.

pub mod breaker;
pub mod retry;
pub mod retry_budget;

pub use breaker::{
    BreakerConfig, BreakerOpen, BreakerPermit, BreakerSnapshot, BreakerState, Breakers,
    CircuitBreaker,
};
pub use retry::{RetryDecision, RetryPolicy, run_with_retries};
pub use retry_budget::{RetryBudget, RetryBudgetConfig, RetryBudgets};
