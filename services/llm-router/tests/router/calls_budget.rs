//! The budget breaker on the real call path: refusals, the HALF_OPEN
//! downgrade, rebuilds from the real ledger, durable resets, and the
//! reservation of a router killed mid-call.

use std::time::Duration;

use fluentedge_proto::router::v1 as pb;
use pb::llm_router_client::LlmRouterClient;
use provider_sim::Vendor;
use test_support::ChildProcess;
use tonic::Code;

use crate::resilience::support::{delete_prefix, redis};
use crate::stack::*;
use crate::support::fault;

const USD: i64 = 1_000_000;

fn reason(status: &tonic::Status) -> &str {
    status
        .metadata()
        .get("x-error-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A ledger that already holds `spent_usd` of this month's spend.
async fn seeded(spent_usd: i64) -> UsageAccounting {
    let ledger = UsageAccounting::start().await;
    ledger.seed("spent-before", spent_usd * USD).await;
    ledger
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_budget_refuses_calls_with_budget_exceeded() {
    // 96 of 100 USD spent before this router started: OPEN from the ledger.
    let ledger = seeded(96).await;
    let mut s = Stack::on(Backend::Redis, ledger, &[("AI_MONTHLY_BUDGET_USD", "100")]).await;
    let budget = s.router.budget().await;
    assert_eq!(budget.state, pb::BudgetState::Open as i32);
    assert_eq!(budget.spent_micro_usd, 96 * USD);

    let status = s
        .router
        .client
        .complete(call("over-1", pb::Tier::CostEffective, "Hello"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(&status), "budget_exceeded");
    assert!(status.message().contains("budget"), "{}", status.message());
    let status = stream(
        &mut s.router.client,
        call("over-2", pb::Tier::Sota, "Hello"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(reason(&status), "budget_exceeded");
    // Refused before any provider saw it; nothing billed, nothing recorded.
    assert!(s.sim.requests().is_empty());
    assert_eq!(s.ledger.records().await.len(), 1);
    s.router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worst_case_that_does_not_fit_is_refused_below_the_block_threshold() {
    // 0.90 of 1 USD spent: HALF_OPEN, 0.10 USD left.
    let ledger = UsageAccounting::start().await;
    ledger.seed("spent-before", 900_000).await;
    let mut s = Stack::on(Backend::Redis, ledger, &[("AI_MONTHLY_BUDGET_USD", "1")]).await;
    // 32 768 output tokens at 10 USD/1M could cost 0.33 USD: it does not fit.
    let mut big = call("big", pb::Tier::Sota, "Hello");
    big.max_tokens = 32_768;
    let status = s.router.client.complete(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(&status), "budget_exceeded");
    assert!(
        status.message().contains("does not fit"),
        "{}",
        status.message()
    );
    // A call whose worst case fits passes: the budget is not OPEN.
    let small = s
        .router
        .client
        .complete(call("small", pb::Tier::CostEffective, "Hello"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(small.provider, "azure");
    let budget = s.router.budget().await;
    assert_eq!(budget.state, pb::BudgetState::HalfOpen as i32);
    assert_eq!(s.sim.request_count(Vendor::Azure), 1);
    s.router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_serves_sota_on_cost_effective_when_the_downgrade_is_on() {
    let ledger = seeded(85).await;
    let mut s = Stack::on(
        Backend::Redis,
        ledger,
        &[
            ("AI_MONTHLY_BUDGET_USD", "100"),
            ("BUDGET_DOWNGRADE_SOTA", "true"),
        ],
    )
    .await;
    let budget = s.router.budget().await;
    assert_eq!(budget.state, pb::BudgetState::HalfOpen as i32);
    assert!(budget.downgrade_enabled);
    let r = s
        .router
        .client
        .complete(call("down-1", pb::Tier::Sota, "Hello there"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.served_tier, pb::Tier::CostEffective as i32);
    assert_eq!(
        (r.provider.as_str(), r.model.as_str()),
        ("azure", "gpt-4o-mini")
    );
    let frames = stream(
        &mut s.router.client,
        call("down-2", pb::Tier::Sota, "Hello there"),
    )
    .await
    .unwrap();
    let Some(pb::stream_complete_response::Frame::Start(start)) = frames.first() else {
        panic!("{frames:?}")
    };
    assert_eq!(start.served_tier, pb::Tier::CostEffective as i32);
    assert_eq!(start.model, "gpt-4o-mini");
    let row = s.ledger.record("down-1").await;
    assert_eq!(
        (row.tier.as_str(), row.model.as_str()),
        ("cost_effective", "gpt-4o-mini")
    );
    // A cost_effective call is untouched, and explicit models are never downgraded.
    let r = s
        .router
        .client
        .complete(pb::CompleteRequest {
            model: "gpt-4o".into(),
            ..call("alias-1", pb::Tier::Unspecified, "Hi")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.model, "gpt-4o");
    s.router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_alert_threshold_sota_stays_sota() {
    let ledger = seeded(10).await;
    let s = Stack::on(
        Backend::Redis,
        ledger,
        &[
            ("AI_MONTHLY_BUDGET_USD", "100"),
            ("BUDGET_DOWNGRADE_SOTA", "true"),
        ],
    )
    .await;
    let r = s
        .router
        .client
        .clone()
        .complete(call("sota-1", pb::Tier::Sota, "Hello there"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.served_tier, r.model.as_str()),
        (pb::Tier::Sota as i32, "gpt-4o")
    );
    s.router.stop().await;
}

async fn calls(client: &mut LlmRouterClient<InterceptedChannel>, prefix: &str, n: usize) {
    for i in 0..n {
        client
            .complete(call(
                &format!("{prefix}-{i}"),
                pb::Tier::Sota,
                "Hello there",
            ))
            .await
            .unwrap();
    }
}

async fn wait_rows(ledger: &UsageAccounting, n: usize) {
    eventually(Duration::from_secs(20), "rows delivered", || async {
        ledger.records().await.len() == n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_redis_mid_month_is_rebuilt_to_the_ledgers_spend() {
    let ledger = seeded(7).await;
    let mut s = Stack::on(Backend::Redis, ledger, &[]).await;
    calls(&mut s.router.client, "before", 5).await;
    wait_rows(&s.ledger, 6).await;

    let handle = redis(Duration::from_secs(2)).await;
    delete_prefix(&handle, s.env.prefix.as_deref().unwrap()).await;
    handle.shutdown().await;

    // The next call finds no state: it is rebuilt from the ledger, never read as zero.
    calls(&mut s.router.client, "after", 1).await;
    wait_rows(&s.ledger, 7).await;
    let spend = s.ledger.spend().await;
    assert!(spend.spent_micro_usd > 7 * USD);
    let router = &s.router;
    eventually(
        Duration::from_secs(10),
        "GetBudget spent = GetSpend",
        || async { router.budget().await.spent_micro_usd == spend.spent_micro_usd },
    )
    .await;
    s.router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_budget_is_durable_a_later_rebuild_counts_only_spend_after_it() {
    let ledger = seeded(40).await;
    let mut s = Stack::on(Backend::Redis, ledger, &[]).await;
    calls(&mut s.router.client, "before", 3).await;
    wait_rows(&s.ledger, 4).await;

    let reset = s
        .router
        .admin
        .reset_budget(pb::ResetBudgetRequest {
            actor: "ops-jane".into(),
            reason: "new funds".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reset.before.unwrap().spent_micro_usd > 40 * USD);
    assert_eq!(reset.after.unwrap().spent_micro_usd, 0);
    // Records created from here on count; the reset is in the ledger too.
    tokio::time::sleep(Duration::from_millis(20)).await;
    calls(&mut s.router.client, "after", 2).await;
    wait_rows(&s.ledger, 6).await;
    let after: i64 = s
        .ledger
        .records()
        .await
        .iter()
        .filter(|r| r.call_id.starts_with("after-"))
        .map(|r| r.cost_micro_usd)
        .sum();
    assert!(after > 0);

    let handle = redis(Duration::from_secs(2)).await;
    delete_prefix(&handle, s.env.prefix.as_deref().unwrap()).await;
    handle.shutdown().await;
    let budget = s.router.budget().await;
    assert_eq!(budget.spent_micro_usd, after, "rebuilt from the reset on");
    assert_eq!(s.ledger.spend().await.spent_micro_usd, after);
    s.router.stop().await;
}

/// A router killed (SIGKILL) while a call holds a reservation: another
/// router sharing the Redis budget sees the reservation, then, after
/// `BUDGET_RESERVATION_TTL_MS`, sees it expire and the budget free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_killed_mid_call_frees_its_reservation_after_the_ttl() {
    let ledger = UsageAccounting::start().await;
    let sim = crate::support::sim().await;
    let mut env = RouterEnv::new(Backend::Redis, &sim, &ledger.url());
    env.set("BUDGET_RESERVATION_TTL_MS", "1500");
    env.set("ROUTER_LISTEN_ADDR", "127.0.0.1:0");
    // The call stays in flight at the provider.
    sim.set_fault(Vendor::Azure, fault("latency-ms=60000"), None);
    let mut doomed = ChildProcess::spawn("llm-router", &env.pairs());
    let doomed_addr = doomed.bound_addr().await;
    let mut doomed_client = LlmRouterClient::new(operator(format!("http://{doomed_addr}")));
    let observer = Router::start(&env).await;
    assert_eq!(observer.budget().await.reserved_micro_usd, 0);

    let in_flight = tokio::spawn(async move {
        doomed_client
            .complete(call("doomed-1", pb::Tier::CostEffective, "Hello there"))
            .await
    });
    let watcher = &observer;
    eventually(
        Duration::from_secs(20),
        "the reservation is visible",
        || async { watcher.budget().await.reserved_micro_usd > 0 },
    )
    .await;
    doomed.signal("KILL");
    doomed.wait_exit(Duration::from_secs(10)).await;
    assert!(
        in_flight.await.unwrap().is_err(),
        "the caller saw the router die"
    );
    assert!(
        observer.budget().await.reserved_micro_usd > 0,
        "held until it expires"
    );
    eventually(
        Duration::from_secs(20),
        "the reservation expires",
        || async { watcher.budget().await.reserved_micro_usd == 0 },
    )
    .await;
    let budget = observer.budget().await;
    assert_eq!(
        budget.spent_micro_usd, 0,
        "a call that never finished costs nothing"
    );
    observer.stop().await;
}
