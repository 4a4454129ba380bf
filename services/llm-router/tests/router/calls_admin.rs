//! The `RouterAdmin` RPCs on the real binary: the runtime pin of the primary
//! (audited), and readiness as orchestrators probe it.

use std::time::Duration;

use fluentedge_proto::router::v1 as pb;
use pb::llm_router_client::LlmRouterClient;
use pb::router_admin_client::RouterAdminClient;
use test_support::ChildProcess;
use tonic::Code;

use crate::stack::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_provider_override_pins_the_primary_and_is_audited() {
    let ledger = UsageAccounting::start().await;
    let sim = crate::support::sim().await;
    let mut env = RouterEnv::new(Backend::Embedded, &sim, &ledger.url());
    env.set("ROUTER_LISTEN_ADDR", "127.0.0.1:0");
    let router = ChildProcess::spawn("llm-router", &env.pairs());
    let addr = format!("http://{}", router.bound_addr().await);
    let mut client = LlmRouterClient::new(operator(addr.clone()));
    let mut admin = RouterAdminClient::new(operator(addr.clone()));
    router
        .wait_for_log(Duration::from_secs(20), |v| v["event"] == "budget.ready")
        .await;
    let store = router
        .wait_for_log(Duration::from_secs(5), |v| v["event"] == "budget.store")
        .await;
    assert_eq!(store["store"], "memory");
    assert!(
        store["scope"].as_str().unwrap().contains("single replica"),
        "{store}"
    );

    let served = |r: pb::CompleteResponse| r.provider;
    let r = client
        .complete(call("p-1", pb::Tier::Sota, "Hi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(served(r), "azure");

    let changed = admin
        .set_provider_override(pb::SetProviderOverrideRequest {
            provider: "vertex".into(),
            actor: "ops-jane".into(),
            reason: "azure incident".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (changed.previous.as_str(), changed.current.as_str()),
        ("", "vertex")
    );
    let r = client
        .complete(call("p-2", pb::Tier::Sota, "Hi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        served(r),
        "vertex",
        "the next call is served by the pinned provider"
    );
    let list = admin
        .list_providers(pb::ListProvidersRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.override_provider, "vertex");
    let audit = router
        .wait_for_log(Duration::from_secs(5), |v| {
            v["event"] == "audit" && v["action"] == "provider.override"
        })
        .await;
    // The audit names the verified caller (the operator token), not the body's claim.
    assert_eq!(audit["actor"], "test-operator");
    assert_eq!(audit["before"], "");
    assert_eq!(audit["after"], "vertex");
    assert_eq!(audit["reason"], "azure incident");

    // Unknown providers are refused; an empty provider clears the pin.
    let status = admin
        .set_provider_override(pb::SetProviderOverrideRequest {
            provider: "azur".into(),
            actor: "ops-jane".into(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("azure"), "{}", status.message());
    admin
        .set_provider_override(pb::SetProviderOverrideRequest {
            provider: String::new(),
            actor: "ops-jane".into(),
            reason: "resolved".into(),
        })
        .await
        .unwrap();
    let r = client
        .complete(call("p-3", pb::Tier::Sota, "Hi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(served(r), "azure");
    let row = ledger.record("p-2").await;
    assert_eq!(row.provider, "vertex");
    // Settled before its record was submitted: nothing left to land after the reset.
    ledger.record("p-3").await;

    // The README's ResetBudget, audited and recorded in the ledger.
    let token = service_kit::auth::development_signer(service_kit::auth::Issuer::Operator)
        .token(Some("ops-jane"), service_kit::auth::Role::Admin)
        .unwrap();
    let out = test_support::grpcurl()
        .args([
            "-plaintext",
            "-H",
            &format!("authorization: Bearer {token}"),
            "-d",
            r#"{"actor":"ops-jane","reason":"new funds approved"}"#,
        ])
        .arg(addr.trim_start_matches("http://"))
        .arg("fluentedge.router.v1.RouterAdmin/ResetBudget")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"after\""), "{stdout}");
    let audit = router
        .wait_for_log(Duration::from_secs(5), |v| {
            v["event"] == "audit" && v["action"] == "budget.reset"
        })
        .await;
    // The audit names the person the operator's token names.
    assert_eq!(audit["actor"], "ops-jane");
    assert_eq!(
        admin
            .get_budget(pb::GetBudgetRequest {})
            .await
            .unwrap()
            .into_inner()
            .budget
            .unwrap()
            .spent_micro_usd,
        0
    );
}

/// Readiness follows the budget: NOT_SERVING while the ledger cannot
/// rebuild the month (Redis mode requires it), SERVING once it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_the_ledger_rebuild_with_redis() {
    let mut ledger = UsageAccounting::start().await;
    ledger.kill().await;
    let sim = crate::support::sim().await;
    let mut env = RouterEnv::new(Backend::Redis, &sim, &ledger.url());
    env.set("ROUTER_LISTEN_ADDR", "127.0.0.1:0");
    let router = ChildProcess::spawn("llm-router", &env.pairs());
    let addr = router.bound_addr().await.to_string();
    let health = |addr: String| async move {
        let out = test_support::grpcurl()
            .args(["-plaintext", &addr, "grpc.health.v1.Health/Check"])
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    router
        .wait_for_log(Duration::from_secs(20), |v| {
            v["event"] == "budget.not_ready"
        })
        .await;
    assert!(health(addr.clone()).await.contains("NOT_SERVING"));
    // Calls are refused (fail closed) rather than counted from zero.
    let mut client = LlmRouterClient::new(operator(format!("http://{addr}")));
    let status = client
        .complete(call("r-1", pb::Tier::Sota, "Hi"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(sim.requests().is_empty());

    ledger.restart().await;
    router
        .wait_for_log(Duration::from_secs(20), |v| v["event"] == "budget.ready")
        .await;
    assert!(health(addr.clone()).await.contains("\"SERVING\""));
    client
        .complete(call("r-2", pb::Tier::Sota, "Hi"))
        .await
        .unwrap();
}

/// With Redis the pin is shared: set on one replica, it reaches the others
/// within their sync interval (100 ms here, 1 s by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pin_reaches_every_replica_sharing_redis() {
    let ledger = UsageAccounting::start().await;
    let sim = crate::support::sim().await;
    let env = RouterEnv::new(Backend::Redis, &sim, &ledger.url());
    let a = Router::start(&env).await;
    let b = Router::start(&env).await;
    let pin = |provider: &str| pb::SetProviderOverrideRequest {
        provider: provider.into(),
        actor: "ops-jane".into(),
        reason: "drill".into(),
    };
    a.admin
        .clone()
        .set_provider_override(pin("bedrock"))
        .await
        .unwrap();
    let replica = &b;
    eventually(Duration::from_secs(5), "the pin reaches b", || async {
        replica.providers().await.override_provider == "bedrock"
    })
    .await;
    let r = b
        .client
        .clone()
        .complete(call("shared-1", pb::Tier::Sota, "Hi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.provider, "bedrock");
    b.admin
        .clone()
        .set_provider_override(pin(""))
        .await
        .unwrap();
    let replica = &a;
    eventually(Duration::from_secs(5), "the clear reaches a", || async {
        replica.providers().await.override_provider.is_empty()
    })
    .await;
    a.stop().await;
    b.stop().await;
}
