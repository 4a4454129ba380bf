//! Provider circuit breakers with a manual clock.

use super::support::utc;
use llm_router::clock::{Clock, ManualClock};
use llm_router::resilience::{BreakerConfig, BreakerState, Breakers, CircuitBreaker};
use std::sync::Arc;
use std::time::Duration;

fn setup() -> (CircuitBreaker, Arc<ManualClock>) {
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let breaker = CircuitBreaker::new("azure", BreakerConfig::default(), clock.clone());
    (breaker, clock)
}

fn fail(b: &CircuitBreaker, n: u32) {
    for _ in 0..n {
        let permit = b.try_acquire().expect("closed");
        b.record_failure(permit, "http 503");
    }
}

#[tokio::test]
async fn opens_on_exactly_the_fifth_consecutive_failure() {
    let (b, clock) = setup();
    fail(&b, 4);
    assert_eq!(b.snapshot().state, BreakerState::Closed);
    assert_eq!(b.snapshot().consecutive_failures, 4);
    fail(&b, 1);
    let snap = b.snapshot();
    assert_eq!(snap.state, BreakerState::Open);
    assert_eq!(snap.consecutive_failures, 5);
    assert_eq!(snap.last_error.as_deref(), Some("http 503"));
    assert_eq!(snap.last_failure_at, Some(clock.now()));
    let refused = b.try_acquire().unwrap_err();
    assert_eq!(
        refused.retry_at,
        Some(clock.now() + chrono::Duration::seconds(60))
    );
    assert_eq!(snap.retry_at, refused.retry_at);
}

#[tokio::test]
async fn a_success_resets_the_count() {
    let (b, _) = setup();
    fail(&b, 4);
    let p = b.try_acquire().unwrap();
    b.record_success(p);
    fail(&b, 4);
    assert_eq!(b.snapshot().state, BreakerState::Closed);
    assert_eq!(b.snapshot().consecutive_failures, 4);
}

#[tokio::test]
async fn half_open_lets_exactly_one_probe_through_and_success_closes() {
    let (b, clock) = setup();
    fail(&b, 5);
    clock.advance(Duration::from_secs(59));
    assert!(b.try_acquire().is_err(), "still open at 59 s");
    clock.advance(Duration::from_secs(1));
    let probe = b.try_acquire().expect("the probe");
    assert!(probe.is_probe());
    assert_eq!(b.snapshot().state, BreakerState::HalfOpen);
    for _ in 0..10 {
        let refused = b.try_acquire().unwrap_err();
        assert_eq!(refused.retry_at, None, "probe in flight");
    }
    b.record_success(probe);
    let snap = b.snapshot();
    assert_eq!(snap.state, BreakerState::Closed);
    assert_eq!(snap.consecutive_failures, 0);
    assert!(b.try_acquire().is_ok());
}

#[tokio::test]
async fn concurrent_acquirers_in_half_open_get_one_probe() {
    let (b, clock) = setup();
    fail(&b, 5);
    clock.advance(Duration::from_secs(60));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move { b.try_acquire().ok() }));
    }
    let mut permits = Vec::new();
    for t in tasks {
        if let Some(p) = t.await.unwrap() {
            permits.push(p);
        }
    }
    assert_eq!(permits.len(), 1);
    assert!(permits[0].is_probe());
}

#[tokio::test]
async fn a_failed_probe_reopens_for_twice_as_long_up_to_the_cap() {
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let config = BreakerConfig {
        failure_threshold: 5,
        open_for: Duration::from_secs(60),
        max_open_for: Duration::from_secs(200),
    };
    let b = CircuitBreaker::new("anthropic", config, clock.clone());
    fail(&b, 5);
    for expected in [120u64, 200, 200] {
        let previous_open = b.snapshot().retry_at.unwrap();
        clock.set(previous_open);
        let probe = b.try_acquire().expect("probe");
        b.record_failure(probe, "timeout");
        let snap = b.snapshot();
        assert_eq!(snap.state, BreakerState::Open);
        assert_eq!(
            snap.retry_at,
            Some(clock.now() + chrono::Duration::seconds(expected as i64))
        );
    }
    // After a success the open time starts again from 60 s.
    clock.set(b.snapshot().retry_at.unwrap());
    let probe = b.try_acquire().unwrap();
    b.record_success(probe);
    fail(&b, 5);
    assert_eq!(
        b.snapshot().retry_at,
        Some(clock.now() + chrono::Duration::seconds(60))
    );
}

#[tokio::test]
async fn a_dropped_probe_counts_as_a_failure() {
    let (b, clock) = setup();
    fail(&b, 5);
    clock.advance(Duration::from_secs(60));
    drop(b.try_acquire().expect("probe"));
    let snap = b.snapshot();
    assert_eq!(snap.state, BreakerState::Open, "not wedged in half-open");
    assert_eq!(snap.last_error.as_deref(), Some("probe abandoned"));
}

#[tokio::test]
async fn a_dropped_ordinary_permit_is_neutral() {
    let (b, _) = setup();
    fail(&b, 4);
    drop(b.try_acquire().unwrap());
    assert_eq!(b.snapshot().consecutive_failures, 4);
    assert_eq!(b.snapshot().state, BreakerState::Closed);
}

#[tokio::test]
async fn results_of_permits_from_before_a_transition_do_not_move_the_state() {
    let (b, clock) = setup();
    let mut in_flight: Vec<_> = (0..10).map(|_| b.try_acquire().unwrap()).collect();
    let late_failures = in_flight.split_off(5);
    fail(&b, 5);
    assert_eq!(b.snapshot().state, BreakerState::Open);
    // Late successes of old calls do not close it without a probe.
    for p in in_flight {
        b.record_success(p);
    }
    assert_eq!(b.snapshot().state, BreakerState::Open);
    clock.advance(Duration::from_secs(60));
    let probe = b.try_acquire().unwrap();
    // Late failures of old calls do not re-open the half-open breaker.
    for p in late_failures {
        b.record_failure(p, "late");
    }
    assert_eq!(b.snapshot().state, BreakerState::HalfOpen);
    b.record_success(probe);
    assert_eq!(b.snapshot().state, BreakerState::Closed);
}

#[tokio::test]
async fn snapshot_reports_the_median_recent_latency() {
    let (b, _) = setup();
    assert_eq!(b.snapshot().recent_latency, None);
    let p = b.try_acquire().unwrap();
    b.record_success(p);
    assert!(b.snapshot().recent_latency.is_some());
}

#[tokio::test]
async fn breakers_are_per_provider() {
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let breakers = Breakers::new(BreakerConfig::default(), clock);
    fail(&breakers.get("azure"), 5);
    assert_eq!(breakers.get("azure").snapshot().state, BreakerState::Open);
    assert_eq!(
        breakers.get("anthropic").snapshot().state,
        BreakerState::Closed
    );
    let names: Vec<_> = breakers
        .snapshots()
        .into_iter()
        .map(|s| s.provider)
        .collect();
    assert_eq!(names, vec!["anthropic", "azure"]);
}
