//! The `RouterAdmin` gRPC adapter: proto in, [`AdminService`] call, proto or
//! `Status` out. The actor is the request's `actor` field, else the
//! authenticated subject the gateway forwarded.

use super::{AdminService, ProviderView};
use crate::budget::{BudgetState, BudgetStatus};
use crate::resilience::BreakerState;
use chrono::{DateTime, Utc};
use fluentedge_proto::router::v1 as pb;
use pb::router_admin_server::RouterAdmin;
use service_kit::{RequestContext, ServiceError};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct RouterAdminApi {
    service: Arc<AdminService>,
}

impl RouterAdminApi {
    pub fn new(service: Arc<AdminService>) -> Self {
        Self { service }
    }
}

fn status(e: impl Into<ServiceError>) -> Status {
    e.into().into_status()
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn actor_of(given: &str) -> String {
    let given = given.trim();
    if !given.is_empty() {
        return given.to_owned();
    }
    RequestContext::current()
        .and_then(|c| c.subject)
        .unwrap_or_default()
}

pub fn budget_pb(s: &BudgetStatus) -> pb::Budget {
    pb::Budget {
        limit_micro_usd: s.limit.0,
        spent_micro_usd: s.spent.0,
        reserved_micro_usd: s.reserved.0,
        utilisation_bp: s.utilisation_bp,
        state: match s.state {
            BudgetState::Closed => pb::BudgetState::Closed,
            BudgetState::HalfOpen => pb::BudgetState::HalfOpen,
            BudgetState::Open => pb::BudgetState::Open,
        } as i32,
        period_start: Some(ts(s.period.start)),
        next_reset: Some(ts(s.next_reset)),
        window_start: Some(ts(s.window_start)),
        alert_threshold_bp: s.alert_bp,
        block_threshold_bp: s.block_bp,
        downgrade_enabled: s.downgrade_enabled,
        store: s.store.to_owned(),
    }
}

fn provider_pb(p: &ProviderView) -> pb::ProviderStatus {
    let b = &p.breaker;
    pb::ProviderStatus {
        name: p.info.name.clone(),
        configured: p.info.configured,
        breaker_state: match b.state {
            BreakerState::Closed => pb::BreakerState::Closed,
            BreakerState::Open => pb::BreakerState::Open,
            BreakerState::HalfOpen => pb::BreakerState::HalfOpen,
        } as i32,
        consecutive_failures: b.consecutive_failures,
        last_error: b.last_error.clone().unwrap_or_default(),
        last_failure_at: b.last_failure_at.map(ts),
        recent_latency_ms: b
            .recent_latency
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
        retry_at: b.retry_at.map(ts),
        priority: p.info.priority,
        base_url: p.info.base_url.clone(),
    }
}

/// Longest audit reason accepted (documented in the proto and OpenAPI).
pub const MAX_REASON_CHARS: usize = 500;

fn check_reason(reason: &str) -> Result<(), Status> {
    service_kit::text::check_field("reason", reason, MAX_REASON_CHARS)
        .map_err(Status::invalid_argument)
}

/// The audit line's "who": the verified person (or service) the token names,
/// not a name the request body claims.
fn verified_actor<T>(request: &Request<T>) -> Option<String> {
    let caller = request.extensions().get::<service_kit::auth::Caller>()?;
    Some(
        caller
            .subject
            .clone()
            .unwrap_or_else(|| caller.issuer.to_string()),
    )
}

#[tonic::async_trait]
impl RouterAdmin for RouterAdminApi {
    async fn get_budget(
        &self,
        _request: Request<pb::GetBudgetRequest>,
    ) -> Result<Response<pb::GetBudgetResponse>, Status> {
        let budget = self.service.get_budget().await.map_err(status)?;
        Ok(Response::new(pb::GetBudgetResponse {
            budget: Some(budget_pb(&budget)),
        }))
    }

    async fn reset_budget(
        &self,
        request: Request<pb::ResetBudgetRequest>,
    ) -> Result<Response<pb::ResetBudgetResponse>, Status> {
        let actor = verified_actor(&request);
        let req = request.into_inner();
        check_reason(&req.reason)?;
        let (before, after) = self
            .service
            .reset_budget(&actor.unwrap_or_else(|| actor_of(&req.actor)), &req.reason)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ResetBudgetResponse {
            before: Some(budget_pb(&before)),
            after: Some(budget_pb(&after)),
        }))
    }

    async fn list_providers(
        &self,
        _request: Request<pb::ListProvidersRequest>,
    ) -> Result<Response<pb::ListProvidersResponse>, Status> {
        let view = self.service.list_providers();
        Ok(Response::new(pb::ListProvidersResponse {
            providers: view.providers.iter().map(provider_pb).collect(),
            override_provider: view.override_provider.unwrap_or_default(),
        }))
    }

    async fn set_provider_override(
        &self,
        request: Request<pb::SetProviderOverrideRequest>,
    ) -> Result<Response<pb::SetProviderOverrideResponse>, Status> {
        let actor = verified_actor(&request);
        let req = request.into_inner();
        check_reason(&req.reason)?;
        let (previous, current) = self
            .service
            .set_provider_override(
                &req.provider,
                &actor.unwrap_or_else(|| actor_of(&req.actor)),
                &req.reason,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SetProviderOverrideResponse {
            previous: previous.unwrap_or_default(),
            current: current.unwrap_or_default(),
        }))
    }
}
