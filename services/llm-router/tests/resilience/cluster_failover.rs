//! A Redis Cluster primary killed under load: 300 concurrent callers on three
//! router replicas (each its own cluster connection, budget breaker and usage
//! delivery with the Redis Stream outbox). The primary that holds both the
//! budget's keys and the outbox is SIGKILLed mid-run while the ledger is down
//! (so records sit in the outbox on that primary). Its replica is promoted,
//! the routers follow the new topology, spend + reserved never exceeds the
//! budget, and every admitted call's usage record reaches the ledger exactly
//! once. What the callers saw is printed (`--no-capture`) and bounded.

use super::support::{FakeLedger, breaker, cluster_connection, record, redis_store, usd, utc};
use llm_router::budget::{BudgetBreaker, BudgetConfig, BudgetError, Period};
use llm_router::clock::{Clock, ManualClock};
use llm_router::delivery::{DeliveryConfig, RedisStreamOutbox, UsageDelivery};
use llm_router::money::Micros;
use parking_lot::Mutex;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

const CALLERS: usize = 300;
const CALLS_EACH: usize = 8;
/// A caller still refused by an unavailable store after this fails the test
/// (the routers never followed the new topology) instead of hanging it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);
/// The primary is killed once this many calls have been answered.
const KILL_AFTER: u64 = (CALLERS * CALLS_EACH / 3) as u64;

/// What the callers saw, shared by all of them.
#[derive(Default)]
struct Seen {
    admitted: AtomicU64,
    refused: AtomicU64,
    settles_queued: AtomicU64,
    /// Error message (numbers stripped) → count.
    errors: Mutex<BTreeMap<String, u64>>,
    first_error: Mutex<Option<Instant>>,
    last_error: Mutex<Option<Instant>>,
}

impl Seen {
    fn error(&self, e: &BudgetError) {
        let kind: String = e
            .to_string()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        *self.errors.lock().entry(kind).or_default() += 1;
        let now = Instant::now();
        self.first_error.lock().get_or_insert(now);
        *self.last_error.lock() = Some(now);
    }

    fn answered(&self) -> u64 {
        self.admitted.load(Ordering::SeqCst) + self.refused.load(Ordering::SeqCst)
    }
}

/// A prefix whose budget tag and outbox stream live on the same primary, so
/// one kill hits both; returns it with that primary's port.
fn prefix_on_one_primary(cluster: &test_support::RedisCluster, period: &Period) -> (String, u16) {
    (0..200)
        .map(|i| format!("fo{i}:"))
        .find_map(|prefix| {
            let budget = cluster.primary_for_key(&format!("{{{prefix}budget:{}}}", period.key));
            let outbox = cluster.primary_for_key(&format!("{{{prefix}usage_outbox}}"));
            (budget == outbox).then_some((prefix, budget))
        })
        .expect("a prefix whose two hash tags share a primary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_killed_under_load_loses_nothing_and_never_overspends() {
    let config = BudgetConfig {
        limit: usd("150"),
        store_timeout: Duration::from_millis(500),
        ..BudgetConfig::default()
    };
    let Some(mut cluster) = test_support::RedisCluster::start().await else {
        return;
    };
    let limit = config.limit;
    let clock = ManualClock::new(utc("2026-11-15T08:00:00Z"));
    let period = Period::containing(clock.now(), config.offset());
    let (prefix, doomed) = prefix_on_one_primary(&cluster, &period);
    let heir = cluster.replica_of(doomed);
    let ledger = FakeLedger::new();
    let delivery_config = DeliveryConfig {
        redeliver_min: Duration::from_millis(20),
        redeliver_max: Duration::from_millis(200),
        idle_poll: Duration::from_millis(50),
        sink_timeout: Duration::from_millis(500),
        ..DeliveryConfig::default()
    };

    let mut connections = Vec::new();
    let mut replicas: Vec<(Arc<BudgetBreaker>, UsageDelivery)> = Vec::new();
    for _ in 0..3 {
        let handle = cluster_connection(&cluster, config.store_timeout).await;
        let budget = breaker(
            &config,
            redis_store(&handle, &prefix, &config),
            ledger.clone(),
            clock.clone(),
        );
        let outbox = RedisStreamOutbox::new(handle.client.clone(), &prefix, config.store_timeout);
        let delivery =
            UsageDelivery::start(ledger.clone(), Arc::new(outbox), delivery_config.clone()).await;
        replicas.push((budget, delivery));
        connections.push(handle);
    }

    // Samples the shared state throughout; a sample that errors (the
    // primary is gone) is skipped, every answered one must fit the budget.
    let watcher_handle = cluster_connection(&cluster, config.store_timeout).await;
    let watcher_store = redis_store(&watcher_handle, &prefix, &config);
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(AtomicU64::new(0));
    let watcher = tokio::spawn({
        let (stop, samples, clock, period) =
            (stop.clone(), samples.clone(), clock.clone(), period.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(Some(s)) = watcher_store.snapshot(&period, clock.now()).await {
                    assert!(
                        s.spent + s.reserved <= limit,
                        "spent {} + reserved {} > limit {limit}",
                        s.spent,
                        s.reserved
                    );
                    samples.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });

    let seen = Arc::new(Seen::default());
    let started = Instant::now();
    let settled_total = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for c in 0..CALLERS {
        let (budget, delivery) = replicas[c % 3].clone();
        let (seen, settled_total, clock) = (seen.clone(), settled_total.clone(), clock.clone());
        callers.push(tokio::spawn(async move {
            for i in 0..CALLS_EACH {
                let id = format!("caller-{c}-call-{i}");
                let (worst, actual, hold_ms) = {
                    let mut rng = rand::rng();
                    let worst = rng.random_range(10_000..=300_000i64);
                    (
                        worst,
                        rng.random_range(0..=worst),
                        rng.random_range(1..10u64),
                    )
                };
                // A caller that gets an error tries the same call again, as
                // the gateway's clients do, until it is admitted or refused.
                loop {
                    match budget.admit(&id, Micros(worst), false).await {
                        Ok(admission) => {
                            seen.admitted.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(hold_ms)).await;
                            if let Err(e) = admission.settle(Micros(actual)).await {
                                // Queued for when the store answers again.
                                seen.settles_queued.fetch_add(1, Ordering::SeqCst);
                                seen.error(&e);
                            }
                            settled_total.fetch_add(actual as u64, Ordering::SeqCst);
                            delivery
                                .submit(record(&id, Micros(actual), clock.now()))
                                .await;
                            break;
                        }
                        Err(BudgetError::Exceeded { .. }) => {
                            seen.refused.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        Err(e) => {
                            seen.error(&e);
                            assert!(
                                started.elapsed() < GIVE_UP_AFTER,
                                "{id}: the store still failed after {GIVE_UP_AFTER:?}: {e}"
                            );
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }

    // Mid-run: the ledger goes down (records go to the outbox), then the
    // primary holding the budget and the outbox dies without a goodbye.
    while seen.answered() < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ledger.set_down(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let killed_at = Instant::now();
    cluster.kill(doomed);
    cluster.wait_promoted(heir, Duration::from_secs(20)).await;
    let promoted_after = killed_at.elapsed();
    ledger.set_down(false);

    for c in callers {
        c.await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    watcher.await.unwrap();

    // Settles queued during the outage are applied now that the store answers.
    for (budget, _) in &replicas {
        let deadline = Instant::now() + Duration::from_secs(10);
        while budget.flush_pending().await > 0 {
            assert!(Instant::now() < deadline, "queued settles never applied");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let admitted = seen.admitted.load(Ordering::SeqCst);
    // Lost is what never arrives: the outbox drains in ~1 s alone, but on a
    // loaded machine (the whole suite at once) it took over 20 s once.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ledger.count() < admitted as usize || replicas.iter().any(|(_, d)| d.outbox_depth() > 0) {
        assert!(
            Instant::now() < deadline,
            "{} of {admitted} usage records in the ledger",
            ledger.count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (_, delivery) in &replicas {
        delivery.shutdown().await;
    }

    let status = replicas[0].0.status().await.unwrap();
    let errors = seen.errors.lock().clone();
    let error_count: u64 = errors.values().sum();
    let error_window = match (*seen.first_error.lock(), *seen.last_error.lock()) {
        (Some(a), Some(b)) => b - a,
        _ => Duration::ZERO,
    };
    println!(
        "failover: replica promoted {promoted_after:?} after the kill; callers saw {error_count} \
         errors over {error_window:?} ({errors:?}), {} settles queued; admitted {admitted}, \
         refused {}; ledger {} records ({} redelivered duplicates ignored); spent {} of {limit}; \
         {} watcher samples",
        seen.settles_queued.load(Ordering::SeqCst),
        seen.refused.load(Ordering::SeqCst),
        ledger.count(),
        ledger.duplicates.load(Ordering::SeqCst),
        status.spent,
        samples.load(Ordering::SeqCst),
    );

    assert_eq!(
        admitted + seen.refused.load(Ordering::SeqCst),
        (CALLERS * CALLS_EACH) as u64,
        "every call was answered in the end"
    );
    assert_eq!(ledger.count() as u64, admitted, "no usage record lost");
    assert_eq!(
        ledger.total(),
        Micros(settled_total.load(Ordering::SeqCst) as i64),
        "each record counted once"
    );
    assert_eq!(
        status.spent,
        ledger.total(),
        "the budget's spend is the ledger's"
    );
    assert_eq!(status.reserved, Micros::ZERO, "no reservation leaked");
    assert!(status.spent <= limit);
    assert!(
        seen.refused.load(Ordering::SeqCst) > 0,
        "demand exceeded the budget"
    );
    assert!(samples.load(Ordering::SeqCst) > 10);
    // The outage is seen only while the slots have no primary: errors stop
    // once the replica is promoted and the routers have the new topology.
    assert!(
        error_window < promoted_after + Duration::from_secs(5),
        "errors went on for {error_window:?} (promotion took {promoted_after:?})"
    );
    drop(connections);
}
