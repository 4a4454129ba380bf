//! A test-owned redis-server stopped, frozen and restarted: the budget check
//! fails closed in bounded time, readiness follows, totals stay exact.

use super::support::{FakeLedger, OwnedRedis, breaker, record, usd, utc};
use llm_router::budget::{
    BudgetConfig, BudgetError, Readiness, RedisBudgetStore, StoreTtls, watch_readiness,
};
use llm_router::clock::{Clock, ManualClock};
use llm_router::money::Micros;
use llm_router::redis::connect;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Recorded(Mutex<Vec<bool>>);

#[async_trait::async_trait]
impl Readiness for Recorded {
    async fn set_ready(&self, ready: bool) {
        self.0.lock().push(ready);
    }
}

impl Recorded {
    fn last(&self) -> Option<bool> {
        self.0.lock().last().copied()
    }

    async fn wait_for(&self, ready: bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while self.last() != Some(ready) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "readiness never became {ready}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn config() -> BudgetConfig {
    BudgetConfig {
        limit: usd("100"),
        store_timeout: Duration::from_millis(200),
        ..BudgetConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_and_comes_back_with_exact_totals() {
    let config = config();
    let mut server = OwnedRedis::start().await;
    let handle = connect(&server.url(), config.store_timeout, Duration::from_secs(5))
        .await
        .unwrap();
    let store = Arc::new(RedisBudgetStore::new(
        handle.client.clone(),
        "outage:",
        StoreTtls::for_reservation_ttl(config.reservation_ttl),
        config.store_timeout,
    ));
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let ledger = FakeLedger::new();
    let b = breaker(&config, store, ledger.clone(), clock.clone());
    let readiness = Arc::new(Recorded::default());
    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(watch_readiness(
        b.clone(),
        readiness.clone(),
        Duration::from_millis(50),
        cancel.clone(),
    ));
    readiness.wait_for(true).await;

    for i in 0..10 {
        let id = format!("before-{i}");
        b.admit(&id, usd("2"), false)
            .await
            .unwrap()
            .settle(usd("1"))
            .await
            .unwrap();
        ledger.insert(record(&id, usd("1"), clock.now()));
    }
    let in_flight = b.admit("in-flight", usd("2"), false).await.unwrap();

    server.stop().await;
    let err = tokio::time::timeout(Duration::from_secs(5), b.admit("during", usd("1"), false))
        .await
        .expect("the budget check returns instead of hanging")
        .unwrap_err();
    assert!(matches!(err, BudgetError::Unavailable(_)), "{err:?}");
    assert_eq!(err.code().grpc_code(), tonic::Code::Unavailable);
    assert!(
        err.to_string().contains("redis") || err.to_string().contains("answer"),
        "{err}"
    );
    readiness.wait_for(false).await;
    assert!(!b.is_healthy());

    // The call in flight ends during the outage: its settle waits in memory,
    // its usage record reaches the ledger (delivery does not need Redis).
    assert!(in_flight.settle(usd("1.5")).await.is_err());
    assert_eq!(
        b.pending_settles(),
        2,
        "this settle and the clean-up of the failed reserve"
    );
    ledger.insert(record("in-flight", usd("1.5"), clock.now()));

    server.restart().await; // empty: no persistence
    readiness.wait_for(true).await;
    let a = b.admit("after", usd("1"), false).await.unwrap();
    a.settle(usd("1")).await.unwrap();
    ledger.insert(record("after", usd("1"), clock.now()));
    assert_eq!(b.flush_pending().await, 0);

    let status = b.status().await.unwrap();
    assert_eq!(
        status.spent,
        usd("12.5"),
        "10 + 1.5 + 1, nothing counted twice"
    );
    assert_eq!(status.spent, ledger.total());
    assert_eq!(status.reserved, Micros::ZERO);
    assert_eq!(*readiness.0.lock(), vec![true, false, true]);
    cancel.cancel();
    watcher.await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_times_out_and_a_settle_is_applied_once_after() {
    let config = config();
    let mut server = OwnedRedis::start().await;
    let handle = connect(&server.url(), config.store_timeout, Duration::from_secs(5))
        .await
        .unwrap();
    let store = Arc::new(RedisBudgetStore::new(
        handle.client.clone(),
        "frozen:",
        StoreTtls::for_reservation_ttl(config.reservation_ttl),
        config.store_timeout,
    ));
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let ledger = FakeLedger::new();
    let b = breaker(&config, store, ledger.clone(), clock.clone());
    b.admit("warm", usd("1"), false)
        .await
        .unwrap()
        .settle(usd("1"))
        .await
        .unwrap();
    let in_flight = b.admit("in-flight", usd("5"), false).await.unwrap();

    server.freeze();
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(5), b.admit("slow", usd("1"), false))
        .await
        .expect("returns")
        .unwrap_err();
    assert!(
        matches!(err, BudgetError::Unavailable(ref m) if m.contains("timed out") || m.contains("answer")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The settle may or may not have reached the frozen server: either way it
    // is applied exactly once (queued, then idempotent by call id).
    let _ = in_flight.settle(usd("4")).await;
    server.thaw();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if b.check_store().await && b.pending_settles() == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = b.status().await.unwrap();
    assert_eq!(status.spent, usd("5"), "1 + 4, once");
    assert_eq!(status.reserved, Micros::ZERO);
    server.stop().await;
}
