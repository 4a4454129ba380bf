//! The budget breaker's rules with an injected clock, on Redis and on memory.

use super::support::{
    FakeLedger, breaker, delete_prefix, memory_store, record, redis, redis_cluster, redis_store,
    usd, utc,
};
use llm_router::budget::{BudgetConfig, BudgetError, BudgetState, BudgetStore, RefusalReason};
use llm_router::clock::{Clock, ManualClock};
use llm_router::money::Micros;
use llm_router::redis::RedisHandle;
use service_kit::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

fn config() -> BudgetConfig {
    BudgetConfig {
        limit: usd("100"),
        downgrade_sota: true,
        ..BudgetConfig::default()
    }
}

/// A store per backend; the guard keeps the Redis connection alive.
pub enum Backend {
    Memory,
    Redis,
    /// A Redis Cluster of the test's own (three primaries, a replica each).
    RedisCluster,
}

pub struct Env {
    pub store: Arc<dyn BudgetStore>,
    pub redis: Option<(RedisHandle, String)>,
    _cleanup: Option<super::support::Cleanup>,
    _cluster: Option<test_support::RedisCluster>,
}

pub async fn env(backend: Backend, config: &BudgetConfig) -> Env {
    match backend {
        Backend::Memory => Env {
            store: memory_store(config),
            redis: None,
            _cleanup: None,
            _cluster: None,
        },
        Backend::Redis => {
            let handle = redis(config.store_timeout).await;
            let prefix = test_support::unique_prefix("budget");
            Env {
                store: redis_store(&handle, &prefix, config),
                _cleanup: Some(super::support::Cleanup(prefix.clone())),
                redis: Some((handle, prefix)),
                _cluster: None,
            }
        }
        Backend::RedisCluster => {
            // Callers skip the test first where no cluster can run.
            let (handle, cluster) = redis_cluster(config.store_timeout)
                .await
                .expect("redis-server");
            let prefix = "fe:".to_owned();
            Env {
                store: redis_store(&handle, &prefix, config),
                redis: Some((handle, prefix)),
                _cleanup: None,
                _cluster: Some(cluster),
            }
        }
    }
}

/// Spends exactly `amount` through one admitted call.
async fn spend(b: &Arc<llm_router::budget::BudgetBreaker>, id: &str, amount: Micros) {
    let a = b.admit(id, amount, false).await.unwrap();
    a.settle(amount).await.unwrap();
}

async fn exact_state_boundaries(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let b = breaker(&config, env.store.clone(), FakeLedger::new(), clock);
    spend(&b, "a", usd("79.999999")).await;
    assert_eq!(b.status().await.unwrap().state, BudgetState::Closed);
    let a = b.admit("probe-1", Micros(1), true).await.unwrap();
    assert_eq!(a.state, BudgetState::Closed);
    assert!(!a.downgrade_to_cost_effective);
    a.settle(Micros(1)).await.unwrap(); // exactly 80%
    let status = b.status().await.unwrap();
    assert_eq!(
        (status.state, status.utilisation_bp),
        (BudgetState::HalfOpen, 8_000)
    );
    let a = b.admit("probe-2", Micros(1), true).await.unwrap();
    assert_eq!(a.state, BudgetState::HalfOpen);
    assert!(
        a.downgrade_to_cost_effective,
        "sota downgraded in HALF_OPEN"
    );
    a.release().await.unwrap();
    let a = b.admit("probe-3", Micros(1), false).await.unwrap();
    assert!(
        !a.downgrade_to_cost_effective,
        "only sota requests are downgraded"
    );
    a.release().await.unwrap();
    spend(&b, "b", usd("14.999999")).await; // 94.999999
    assert_eq!(b.status().await.unwrap().state, BudgetState::HalfOpen);
    spend(&b, "c", Micros(1)).await; // exactly 95%
    let status = b.status().await.unwrap();
    assert_eq!(
        (status.state, status.utilisation_bp),
        (BudgetState::Open, 9_500)
    );
    let err = b.admit("refused", Micros(1), false).await.unwrap_err();
    assert!(matches!(
        err,
        BudgetError::Exceeded {
            reason: RefusalReason::Blocked,
            ..
        }
    ));
    assert_eq!(err.code(), ErrorCode::BudgetExceeded);
    assert_eq!(err.code().grpc_code(), tonic::Code::ResourceExhausted);
}

async fn a_worst_case_that_does_not_fit_is_refused_below_95(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let b = breaker(&config, env.store.clone(), FakeLedger::new(), clock);
    spend(&b, "a", usd("50")).await;
    let held = b.admit("held", usd("30"), false).await.unwrap();
    let err = b.admit("big", usd("20.000001"), false).await.unwrap_err();
    match err {
        BudgetError::Exceeded {
            reason,
            state,
            spent,
            reserved,
            requested,
            ..
        } => {
            assert_eq!(reason, RefusalReason::WouldExceed);
            assert_eq!(state, BudgetState::Closed);
            assert_eq!(
                (spent, reserved, requested),
                (usd("50"), usd("30"), usd("20.000001"))
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    b.admit("fits", usd("20"), false)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    held.release().await.unwrap();
}

async fn month_rolls_over_by_itself(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-30T23:59:00Z"));
    let ledger = FakeLedger::new();
    let b = breaker(&config, env.store.clone(), ledger.clone(), clock.clone());
    let a = b.admit("nov", usd("96"), false).await.unwrap();
    a.settle(usd("96")).await.unwrap();
    ledger.insert(record("nov", usd("96"), clock.now()));
    assert!(
        b.admit("nov-2", Micros(1), false).await.is_err(),
        "OPEN in November"
    );
    clock.set(utc("2026-12-01T00:00:00Z"));
    let a = b.admit("dec", usd("1"), false).await.unwrap();
    assert_eq!(a.period.key, "2026-12");
    a.settle(usd("1")).await.unwrap();
    let status = b.status().await.unwrap();
    assert_eq!(status.period.key, "2026-12");
    assert_eq!(status.period.start, utc("2026-12-01T00:00:00Z"));
    assert_eq!(status.next_reset, utc("2027-01-01T00:00:00Z"));
    assert_eq!(
        (status.spent, status.state),
        (usd("1"), BudgetState::Closed)
    );
}

async fn a_reservation_never_settled_frees_after_the_ttl(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let b = breaker(&config, env.store.clone(), FakeLedger::new(), clock.clone());
    let a = b.admit("killed-mid-call", usd("60"), false).await.unwrap();
    // The router dies: no settle, no release on drop.
    std::mem::forget(a);
    assert!(
        b.admit("other", usd("60"), false).await.is_err(),
        "budget held"
    );
    clock.advance(config.reservation_ttl - Duration::from_secs(1));
    assert_eq!(b.status().await.unwrap().reserved, usd("60"));
    clock.advance(Duration::from_secs(1));
    let status = b.status().await.unwrap();
    assert_eq!((status.reserved, status.reservations), (Micros::ZERO, 0));
    b.admit("other", usd("60"), false)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

async fn a_dropped_admission_is_released(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let b = breaker(&config, env.store.clone(), FakeLedger::new(), clock);
    drop(b.admit("cancelled", usd("60"), false).await.unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b.status().await.unwrap().reserved != Micros::ZERO {
        assert!(tokio::time::Instant::now() < deadline, "not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn duplicate_call_ids_are_refused(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let b = breaker(&config, env.store.clone(), FakeLedger::new(), clock);
    let a = b.admit("same", usd("1"), false).await.unwrap();
    let err = b.admit("same", usd("1"), false).await.unwrap_err();
    assert_eq!(err, BudgetError::DuplicateRequest("same".into()));
    assert_eq!(err.code(), ErrorCode::Conflict);
    a.settle(usd("1")).await.unwrap();
    assert!(b.admit("same", usd("1"), false).await.is_err());
    assert_eq!(b.status().await.unwrap().spent, usd("1"));
}

async fn lost_state_is_rebuilt_from_the_ledger_before_any_admission(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let ledger = FakeLedger::new();
    *ledger.base_spend.lock() = usd("40");
    for i in 0..10 {
        ledger.insert(record(
            &format!("old-{i}"),
            usd("1.5"),
            utc("2026-11-05T00:00:00Z"),
        ));
    }
    // Last month's records do not count.
    ledger.insert(record("october", usd("50"), utc("2026-10-31T23:59:59Z")));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    *ledger.spend_gate.lock() = Some(gate.clone());
    let b = breaker(&config, env.store.clone(), ledger.clone(), clock);
    let admitting = tokio::spawn({
        let b = b.clone();
        async move { b.admit("first", usd("1"), false).await.map(|a| a.reserved) }
    });
    // While the ledger has not answered, nothing is admitted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!admitting.is_finished());
    let p = b.current_period();
    assert_eq!(
        env.store
            .snapshot(&p, utc("2026-11-10T12:00:00Z"))
            .await
            .unwrap(),
        None
    );
    gate.add_permits(1000);
    assert_eq!(admitting.await.unwrap().unwrap(), usd("1"));
    let status = b.status().await.unwrap();
    assert_eq!(status.spent, usd("55"), "40 + 10 × 1.5, October excluded");
    assert_eq!(
        ledger.spend_calls.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

async fn rebuild_failure_fails_closed(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let ledger = FakeLedger::new();
    ledger.set_down(true);
    let b = breaker(&config, env.store.clone(), ledger.clone(), clock);
    let err = b.admit("x", usd("1"), false).await.unwrap_err();
    assert!(
        matches!(err, BudgetError::Unavailable(ref m) if m.contains("rebuilt")),
        "{err}"
    );
    assert_eq!(err.code().grpc_code(), tonic::Code::Unavailable);
    ledger.set_down(false);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the fail-fast window
    b.admit("x", usd("1"), false)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

/// `BUDGET_REQUIRE_LEDGER=false` (the default without Redis): a call is not
/// refused for want of the ledger, the month starts from zero; readiness
/// still tries the ledger and is not held back by it.
async fn without_require_ledger_a_down_ledger_starts_the_month_from_zero(backend: Backend) {
    let config = BudgetConfig {
        require_ledger: false,
        ..config()
    };
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let ledger = FakeLedger::new();
    ledger.set_down(true);
    let b = breaker(&config, env.store.clone(), ledger.clone(), clock);
    assert!(b.check_ready().await, "ready although the ledger is down");
    spend(&b, "a", usd("3")).await;
    let status = b.status().await.unwrap();
    assert_eq!(status.spent, usd("3"), "counted from zero");
    // With the ledger required, a month without state (December here) is
    // refused and not ready.
    let strict = BudgetConfig {
        require_ledger: true,
        ..config.clone()
    };
    let clock = ManualClock::new(utc("2026-12-10T12:00:00Z"));
    let b = breaker(&strict, env.store.clone(), ledger, clock);
    assert!(!b.check_ready().await);
    assert!(b.admit("b", usd("1"), false).await.is_err());
}

async fn admin_reset_is_durable_and_starts_a_new_window(backend: Backend) {
    let config = config();
    let env = env(backend, &config).await;
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let ledger = FakeLedger::new();
    let b = breaker(&config, env.store.clone(), ledger.clone(), clock.clone());
    let a = b.admit("before-reset", usd("96"), false).await.unwrap();
    a.settle(usd("96")).await.unwrap();
    ledger.insert(record("before-reset", usd("96"), clock.now()));
    assert!(b.admit("blocked", Micros(1), false).await.is_err());

    assert!(matches!(
        b.reset(" ", "why").await,
        Err(BudgetError::Invalid(_))
    ));
    ledger.set_down(true);
    assert!(matches!(
        b.reset("ops@example.com", "new funds").await,
        Err(BudgetError::Unavailable(_))
    ));
    assert_eq!(
        b.status().await.unwrap().spent,
        usd("96"),
        "no reset without the ledger"
    );
    ledger.set_down(false);

    clock.advance(Duration::from_secs(60));
    let (before, after) = b.reset("ops@example.com", "new funds").await.unwrap();
    assert_eq!((before.spent, before.state), (usd("96"), BudgetState::Open));
    assert_eq!(
        (after.spent, after.state),
        (Micros::ZERO, BudgetState::Closed)
    );
    assert_eq!(after.window_start, clock.now());
    assert_eq!(ledger.resets.lock().len(), 1);
    assert_eq!(ledger.resets.lock()[0].actor, "ops@example.com");

    clock.advance(Duration::from_secs(60));
    let a = b.admit("after-reset", usd("2"), false).await.unwrap();
    a.settle(usd("2")).await.unwrap();
    ledger.insert(record("after-reset", usd("2"), clock.now()));

    // A rebuild (state lost) counts only spend since the reset.
    if let Some((handle, prefix)) = &env.redis {
        delete_prefix(handle, prefix).await;
        let status = b.status().await.unwrap();
        assert_eq!(status.spent, usd("2"));
        assert_eq!(status.window_start, utc("2026-11-10T12:01:00Z"));
    }
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_memory {
            use super::*;
            $( #[tokio::test] async fn $name() { super::$name(Backend::Memory).await } )*
        }
        mod on_redis {
            use super::*;
            $( #[tokio::test] async fn $name() { super::$name(Backend::Redis).await } )*
        }
        mod on_redis_cluster {
            use super::*;
            $( #[tokio::test] async fn $name() {
                if test_support::cluster_skipped() { return }
                super::$name(Backend::RedisCluster).await
            } )*
        }
    };
}

on_both!(
    exact_state_boundaries,
    a_worst_case_that_does_not_fit_is_refused_below_95,
    month_rolls_over_by_itself,
    a_reservation_never_settled_frees_after_the_ttl,
    a_dropped_admission_is_released,
    duplicate_call_ids_are_refused,
    lost_state_is_rebuilt_from_the_ledger_before_any_admission,
    rebuild_failure_fails_closed,
    without_require_ledger_a_down_ledger_starts_the_month_from_zero,
    admin_reset_is_durable_and_starts_a_new_window,
);

#[tokio::test]
async fn redis_flushed_mid_month_rebuilds_spend_equal_to_the_ledger() {
    let config = config();
    let env = env(Backend::Redis, &config).await;
    let (handle, prefix) = env.redis.as_ref().unwrap();
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let ledger = FakeLedger::new();
    let b = breaker(&config, env.store.clone(), ledger.clone(), clock.clone());
    for i in 0..20 {
        let id = format!("call-{i}");
        let a = b.admit(&id, usd("2"), false).await.unwrap();
        a.settle(usd("1.5")).await.unwrap();
        ledger.insert(record(&id, usd("1.5"), clock.now())); // as usage delivery would
    }
    assert_eq!(b.status().await.unwrap().spent, usd("30"));
    delete_prefix(handle, prefix).await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    *ledger.spend_gate.lock() = Some(gate.clone());
    let next = tokio::spawn({
        let b = b.clone();
        async move { b.admit("next", usd("1"), false).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!next.is_finished(), "no call admitted before the rebuild");
    gate.add_permits(1000);
    let _held = next.await.unwrap().unwrap();
    let status = b.status().await.unwrap();
    assert_eq!(status.spent, ledger.total());
    assert_eq!(status.reserved, usd("1"));
}
