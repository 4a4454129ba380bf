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
                .map(|r| r.request_id)
                .collect();
            ids.len() >= expected && answered.is_subset(&ids)
        },
    )
    .await;
    let rows = ledger.records().await;
    let ids: BTreeSet<String> = rows.iter().map(|r| r.request_id.clone()).collect();
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
