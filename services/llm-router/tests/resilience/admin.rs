//! The admin domain service and its gRPC adapter.

use super::support::{FakeLedger, breaker, memory_store, usd, utc};
use fluentedge_proto::router::v1 as pb;
use llm_router::admin::grpc::RouterAdminApi;
use llm_router::admin::{AdminError, AdminService, ProviderInfo, ProviderOverride};
use llm_router::budget::BudgetConfig;
use llm_router::clock::ManualClock;
use llm_router::resilience::{BreakerConfig, BreakerState, Breakers};
use pb::router_admin_server::RouterAdmin;
use std::sync::Arc;
use tonic::Request;

struct Setup {
    service: Arc<AdminService>,
    breakers: Arc<Breakers>,
    pinned: Arc<ProviderOverride>,
    ledger: Arc<FakeLedger>,
}

fn setup() -> Setup {
    let config = BudgetConfig {
        limit: usd("100"),
        ..BudgetConfig::default()
    };
    let clock = ManualClock::new(utc("2026-11-10T12:00:00Z"));
    let ledger = FakeLedger::new();
    let budget = breaker(
        &config,
        memory_store(&config),
        ledger.clone(),
        clock.clone(),
    );
    let breakers = Arc::new(Breakers::new(BreakerConfig::default(), clock));
    let pinned = Arc::new(ProviderOverride::new(None));
    let providers = vec![
        ProviderInfo {
            name: "anthropic".into(),
            configured: true,
            priority: 1,
            base_url: "https://api.anthropic.com".into(),
        },
        ProviderInfo {
            name: "azure".into(),
            configured: true,
            priority: 0,
            base_url: "https://x.openai.azure.com".into(),
        },
        ProviderInfo {
            name: "bedrock".into(),
            configured: false,
            priority: 2,
            base_url: String::new(),
        },
    ];
    let service = Arc::new(AdminService::new(
        budget,
        breakers.clone(),
        providers,
        pinned.clone(),
    ));
    Setup {
        service,
        breakers,
        pinned,
        ledger,
    }
}

#[tokio::test]
async fn lists_providers_in_priority_order_with_their_breakers() {
    let s = setup();
    let azure = s.breakers.get("azure");
    for _ in 0..5 {
        let p = azure.try_acquire().unwrap();
        azure.record_failure(p, "http 503");
    }
    let view = s.service.list_providers();
    let names: Vec<_> = view
        .providers
        .iter()
        .map(|p| p.info.name.as_str())
        .collect();
    assert_eq!(names, vec!["azure", "anthropic", "bedrock"]);
    assert_eq!(view.providers[0].breaker.state, BreakerState::Open);
    assert_eq!(
        view.providers[0].breaker.last_error.as_deref(),
        Some("http 503")
    );
    assert_eq!(view.providers[1].breaker.state, BreakerState::Closed);
    assert_eq!(view.override_provider, None);
}

#[tokio::test]
async fn provider_override_is_validated_and_reversible() {
    let s = setup();
    assert!(matches!(
        s.service
            .set_provider_override("openrouter", "ops", "test")
            .await,
        Err(AdminError::UnknownProvider { .. })
    ));
    assert!(matches!(
        s.service
            .set_provider_override("bedrock", "ops", "test")
            .await,
        Err(AdminError::Invalid(_))
    ));
    assert!(matches!(
        s.service
            .set_provider_override("anthropic", "  ", "test")
            .await,
        Err(AdminError::Invalid(_))
    ));
    assert_eq!(
        s.service
            .set_provider_override("anthropic", "ops", "azure outage")
            .await
            .unwrap(),
        (None, Some("anthropic".into()))
    );
    assert_eq!(
        s.pinned.get().as_deref().map(String::as_str),
        Some("anthropic")
    );
    assert_eq!(
        s.service
            .set_provider_override("", "ops", "resolved")
            .await
            .unwrap(),
        (Some("anthropic".into()), None)
    );
    assert_eq!(s.pinned.get(), None);
}

#[tokio::test]
async fn the_grpc_adapter_maps_budget_providers_and_errors() {
    let s = setup();
    let api = RouterAdminApi::new(s.service.clone());
    let budget = api
        .get_budget(Request::new(pb::GetBudgetRequest {}))
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!(budget.limit_micro_usd, 100_000_000);
    assert_eq!(budget.state, pb::BudgetState::Closed as i32);
    assert_eq!(budget.store, "memory");
    assert_eq!(
        (budget.alert_threshold_bp, budget.block_threshold_bp),
        (8_000, 9_500)
    );
    assert_eq!(
        budget.period_start.unwrap().seconds,
        utc("2026-11-01T00:00:00Z").timestamp()
    );
    assert_eq!(
        budget.next_reset.unwrap().seconds,
        utc("2026-12-01T00:00:00Z").timestamp()
    );

    let reset = api
        .reset_budget(Request::new(pb::ResetBudgetRequest {
            actor: "ops@example.com".into(),
            reason: "drill".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reset.after.unwrap().spent_micro_usd, 0);
    assert_eq!(s.ledger.resets.lock()[0].actor, "ops@example.com");

    let no_actor = api
        .reset_budget(Request::new(pb::ResetBudgetRequest {
            actor: String::new(),
            reason: "drill".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(no_actor.code(), tonic::Code::InvalidArgument);

    let providers = api
        .list_providers(Request::new(pb::ListProvidersRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(providers.providers.len(), 3);
    assert_eq!(providers.providers[0].name, "azure");
    assert_eq!(
        providers.providers[0].breaker_state,
        pb::BreakerState::Closed as i32
    );

    let unknown = api
        .set_provider_override(Request::new(pb::SetProviderOverrideRequest {
            provider: "nope".into(),
            actor: "ops".into(),
            reason: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    assert!(unknown.message().contains("azure"), "{}", unknown.message());
    let set = api
        .set_provider_override(Request::new(pb::SetProviderOverrideRequest {
            provider: "anthropic".into(),
            actor: "ops".into(),
            reason: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (set.previous.as_str(), set.current.as_str()),
        ("", "anthropic")
    );
}
