//! One conformance suite for `BudgetStore`, run against Redis and memory.

use super::support::{redis, redis_cluster, usd, utc};
use chrono::{DateTime, Utc};
use llm_router::budget::{
    BudgetStore, MemoryBudgetStore, Period, RedisBudgetStore, ReserveOutcome, ReserveRequest,
    SettleOutcome, SettleRequest, StoreTtls,
};
use llm_router::money::Micros;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(600);

pub(super) fn period() -> Period {
    Period::containing(
        utc("2026-11-10T00:00:00Z"),
        chrono::FixedOffset::east_opt(0).unwrap(),
    )
}

pub(super) fn now() -> DateTime<Utc> {
    utc("2026-11-10T12:00:00Z")
}

pub(super) fn reserve<'a>(
    p: &'a Period,
    id: &'a str,
    amount: Micros,
    at: DateTime<Utc>,
) -> ReserveRequest<'a> {
    ReserveRequest {
        period: p,
        call_id: id,
        amount,
        limit: usd("100"),
        block_at: usd("95"),
        now: at,
    }
}

pub(super) fn settle<'a>(
    p: &'a Period,
    id: &'a str,
    actual: Micros,
    epoch: Option<&'a str>,
    at: DateTime<Utc>,
) -> SettleRequest<'a> {
    SettleRequest {
        period: p,
        call_id: id,
        actual,
        epoch,
        release_only: false,
        slice: None,
        now: at,
    }
}

fn ttls() -> StoreTtls {
    StoreTtls::for_reservation_ttl(TTL)
}

macro_rules! store_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn state_is_absent_until_initialized() {
                let Some((store, _guard)) = $make.await else { return };
                let p = period();
                assert_eq!(store.snapshot(&p, now()).await.unwrap(), None);
                assert_eq!(
                    store.reserve(&reserve(&p, "r1", usd("1"), now())).await.unwrap(),
                    ReserveOutcome::NeedsRebuild
                );
                assert_eq!(
                    store.settle(&settle(&p, "r1", usd("1"), None, now())).await.unwrap(),
                    SettleOutcome::NeedsRebuild
                );
                assert!(store.initialize(&p, usd("12.5"), p.start, now()).await.unwrap());
                assert!(!store.initialize(&p, usd("99"), p.start, now()).await.unwrap(), "only if absent");
                let snap = store.snapshot(&p, now()).await.unwrap().unwrap();
                assert_eq!((snap.spent, snap.reserved, snap.reservations), (usd("12.5"), Micros::ZERO, 0));
                assert_eq!(snap.window_start, p.start);
            }

            #[tokio::test]
            async fn reserve_and_settle_are_idempotent_by_call_id() {
                let Some((store, _guard)) = $make.await else { return };
                let p = period();
                store.initialize(&p, Micros::ZERO, p.start, now()).await.unwrap();
                let ReserveOutcome::Admitted { spent, reserved, epoch } =
                    store.reserve(&reserve(&p, "r1", usd("2"), now())).await.unwrap()
                else {
                    panic!("not admitted")
                };
                assert_eq!((spent, reserved), (Micros::ZERO, usd("2")));
                assert_eq!(
                    store.reserve(&reserve(&p, "r1", usd("2"), now())).await.unwrap(),
                    ReserveOutcome::AlreadyReserved { spent: Micros::ZERO, reserved: usd("2") }
                );
                assert_eq!(
                    store.settle(&settle(&p, "r1", usd("1.25"), Some(&epoch), now())).await.unwrap(),
                    SettleOutcome::Settled { spent: usd("1.25"), reserved: Micros::ZERO, had_reservation: true }
                );
                assert_eq!(
                    store.settle(&settle(&p, "r1", usd("1.25"), None, now())).await.unwrap(),
                    SettleOutcome::AlreadySettled { spent: usd("1.25"), reserved: Micros::ZERO }
                );
                // A late duplicate reserve after the settle is refused, not re-held.
                assert_eq!(
                    store.reserve(&reserve(&p, "r1", usd("2"), now())).await.unwrap(),
                    ReserveOutcome::AlreadySettled { spent: usd("1.25"), reserved: Micros::ZERO }
                );
                let snap = store.snapshot(&p, now()).await.unwrap().unwrap();
                assert_eq!((snap.spent, snap.reserved, snap.reservations), (usd("1.25"), Micros::ZERO, 0));
            }

            #[tokio::test]
            async fn admits_up_to_exactly_the_limit() {
                let Some((store, _guard)) = $make.await else { return };
                let p = period();
                store.initialize(&p, usd("60"), p.start, now()).await.unwrap();
                assert!(matches!(
                    store.reserve(&reserve(&p, "a", usd("30"), now())).await.unwrap(),
                    ReserveOutcome::Admitted { .. }
                ));
                // 60 + 30 + 10.000001 > 100
                assert_eq!(
                    store.reserve(&reserve(&p, "b", usd("10.000001"), now())).await.unwrap(),
                    ReserveOutcome::WouldExceed { spent: usd("60"), reserved: usd("30") }
                );
                // 60 + 30 + 10 = 100 fits exactly
                assert!(matches!(
                    store.reserve(&reserve(&p, "c", usd("10"), now())).await.unwrap(),
                    ReserveOutcome::Admitted { reserved, .. } if reserved == usd("40")
                ));
                assert!(matches!(
                    store.reserve(&reserve(&p, "d", Micros(1), now())).await.unwrap(),
                    ReserveOutcome::WouldExceed { .. }
                ));
            }

            #[tokio::test]
            async fn blocks_from_block_at() {
                let Some((store, _guard)) = $make.await else { return };
                let p = period();
                store.initialize(&p, usd("94.999999"), p.start, now()).await.unwrap();
                assert!(matches!(
                    store.reserve(&reserve(&p, "a", Micros(1), now())).await.unwrap(),
                    ReserveOutcome::Admitted { .. }
                ));
                store.settle(&settle(&p, "a", Micros(1), None, now())).await.unwrap();
                assert_eq!(
                    store.reserve(&reserve(&p, "b", Micros(1), now())).await.unwrap(),
                    ReserveOutcome::Blocked { spent: usd("95"), reserved: Micros::ZERO }
                );
            }

            #[tokio::test]
            async fn unsettled_reservations_expire_after_the_ttl() {
                let Some((store, _guard)) = $make.await else { return };
                let p = period();
                store.initialize(&p, Micros::ZERO, p.start, now()).await.unwrap();
                store.reserve(&reserve(&p, "dead", usd("50"), now())).await.unwrap();
                let almost = now() + chrono::Duration::seconds(599);
                assert_eq!(store.snapshot(&p, almost).await.unwrap().unwrap().reserved, usd("50"));
                let after = now() + chrono::Duration::seconds(600);
                let snap = store.snapshot(&p, after).await.unwrap().unwrap();
                assert_eq!((snap.reserved, snap.reservations), (Micros::ZERO, 0));
                // A settle arriving after expiry still counts the cost.
                assert_eq!(
                    store.settle(&settle(&p, "dead", usd("3"), None, after)).await.unwrap(),
                    SettleOutcome::Settled { spent: usd("3"), reserved: Micros::ZERO, had_reservation: false }
                );
            }

            #[tokio::test]
            async fn a_settle_for_an_older_epoch_releases_without_adding() {
                let Some((store, _guard)) = $make.await else { return };
                let p = period();
                store.initialize(&p, Micros::ZERO, p.start, now()).await.unwrap();
                store.reserve(&reserve(&p, "r", usd("5"), now())).await.unwrap();
                assert_eq!(
                    store.settle(&settle(&p, "r", usd("4"), Some("older-epoch"), now())).await.unwrap(),
                    SettleOutcome::Stale
                );
                let snap = store.snapshot(&p, now()).await.unwrap().unwrap();
                assert_eq!((snap.spent, snap.reserved), (Micros::ZERO, Micros::ZERO));
            }

            #[tokio::test]
            async fn a_release_only_clean_up_frees_without_a_tombstone() {
                let Some((store, _guard)) = $make.await else { return };
                let p = period();
                store.initialize(&p, Micros::ZERO, p.start, now()).await.unwrap();
                let cleanup = SettleRequest { release_only: true, ..settle(&p, "lost", Micros::ZERO, None, now()) };
                // Nothing held: nothing happens, and the id stays usable.
                assert_eq!(
                    store.settle(&cleanup).await.unwrap(),
                    SettleOutcome::Settled { spent: Micros::ZERO, reserved: Micros::ZERO, had_reservation: false }
                );
                assert!(matches!(
                    store.reserve(&reserve(&p, "lost", usd("3"), now())).await.unwrap(),
                    ReserveOutcome::Admitted { .. }
                ));
                // Held (a late reserve landed): freed, spend untouched.
                assert_eq!(
                    store.settle(&cleanup).await.unwrap(),
                    SettleOutcome::Settled { spent: Micros::ZERO, reserved: Micros::ZERO, had_reservation: true }
                );
                assert!(matches!(
                    store.reserve(&reserve(&p, "lost", usd("3"), now())).await.unwrap(),
                    ReserveOutcome::Admitted { .. }
                ));
            }

            #[tokio::test]
            async fn reset_zeroes_spend_and_keeps_calls_in_flight() {
                let Some((store, _guard)) = $make.await else { return };
                let p = period();
                store.initialize(&p, usd("90"), p.start, now()).await.unwrap();
                store.reserve(&reserve(&p, "in-flight", usd("2"), now())).await.unwrap();
                let at = now() + chrono::Duration::seconds(1);
                let snap = store.reset(&p, at, at).await.unwrap();
                assert_eq!((snap.spent, snap.reserved, snap.reservations), (Micros::ZERO, usd("2"), 1));
                assert_eq!(snap.window_start, at);
                store.settle(&settle(&p, "in-flight", usd("1"), None, at)).await.unwrap();
                assert_eq!(store.snapshot(&p, at).await.unwrap().unwrap().spent, usd("1"));
            }

            #[tokio::test]
            async fn periods_are_independent() {
                let Some((store, _guard)) = $make.await else { return };
                let nov = period();
                let dec = Period::containing(nov.end, chrono::FixedOffset::east_opt(0).unwrap());
                store.initialize(&nov, usd("80"), nov.start, now()).await.unwrap();
                assert_eq!(store.snapshot(&dec, now()).await.unwrap(), None);
                store.initialize(&dec, Micros::ZERO, dec.start, now()).await.unwrap();
                assert!(matches!(
                    store.reserve(&reserve(&dec, "x", usd("99"), now())).await.unwrap(),
                    ReserveOutcome::Admitted { .. }
                ));
                assert_eq!(store.snapshot(&nov, now()).await.unwrap().unwrap().reserved, Micros::ZERO);
            }

            // Redis coalesces concurrent settles into one script call: each
            // still gets its own outcome (only the even ids hold a
            // reservation, so a reply handed to the wrong caller shows),
            // duplicates count once, and a settle for another period is
            // answered for that period.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_settles_each_get_their_own_outcome() {
                let Some((store, _guard)) = $make.await else { return };
                let p = period();
                let dec = Period::containing(p.end, chrono::FixedOffset::east_opt(0).unwrap());
                store.initialize(&p, Micros::ZERO, p.start, now()).await.unwrap();
                let ids: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
                for id in ids.iter().step_by(2) {
                    let admitted = store.reserve(&reserve(&p, id, usd("0.5"), now())).await.unwrap();
                    assert!(matches!(admitted, ReserveOutcome::Admitted { .. }), "{id}: {admitted:?}");
                }
                let (store, p) = (&store, &p);
                let settles = (0..100).chain(0..20).map(|i| async move {
                    let outcome = store.settle(&settle(p, &format!("c{i}"), usd("0.25"), None, now())).await.unwrap();
                    (i, outcome)
                });
                let other = async { store.settle(&settle(&dec, "c0", usd("1"), None, now())).await.unwrap() };
                let (outcomes, other) = tokio::join!(futures::future::join_all(settles), other);
                for i in 0..100 {
                    let mine: Vec<&SettleOutcome> = outcomes.iter().filter(|(j, _)| *j == i).map(|(_, o)| o).collect();
                    let settled: Vec<bool> = mine.iter().filter_map(|o| match o {
                        SettleOutcome::Settled { had_reservation, .. } => Some(*had_reservation),
                        _ => None,
                    }).collect();
                    assert_eq!(settled, vec![i % 2 == 0], "c{i}: {mine:?}");
                    let duplicates = mine.iter().filter(|o| matches!(o, SettleOutcome::AlreadySettled { .. })).count();
                    assert_eq!(duplicates, usize::from(i < 20), "c{i}: {mine:?}");
                }
                assert_eq!(other, SettleOutcome::NeedsRebuild);
                let snap = store.snapshot(p, now()).await.unwrap().unwrap();
                assert_eq!((snap.spent, snap.reserved, snap.reservations), (usd("25"), Micros::ZERO, 0));
            }

            #[tokio::test]
            async fn answers_ping() {
                let Some((store, _guard)) = $make.await else { return };
                store.ping().await.unwrap();
            }
        }
    };
}

pub(super) async fn memory() -> Option<(Box<dyn BudgetStore>, ())> {
    Some((Box::new(MemoryBudgetStore::new(ttls())), ()))
}

fn redis_store_on(client: &fred::prelude::Client, prefix: &str) -> Box<dyn BudgetStore> {
    Box::new(RedisBudgetStore::new(
        client.clone(),
        prefix,
        ttls(),
        Duration::from_millis(500),
    ))
}

pub(super) async fn redis_backed() -> Option<(
    Box<dyn BudgetStore>,
    (super::support::Cleanup, llm_router::redis::RedisHandle),
)> {
    let handle = redis(Duration::from_millis(500)).await;
    let prefix = test_support::unique_prefix("budget");
    let store = redis_store_on(&handle.client, &prefix);
    Some((store, (super::support::Cleanup(prefix), handle)))
}

/// The same store on a Redis Cluster of its own (three primaries, a replica each).
pub(super) async fn cluster_backed() -> Option<(
    Box<dyn BudgetStore>,
    (llm_router::redis::RedisHandle, test_support::RedisCluster),
)> {
    let (handle, cluster) = redis_cluster(Duration::from_millis(500)).await?;
    let store = redis_store_on(&handle.client, "fe:");
    Some((store, (handle, cluster)))
}

store_suite!(memory_store, memory());
store_suite!(redis_store, redis_backed());
store_suite!(redis_cluster_store, cluster_backed());
