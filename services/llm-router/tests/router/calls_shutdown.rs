//! Shutdown under load: the real router binary gets SIGTERM while calls are
//! in flight and settling. Every call it answered has its one ledger row, the
//! budget counted exactly what the ledger did (no settle lost, none twice),
//! and no reservation is left behind.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use fluentedge_proto::router::v1 as pb;
use parking_lot::Mutex;
use pb::llm_router_client::LlmRouterClient;
use provider_sim::Vendor;
use test_support::ChildProcess;

use crate::stack::*;
use crate::support::fault;

#[derive(Default)]
struct Calls {
    /// Every request id sent.
    started: BTreeSet<String>,
    /// The ones answered OK.
    answered: BTreeSet<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_settlement_under_load_loses_no_settle_and_no_record() {
    let ledger = UsageAccounting::start().await;
    let sim = crate::support::sim().await;
    let mut env = RouterEnv::new(Backend::Redis, &sim, &ledger.url());
    env.set("ROUTER_LISTEN_ADDR", "127.0.0.1:0");
    // Calls spend a moment at the provider, so SIGTERM finds many in flight
    // and many settling.
    sim.set_fault(Vendor::Azure, fault("latency-ms=30"), None);
    let mut router = ChildProcess::spawn("llm-router", &env.pairs());
    let addr = format!("http://{}", router.bound_addr().await);
    let admin = pb::router_admin_client::RouterAdminClient::new(operator(&addr));
    eventually(Duration::from_secs(20), "the router is ready", || {
        let mut admin = admin.clone();
        async move { admin.get_budget(pb::GetBudgetRequest {}).await.is_ok() }
    })
    .await;

    let calls = Arc::new(Mutex::new(Calls::default()));
    let mut workers = Vec::new();
    for w in 0..16 {
        let mut client = LlmRouterClient::new(operator(&addr));
        let calls = calls.clone();
        workers.push(tokio::spawn(async move {
            for n in 0.. {
                let id = format!("term-{w}-{n}");
                calls.lock().started.insert(id.clone());
                match client
                    .complete(call(&id, pb::Tier::CostEffective, "Hello there"))
                    .await
                {
                    Ok(_) => calls.lock().answered.insert(id),
                    // The router is going away: refused, or the connection closed.
                    Err(_) => return,
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    router.signal("TERM");
    assert_eq!(
        router.wait_exit(Duration::from_secs(60)).await,
        Some(0),
        "the router drains and exits cleanly"
    );
    for w in workers {
        w.await.unwrap();
    }
    let Calls { started, answered } = std::mem::take(&mut *calls.lock());
    assert!(answered.len() > 50, "{} calls answered", answered.len());

    // Records left in the outbox are delivered by the next router.
    let next = Router::start(&env).await;
    let ledger_ref = &ledger;
    let expected = answered.len();
    eventually(
        Duration::from_secs(60),
        "every answered call is in the ledger",
        || async {
            let ids: BTreeSet<String> = ledger_ref
                .records()
                .await
                .into_iter()
                .map(|r| r.call_id)
                .collect();
            ids.len() >= expected && answered.is_subset(&ids)
        },
    )
    .await;
    let rows = ledger.records().await;
    let ids: BTreeSet<String> = rows.iter().map(|r| r.call_id.clone()).collect();
    assert_eq!(ids.len(), rows.len(), "no call recorded twice");
    assert!(ids.is_subset(&started), "no row for a call never made");

    let budget = next.budget().await;
    assert_eq!(budget.reserved_micro_usd, 0, "no reservation left behind");
    assert_eq!(
        budget.spent_micro_usd,
        ledger.spend().await.spent_micro_usd,
        "the budget counted every settle the ledger has, once"
    );
    next.stop().await;
}

/// What a caller saw of a call the shutdown cancelled.
fn unavailable(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable
}

/// Calls that outlast the grace period: 20 streams and 10 unary calls wait
/// at the provider when the router gets SIGTERM with a short grace. Each is
/// cancelled at the end of the grace: its caller gets a terminal error
/// (UNAVAILABLE; a stream's last frame says so), its usage record reaches the
/// ledger, and its reservation is settled before the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outlasting_the_grace_are_cancelled_recorded_and_settled() {
    const STREAMS: usize = 20;
    const UNARY: usize = 10;
    let ledger = UsageAccounting::start().await;
    let sim = crate::support::sim().await;
    let mut env = RouterEnv::new(Backend::Redis, &sim, &ledger.url());
    env.set("ROUTER_LISTEN_ADDR", "127.0.0.1:0");
    env.set("SHUTDOWN_GRACE_MS", "500");
    sim.set_fault(Vendor::Azure, fault("latency-ms=60000"), None);
    let mut router = ChildProcess::spawn("llm-router", &env.pairs());
    let addr = format!("http://{}", router.bound_addr().await);
    let observer = Router::start(&env).await;

    let mut streams = Vec::new();
    for i in 0..STREAMS {
        let mut client = LlmRouterClient::new(operator(&addr));
        streams.push(tokio::spawn(async move {
            stream(
                &mut client,
                call(&format!("long-stream-{i}"), pb::Tier::CostEffective, "Hi"),
            )
            .await
        }));
    }
    let mut unary = Vec::new();
    for i in 0..UNARY {
        let mut client = LlmRouterClient::new(operator(&addr));
        unary.push(tokio::spawn(async move {
            client
                .complete(call(
                    &format!("long-unary-{i}"),
                    pb::Tier::CostEffective,
                    "Hi",
                ))
                .await
        }));
    }
    let sim_ref = &sim;
    eventually(
        Duration::from_secs(30),
        "every call waits at the provider",
        || async { sim_ref.request_count(Vendor::Azure) >= STREAMS + UNARY },
    )
    .await;
    assert!(observer.budget().await.reserved_micro_usd > 0);

    router.signal("TERM");
    assert_eq!(router.wait_exit(Duration::from_secs(30)).await, Some(0));

    for s in streams {
        match s.await.unwrap() {
            Err(status) => assert!(unavailable(&status), "{status:?}"),
            Ok(frames) => match frames.last() {
                Some(pb::stream_complete_response::Frame::Error(e)) => {
                    assert_eq!(e.grpc_code, tonic::Code::Unavailable as u32, "{e:?}");
                }
                other => panic!("a stream ended without a terminal error: {other:?}"),
            },
        }
    }
    for u in unary {
        let status = u.await.unwrap().expect_err("cancelled");
        assert!(unavailable(&status), "{status:?}");
    }

    let ledger_ref = &ledger;
    eventually(Duration::from_secs(30), "a ledger row per call", || async {
        ledger_ref.records().await.len() >= STREAMS + UNARY
    })
    .await;
    let rows = ledger.records().await;
    assert_eq!(rows.len(), STREAMS + UNARY, "one row per call started");
    assert!(
        rows.iter()
            .all(|r| r.outcome == fluentedge_proto::usage::v1::Outcome::Cancelled as i32),
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|r| r.cost_micro_usd > 0),
        "the prompt is billed"
    );
    let budget = observer.budget().await;
    assert_eq!(budget.reserved_micro_usd, 0, "every reservation settled");
    assert_eq!(budget.spent_micro_usd, ledger.spend().await.spent_micro_usd);
    observer.stop().await;
}
