//! Retries with paused tokio time: counts, Retry-After, non-retryable, deadlines, budget.

use llm_router::resilience::{
    RetryBudget, RetryBudgetConfig, RetryDecision, RetryPolicy, run_with_retries,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fail {
    Status(u16, Option<u64>),
}

fn classify(e: &Fail) -> RetryDecision {
    match *e {
        Fail::Status(429 | 500..=599, after) => RetryDecision::Retry {
            after: after.map(Duration::from_secs),
        },
        Fail::Status(_, _) => RetryDecision::DoNotRetry,
    }
}

fn generous_budget() -> RetryBudget {
    RetryBudget::new(RetryBudgetConfig::default())
}

#[tokio::test(start_paused = true)]
async fn retries_at_most_three_times() {
    let attempts = AtomicU32::new(0);
    let result: Result<(), Fail> = run_with_retries(
        &RetryPolicy::default(),
        &generous_budget(),
        None,
        classify,
        |_| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(Fail::Status(503, None))
        },
    )
    .await;
    assert_eq!(result, Err(Fail::Status(503, None)));
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        4,
        "one attempt and three retries"
    );
}

#[tokio::test(start_paused = true)]
async fn succeeds_on_a_later_attempt_and_passes_the_attempt_number() {
    let seen = parking_lot::Mutex::new(Vec::new());
    let result = run_with_retries(
        &RetryPolicy::default(),
        &generous_budget(),
        None,
        classify,
        |n| {
            seen.lock().push(n);
            async move {
                if n < 2 {
                    Err(Fail::Status(500, None))
                } else {
                    Ok("answer")
                }
            }
        },
    )
    .await;
    assert_eq!(result, Ok("answer"));
    assert_eq!(*seen.lock(), vec![0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_400_is_not_retried() {
    let attempts = AtomicU32::new(0);
    let start = Instant::now();
    let result: Result<(), Fail> = run_with_retries(
        &RetryPolicy::default(),
        &generous_budget(),
        None,
        classify,
        |_| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(Fail::Status(400, None))
        },
    )
    .await;
    assert_eq!(result, Err(Fail::Status(400, None)));
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_2_waits_exactly_2_seconds() {
    let times = parking_lot::Mutex::new(Vec::new());
    let start = Instant::now();
    let result = run_with_retries(
        &RetryPolicy::default(),
        &generous_budget(),
        None,
        classify,
        |n| {
            times.lock().push(start.elapsed());
            async move {
                if n == 0 {
                    Err(Fail::Status(429, Some(2)))
                } else {
                    Ok(())
                }
            }
        },
    )
    .await;
    assert_eq!(result, Ok(()));
    assert_eq!(*times.lock(), vec![Duration::ZERO, Duration::from_secs(2)]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_cap_waits_the_cap() {
    let policy = RetryPolicy {
        retry_after_cap: Duration::from_secs(5),
        ..RetryPolicy::default()
    };
    let start = Instant::now();
    let mut second = None;
    let _ = run_with_retries(&policy, &generous_budget(), None, classify, |n| {
        if n == 1 {
            second = Some(start.elapsed());
        }
        async move {
            if n == 0 {
                Err(Fail::Status(429, Some(600)))
            } else {
                Ok(())
            }
        }
    })
    .await;
    assert_eq!(second, Some(Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn no_retry_starts_after_the_deadline() {
    let start = Instant::now();
    let deadline = start + Duration::from_millis(2_500);
    let times = parking_lot::Mutex::new(Vec::new());
    let result: Result<(), Fail> = run_with_retries(
        &RetryPolicy::default(),
        &generous_budget(),
        Some(deadline),
        classify,
        |_| {
            times.lock().push(start.elapsed());
            async { Err(Fail::Status(429, Some(1))) }
        },
    )
    .await;
    assert!(result.is_err());
    // Attempts at 0 s, 1 s, 2 s; a third retry would start at 3 s > 2.5 s.
    assert_eq!(
        *times.lock(),
        vec![
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(2)
        ]
    );
    // It gave up at once rather than sleeping towards the deadline.
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn jittered_backoff_never_passes_the_deadline() {
    for _ in 0..50 {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(300);
        let last = parking_lot::Mutex::new(Duration::ZERO);
        let _: Result<(), Fail> = run_with_retries(
            &RetryPolicy::default(),
            &generous_budget(),
            Some(deadline),
            classify,
            |_| {
                *last.lock() = start.elapsed();
                async { Err(Fail::Status(503, None)) }
            },
        )
        .await;
        assert!(*last.lock() < Duration::from_millis(300));
        assert!(start.elapsed() < Duration::from_millis(300));
    }
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_retry_budget_stops_retries() {
    let budget = RetryBudget::new(RetryBudgetConfig {
        window: Duration::from_secs(10),
        ratio_bp: 2_000, // 20%
        min_per_sec: 0,
    });
    let attempts = AtomicU32::new(0);
    // 10 failing calls: 10 requests allow 2 retries in the window, not 30.
    for _ in 0..10 {
        let _: Result<(), Fail> = run_with_retries(
            &RetryPolicy::default(),
            &budget,
            None,
            classify,
            |_| async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err(Fail::Status(503, None))
            },
        )
        .await;
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 12);
}
