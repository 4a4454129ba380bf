//! No false refusals with slices: three replicas sharing a small budget in
//! Redis, each admitting from its slice, and 300 concurrent callers whose
//! calls always fit (limit − spent − reserved by calls in flight ≥ the
//! call's worst case). Idle slices hold budget on every replica, so a call
//! that finds the store full reclaims them before it is refused: nobody is
//! refused, and spend + reservations never exceed the limit.

use super::support::{FakeLedger, breaker, redis, redis_store, usd, utc};
use llm_router::budget::{BudgetConfig, watch_reclaims};
use llm_router::money::Micros;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const CALLERS: usize = 300;
const CALLS_EACH: usize = 2;
/// Every call's worst case; it costs a tenth of it.
const WORST: Micros = Micros(1_000_000);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_slices_are_reclaimed_before_a_call_is_refused() {
    // 300 worst cases in flight at once plus all the spend take at most 97%
    // of the limit; three replicas' slices (5% each) would take the rest and more.
    let config = BudgetConfig {
        limit: usd("340"),
        store_timeout: Duration::from_secs(2),
        slice: usd("17"),
        ..BudgetConfig::default()
    };
    let limit = config.limit;
    let prefix = test_support::unique_prefix("reclaim");
    let _cleanup = super::support::Cleanup(prefix.clone());
    let clock = llm_router::clock::ManualClock::new(utc("2026-11-15T08:00:00Z"));
    let ledger = FakeLedger::new();
    let cancel = CancellationToken::new();
    let mut handles = Vec::new();
    let mut replicas = Vec::new();
    let mut watchers = Vec::new();
    for _ in 0..3 {
        let handle = redis(config.store_timeout).await;
        let replica = breaker(
            &config,
            redis_store(&handle, &prefix, &config),
            ledger.clone(),
            clock.clone(),
        );
        watchers.push(tokio::spawn(watch_reclaims(
            replica.clone(),
            cancel.clone(),
        )));
        replicas.push(replica);
        handles.push(handle);
    }
    let watcher_handle = redis(config.store_timeout).await;
    let watcher_store = redis_store(&watcher_handle, &prefix, &config);
    let period = replicas[0].current_period();
    replicas[0].status().await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let over = tokio::spawn({
        let (stop, clock) = (stop.clone(), clock.clone());
        async move {
            use llm_router::clock::Clock;
            while !stop.load(Ordering::SeqCst) {
                if let Some(s) = watcher_store.snapshot(&period, clock.now()).await.unwrap() {
                    assert!(s.spent + s.reserved <= limit, "over budget: {s:?}");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });

    let in_flight = Arc::new(AtomicI64::new(0));
    let spent = Arc::new(AtomicI64::new(0));
    let from_slices = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for c in 0..CALLERS {
        let replica = replicas[c % 3].clone();
        let (in_flight, spent, from_slices) =
            (in_flight.clone(), spent.clone(), from_slices.clone());
        callers.push(tokio::spawn(async move {
            for i in 0..CALLS_EACH {
                let id = format!("caller-{c}-call-{i}");
                // By construction the call fits whatever else is in flight.
                let (now_spent, now_in_flight) = (
                    spent.load(Ordering::SeqCst),
                    in_flight.load(Ordering::SeqCst),
                );
                assert!(limit.0 - now_spent - now_in_flight >= WORST.0);
                let admission = match replica.admit(&id, WORST, false).await {
                    Ok(admission) => admission,
                    Err(e) => panic!("{id} refused although it fitted: {e}"),
                };
                in_flight.fetch_add(WORST.0, Ordering::SeqCst);
                if admission.slice.is_some() {
                    from_slices.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                let actual = Micros(WORST.0 / 10);
                admission.settle(actual).await.unwrap();
                spent.fetch_add(actual.0, Ordering::SeqCst);
                in_flight.fetch_sub(WORST.0, Ordering::SeqCst);
            }
        }));
    }
    for c in callers {
        c.await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    over.await.unwrap();
    cancel.cancel();
    for w in watchers {
        w.await.unwrap();
    }
    for r in &replicas {
        r.return_slice().await;
    }
    let status = replicas[2].status().await.unwrap();
    assert_eq!(status.reserved, Micros::ZERO, "no reservation leaked");
    assert_eq!(status.spent, Micros(spent.load(Ordering::SeqCst)));
    assert!(
        from_slices.load(Ordering::SeqCst) > 0,
        "calls were admitted from slices"
    );
}
