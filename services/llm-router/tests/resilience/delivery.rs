//! Usage delivery against a ledger that fails for a while: every record ends
//! up in the ledger exactly once, through either outbox.

use super::support::{FakeLedger, record, usd, utc};
use llm_router::delivery::{
    DeliveryConfig, Outbox, RedisStreamOutbox, SqliteOutbox, UsageDelivery, UsageRecord,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn config() -> DeliveryConfig {
    DeliveryConfig {
        redeliver_min: Duration::from_millis(20),
        redeliver_max: Duration::from_millis(200),
        idle_poll: Duration::from_millis(50),
        sink_timeout: Duration::from_millis(500),
        ..DeliveryConfig::default()
    }
}

fn rec(i: usize) -> UsageRecord {
    record(
        &format!("req-{i}"),
        usd("0.0015"),
        utc("2026-11-10T12:00:00Z"),
    )
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub enum Kind {
    Redis,
    /// A Redis Cluster of the test's own.
    RedisCluster,
    Sqlite,
}

pub async fn outbox(kind: Kind) -> (Arc<dyn Outbox>, Box<dyn std::any::Any + Send>) {
    match kind {
        Kind::Redis => {
            let handle = super::support::redis(Duration::from_millis(500)).await;
            let prefix = test_support::unique_prefix("delivery");
            let outbox =
                RedisStreamOutbox::new(handle.client.clone(), &prefix, Duration::from_millis(500));
            let cleanup = super::support::Cleanup(prefix);
            (Arc::new(outbox), Box::new((cleanup, handle)))
        }
        Kind::RedisCluster => {
            let (handle, cluster) = super::support::redis_cluster(Duration::from_millis(500))
                .await
                .expect("redis-server");
            let outbox =
                RedisStreamOutbox::new(handle.client.clone(), "fe:", Duration::from_millis(500));
            (Arc::new(outbox), Box::new((handle, cluster)))
        }
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let outbox = SqliteOutbox::open(&dir.path().join("outbox.db"))
                .await
                .unwrap();
            (Arc::new(outbox), Box::new(dir))
        }
    }
}

async fn a_ledger_outage_loses_nothing_and_counts_nothing_twice(kind: Kind) {
    const N: usize = 600;
    let (outbox, _guard) = outbox(kind).await;
    let ledger = FakeLedger::new();
    let delivery = UsageDelivery::start(ledger.clone(), outbox.clone(), config()).await;
    // Up, then down mid-stream, then up again.
    let mut producers = Vec::new();
    for p in 0..20 {
        let delivery = delivery.clone();
        producers.push(tokio::spawn(async move {
            for i in (p..N).step_by(20) {
                delivery.submit(rec(i)).await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    ledger.set_down(true);
    wait_until("records in the outbox", || delivery.outbox_depth() > 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ledger.set_down(false);
    for p in producers {
        p.await.unwrap();
    }
    wait_until("every record in the ledger", || ledger.count() == N).await;
    wait_until("an empty outbox", || delivery.outbox_depth() == 0).await;
    assert_eq!(
        ledger.created.load(Ordering::SeqCst),
        N as u64,
        "each record created once"
    );
    for i in 0..N {
        assert_eq!(
            ledger.records.lock().get(&format!("req-{i}")),
            Some(&rec(i))
        );
    }
    assert_eq!(outbox.depth().await.unwrap(), 0);
    assert_eq!(outbox.rejected_count().await.unwrap(), 0);
    delivery.shutdown().await;
}

async fn a_rejected_record_is_moved_aside_not_retried(kind: Kind) {
    let (outbox, _guard) = outbox(kind).await;
    let ledger = FakeLedger::new();
    let mut other = rec(1);
    other.cost = usd("9");
    ledger.insert(other.clone());
    let delivery = UsageDelivery::start(ledger.clone(), outbox.clone(), config()).await;
    delivery.submit(rec(1)).await; // conflicts with what the ledger has
    delivery.submit(rec(2)).await;
    wait_until("the good record", || ledger.count() == 2).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while outbox.rejected_count().await.unwrap() != 1 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        ledger.records.lock().get("req-1"),
        Some(&other),
        "never overwritten"
    );
    assert_eq!(outbox.depth().await.unwrap(), 0);
    delivery.shutdown().await;
}

async fn shutdown_flushes_to_the_outbox_and_a_restart_delivers(kind: Kind) {
    let (outbox, _guard) = outbox(kind).await;
    let ledger = FakeLedger::new();
    ledger.set_down(true);
    let delivery = UsageDelivery::start(ledger.clone(), outbox.clone(), config()).await;
    for i in 0..150 {
        delivery.submit(rec(i)).await;
    }
    delivery.shutdown().await;
    // Submitted after shutdown: straight to the outbox.
    delivery.submit(rec(150)).await;
    assert_eq!(outbox.depth().await.unwrap(), 151);
    assert_eq!(ledger.count(), 0);

    ledger.set_down(false);
    let restarted = UsageDelivery::start(ledger.clone(), outbox.clone(), config()).await;
    assert_eq!(restarted.outbox_depth(), 151);
    wait_until("redelivery after restart", || ledger.count() == 151).await;
    wait_until("an empty outbox", || restarted.outbox_depth() == 0).await;
    assert_eq!(ledger.created.load(Ordering::SeqCst), 151);
    restarted.shutdown().await;
}

async fn a_bounded_outbox_reports_full(kind: Kind) {
    let (outbox, _guard) = outbox(kind).await;
    let ledger = FakeLedger::new();
    ledger.set_down(true);
    let config = DeliveryConfig {
        outbox_max: 10,
        ..config()
    };
    let delivery = UsageDelivery::start(ledger.clone(), outbox.clone(), config).await;
    for i in 0..9 {
        delivery.submit(rec(i)).await;
    }
    wait_until("nine waiting", || delivery.outbox_depth() == 9).await;
    assert!(!delivery.is_full());
    delivery.submit(rec(9)).await;
    wait_until("full", || delivery.is_full()).await;
    ledger.set_down(false);
    wait_until("drained", || !delivery.is_full() && ledger.count() == 10).await;
    delivery.shutdown().await;
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod redis_outbox {
            use super::*;
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(Kind::Redis).await } )*
        }
        mod redis_cluster_outbox {
            use super::*;
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
                if test_support::cluster_skipped() { return }
                super::$name(Kind::RedisCluster).await
            } )*
        }
        mod sqlite_outbox {
            use super::*;
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(Kind::Sqlite).await } )*
        }
    };
}

on_both!(
    a_ledger_outage_loses_nothing_and_counts_nothing_twice,
    a_rejected_record_is_moved_aside_not_retried,
    shutdown_flushes_to_the_outbox_and_a_restart_delivers,
    a_bounded_outbox_reports_full,
);
