//! Budget slices: the store's slice parts and duplicate counting (conformance,
//! Redis and memory), and the breaker admitting from a replica's slice.

use super::budget_breaker::{Backend, env};
use super::budget_store::{cluster_backed, memory, now, period, redis_backed, reserve, settle};
use super::support::{FakeLedger, breaker, usd, utc};
use llm_router::budget::{
    BudgetConfig, BudgetError, BudgetState, ReserveOutcome, SettleOutcome, SettleRequest,
    Settlement, SlicePart,
};
use llm_router::clock::ManualClock;
use llm_router::money::Micros;
use std::time::Duration;

fn part<'a>(id: &'a str, amount: &str) -> Option<SlicePart<'a>> {
    Some(SlicePart {
        id,
        amount: usd(amount),
    })
}

macro_rules! slice_store_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn a_slice_releases_each_calls_part_then_returns_its_rest() {
                let Some((store, _guard)) = $make.await else {
                    return;
                };
                let p = period();
                store
                    .initialize(&p, Micros::ZERO, p.start, now())
                    .await
                    .unwrap();
                assert!(matches!(
                    store
                        .reserve(&reserve(&p, "slice:a", usd("10"), now()))
                        .await
                        .unwrap(),
                    ReserveOutcome::Admitted { .. }
                ));
                let call = |id, actual, amount| SettleRequest {
                    slice: part("slice:a", amount),
                    ..settle(&p, id, usd(actual), None, now())
                };
                assert_eq!(
                    store.settle(&call("c1", "2", "3")).await.unwrap(),
                    SettleOutcome::Settled {
                        spent: usd("2"),
                        reserved: usd("7"),
                        had_reservation: true
                    }
                );
                assert_eq!(
                    store.settle(&call("c2", "1", "3")).await.unwrap(),
                    SettleOutcome::Settled {
                        spent: usd("3"),
                        reserved: usd("4"),
                        had_reservation: true
                    }
                );
                let give_back = SettleRequest {
                    release_only: true,
                    slice: part("slice:a", "4"),
                    ..settle(&p, "slice:a", Micros::ZERO, None, now())
                };
                assert_eq!(
                    store.settle(&give_back).await.unwrap(),
                    SettleOutcome::Settled {
                        spent: usd("3"),
                        reserved: Micros::ZERO,
                        had_reservation: true
                    }
                );
                let snap = store.snapshot(&p, now()).await.unwrap().unwrap();
                assert_eq!(
                    (snap.spent, snap.reserved, snap.reservations),
                    (usd("3"), Micros::ZERO, 0)
                );
                // The slice is gone: the call's cost still counts, and the caller learns it.
                assert_eq!(
                    store.settle(&call("c3", "0.5", "3")).await.unwrap(),
                    SettleOutcome::Settled {
                        spent: usd("3.5"),
                        reserved: Micros::ZERO,
                        had_reservation: false
                    }
                );
            }

            #[tokio::test]
            async fn a_reused_id_that_held_budget_is_counted_again_a_repeat_is_not() {
                let Some((store, _guard)) = $make.await else {
                    return;
                };
                let p = period();
                store
                    .initialize(&p, Micros::ZERO, p.start, now())
                    .await
                    .unwrap();
                store
                    .reserve(&reserve(&p, "slice:b", usd("10"), now()))
                    .await
                    .unwrap();
                // Admitted from the slice on one replica, and on its own elsewhere.
                assert!(matches!(
                    store
                        .reserve(&reserve(&p, "x", usd("2"), now()))
                        .await
                        .unwrap(),
                    ReserveOutcome::Admitted { .. }
                ));
                let from_slice = SettleRequest {
                    slice: part("slice:b", "2"),
                    ..settle(&p, "x", usd("1"), None, now())
                };
                assert!(matches!(
                    store.settle(&from_slice).await.unwrap(),
                    SettleOutcome::Settled {
                        had_reservation: true,
                        ..
                    }
                ));
                assert_eq!(
                    store
                        .settle(&settle(&p, "x", usd("1.5"), None, now()))
                        .await
                        .unwrap(),
                    SettleOutcome::Duplicate {
                        spent: usd("2.5"),
                        reserved: usd("8")
                    }
                );
                // A third call from a slice under the same id: counted too.
                assert_eq!(
                    store.settle(&from_slice).await.unwrap(),
                    SettleOutcome::Duplicate {
                        spent: usd("3.5"),
                        reserved: usd("6")
                    }
                );
                // A repeated settle that holds nothing is the same call again.
                assert_eq!(
                    store
                        .settle(&settle(&p, "x", usd("1"), None, now()))
                        .await
                        .unwrap(),
                    SettleOutcome::AlreadySettled {
                        spent: usd("3.5"),
                        reserved: usd("6")
                    }
                );
            }

            #[tokio::test]
            async fn a_zero_reservation_settles() {
                let Some((store, _guard)) = $make.await else {
                    return;
                };
                let p = period();
                store
                    .initialize(&p, Micros::ZERO, p.start, now())
                    .await
                    .unwrap();
                store
                    .reserve(&reserve(&p, "free", Micros::ZERO, now()))
                    .await
                    .unwrap();
                assert_eq!(
                    store
                        .settle(&settle(&p, "free", Micros::ZERO, None, now()))
                        .await
                        .unwrap(),
                    SettleOutcome::Settled {
                        spent: Micros::ZERO,
                        reserved: Micros::ZERO,
                        had_reservation: true
                    }
                );
            }
        }
    };
}

slice_store_suite!(memory_store, memory());
slice_store_suite!(redis_store, redis_backed());
slice_store_suite!(redis_cluster_store, cluster_backed());

fn config() -> BudgetConfig {
    BudgetConfig {
        limit: usd("100"),
        slice: usd("1"),
        slice_window: Duration::from_secs(1),
        ..BudgetConfig::default()
    }
}

fn clock() -> std::sync::Arc<ManualClock> {
    ManualClock::new(utc("2026-11-10T12:00:00Z"))
}

async fn calls_share_one_store_reservation_and_spend_is_exact(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let b = breaker(&config, env.store.clone(), FakeLedger::new(), clock());
    // The first call learns the state (CLOSED) with a reservation of its own.
    let first = b.admit("first", usd("0.1"), false).await.unwrap();
    assert_eq!(first.slice, None);
    let mut calls = Vec::new();
    for i in 0..10 {
        calls.push(b.admit(&format!("c{i}"), usd("0.05"), false).await.unwrap());
    }
    assert!(
        calls
            .iter()
            .all(|a| a.slice.is_some() && a.slice == calls[0].slice)
    );
    let status = b.status().await.unwrap();
    assert_eq!(status.reservations, 2, "the first call's and the slice");
    assert_eq!(status.reserved, usd("1.1"));
    first.settle(usd("0.1")).await.unwrap();
    for a in calls {
        assert_eq!(a.settle(usd("0.03")).await.unwrap(), Settlement::Counted);
    }
    let status = b.status().await.unwrap();
    assert_eq!(status.spent, usd("0.4"));
    assert_eq!(status.reserved, usd("0.5"), "the slice's unused rest");
    b.return_slice().await;
    let status = b.status().await.unwrap();
    assert_eq!((status.reserved, status.reservations), (Micros::ZERO, 0));
}

async fn from_half_open_on_every_call_reserves_on_its_own(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let b = breaker(&config, env.store.clone(), FakeLedger::new(), clock());
    let big = b.admit("big", usd("4"), false).await.unwrap();
    assert_eq!(big.slice, None, "larger than a slice");
    let small = b.admit("small", usd("0.5"), false).await.unwrap();
    assert!(small.slice.is_some());
    big.settle(usd("4")).await.unwrap();
    small.settle(usd("0.5")).await.unwrap();
    for i in 0..16 {
        let a = b.admit(&format!("s{i}"), usd("4.75"), false).await.unwrap();
        a.settle(usd("4.75")).await.unwrap();
    }
    let status = b.status().await.unwrap();
    assert_eq!(
        (status.spent, status.state),
        (usd("80.5"), BudgetState::HalfOpen)
    );
    let a = b.admit("late", usd("0.5"), false).await.unwrap();
    assert_eq!(a.slice, None);
    let status = b.status().await.unwrap();
    assert_eq!(
        (status.reserved, status.reservations),
        (usd("0.5"), 1),
        "the slice went back"
    );
    a.release().await.unwrap();
}

async fn a_slice_admits_for_its_window_only(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = clock();
    let b = breaker(&config, env.store.clone(), FakeLedger::new(), clock.clone());
    b.admit("learn", usd("0.1"), false)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    let early = b.admit("early", usd("0.2"), false).await.unwrap();
    clock.advance(Duration::from_millis(1_100));
    let late = b.admit("late", usd("0.2"), false).await.unwrap();
    assert!(early.slice.is_some() && late.slice.is_some() && early.slice != late.slice);
    // The old slice's rest is returned in the background; its call still holds 0.2.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b.status().await.unwrap().reserved != usd("1.2") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old slice was not returned"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    early.settle(usd("0.1")).await.unwrap();
    late.settle(usd("0.1")).await.unwrap();
    clock.advance(Duration::from_millis(1_100));
    assert!(
        b.check_store().await,
        "the periodic check returns an idle slice"
    );
    let status = b.status().await.unwrap();
    assert_eq!(
        (status.spent, status.reserved, status.reservations),
        (usd("0.2"), Micros::ZERO, 0)
    );
}

async fn a_reused_call_id_is_refused_in_flight_and_counted_after(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let b = breaker(&config, env.store.clone(), FakeLedger::new(), clock());
    b.admit("learn", usd("0.1"), false)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    let a = b.admit("same", usd("0.2"), false).await.unwrap();
    assert!(a.slice.is_some());
    let err = b.admit("same", usd("0.2"), false).await.unwrap_err();
    assert_eq!(err, BudgetError::DuplicateRequest("same".into()));
    assert_eq!(a.settle(usd("0.15")).await.unwrap(), Settlement::Counted);
    // Served again from the slice (no store round trip to know better): both count.
    let again = b.admit("same", usd("0.2"), false).await.unwrap();
    assert_eq!(
        again.settle(usd("0.15")).await.unwrap(),
        Settlement::Duplicate
    );
    assert_eq!(b.status().await.unwrap().spent, usd("0.3"));
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod breaker_on_memory {
            $( #[tokio::test] async fn $name() { super::$name(super::Backend::Memory).await } )*
        }
        mod breaker_on_redis {
            $( #[tokio::test] async fn $name() { super::$name(super::Backend::Redis).await } )*
        }
        mod breaker_on_redis_cluster {
            $( #[tokio::test] async fn $name() {
                if test_support::cluster_skipped() { return }
                super::$name(super::Backend::RedisCluster).await
            } )*
        }
    };
}

on_both!(
    calls_share_one_store_reservation_and_spend_is_exact,
    from_half_open_on_every_call_reserves_on_its_own,
    a_slice_admits_for_its_window_only,
    a_reused_call_id_is_refused_in_flight_and_counted_after,
);
