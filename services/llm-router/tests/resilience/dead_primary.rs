//! A dead primary under the manual's flow (3 retries with backoff, breaker at
//! 5 failures, 60 s open, one half-open probe), with paused tokio time and a
//! manual clock: every failed attempt counts against the provider, so over
//! the first 100 requests at concurrency 4 the primary gets at most 0.1
//! calls per request, and retries waiting in their backoff when the breaker
//! opens are never sent.

use super::support::utc;
use llm_router::clock::ManualClock;
use llm_router::resilience::{
    AttemptError, BreakerConfig, BreakerState, CircuitBreaker, RetryBudget, RetryBudgetConfig,
    RetryDecision, RetryPolicy, RetryRules, run_guarded,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// A 503: the provider is down, worth retrying.
    Unavailable,
    /// A 400: the caller's own mistake, the provider is up.
    BadRequest,
    BreakerOpened,
}

impl AttemptError for Failure {
    fn provider_failure(&self) -> Option<&'static str> {
        match self {
            Failure::BadRequest => None,
            Failure::Unavailable => Some("server_error"),
            Failure::BreakerOpened => Some("circuit_open"),
        }
    }

    fn retry_decision(&self) -> RetryDecision {
        match self {
            Failure::Unavailable => RetryDecision::Retry { after: None },
            _ => RetryDecision::DoNotRetry,
        }
    }

    fn breaker_opened() -> Self {
        Failure::BreakerOpened
    }
}

struct Primary {
    breaker: CircuitBreaker,
    policy: RetryPolicy,
    budget: RetryBudget,
    calls: AtomicU32,
    answer: Failure,
}

impl Primary {
    fn new(answer: Failure) -> (Arc<Primary>, Arc<ManualClock>) {
        let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
        let primary = Arc::new(Primary {
            breaker: CircuitBreaker::new("azure", BreakerConfig::default(), clock.clone()),
            policy: RetryPolicy::default(),
            budget: RetryBudget::new(RetryBudgetConfig::default()),
            calls: AtomicU32::new(0),
            answer,
        });
        (primary, clock)
    }

    /// One request's try at the primary (the fallback answers otherwise).
    async fn request(&self) {
        let Ok(permit) = self.breaker.try_acquire() else {
            return;
        };
        let rules = RetryRules {
            policy: &self.policy,
            budget: &self.budget,
            deadline: None,
        };
        let result: Result<((), _), Failure> =
            run_guarded(&self.breaker, permit, rules, |_| async {
                self.calls.fetch_add(1, Ordering::SeqCst);
                // A dead provider still takes a moment to refuse.
                tokio::time::sleep(Duration::from_millis(5)).await;
                Err(self.answer)
            })
            .await;
        assert!(result.is_err());
    }

    /// `total` requests, `concurrency` at a time.
    async fn load(self: &Arc<Self>, total: usize, concurrency: usize) {
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (primary, next) = (self.clone(), next.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::SeqCst) < total {
                        primary.request().await;
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_dead_primary_gets_at_most_a_tenth_of_a_call_per_request() {
    let (primary, _clock) = Primary::new(Failure::Unavailable);
    primary.load(100, 4).await;
    let calls = primary.calls.load(Ordering::SeqCst);
    // Four first attempts fail together; the first retry to go out is the
    // fifth failure and opens the breaker; the other three retries are not
    // sent. Retries that overlap the fifth failure's 5 ms could add a few.
    assert!(
        (5..=10).contains(&calls),
        "{calls} calls to the dead primary"
    );
    assert_eq!(primary.breaker.snapshot().state, BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn after_60_s_one_probe_goes_out_and_is_not_retried() {
    let (primary, clock) = Primary::new(Failure::Unavailable);
    primary.load(100, 4).await;
    let before = primary.calls.load(Ordering::SeqCst);
    clock.advance(Duration::from_secs(59));
    primary.load(20, 4).await;
    assert_eq!(primary.calls.load(Ordering::SeqCst), before, "still open");
    clock.advance(Duration::from_secs(1));
    primary.load(20, 4).await;
    assert_eq!(
        primary.calls.load(Ordering::SeqCst),
        before + 1,
        "exactly one probe, no retry of it"
    );
    let snap = primary.breaker.snapshot();
    assert_eq!(snap.state, BreakerState::Open);
    assert_eq!(
        snap.retry_at,
        Some(utc("2026-11-10T12:01:00Z") + chrono::Duration::seconds(120)),
        "re-opened for twice as long"
    );
}

#[tokio::test(start_paused = true)]
async fn one_request_retries_three_times_then_the_next_opens_the_breaker() {
    let (primary, _clock) = Primary::new(Failure::Unavailable);
    primary.request().await;
    assert_eq!(
        primary.calls.load(Ordering::SeqCst),
        4,
        "the manual's 4 attempts"
    );
    assert_eq!(primary.breaker.snapshot().consecutive_failures, 4);
    assert_eq!(primary.breaker.snapshot().state, BreakerState::Closed);
    primary.request().await;
    assert_eq!(
        primary.calls.load(Ordering::SeqCst),
        5,
        "its first attempt is the fifth failure: no retry follows"
    );
    assert_eq!(primary.breaker.snapshot().state, BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn the_callers_own_mistakes_never_count_against_the_provider() {
    let (primary, _clock) = Primary::new(Failure::BadRequest);
    primary.load(100, 4).await;
    assert_eq!(
        primary.calls.load(Ordering::SeqCst),
        100,
        "one call each, never retried"
    );
    let snap = primary.breaker.snapshot();
    assert_eq!(
        (snap.state, snap.consecutive_failures),
        (BreakerState::Closed, 0)
    );
}
