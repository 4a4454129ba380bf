//! The admin API (`/api/v1/admin/*`): the budget breaker, the providers and
//! the pin of the primary one (RouterAdmin), and usage reports (UsageLedger).
//! The router audits every change with the admin's subject as the actor.

use super::AppState;
use super::dto::admin::*;
use super::dto::{ErrorBody, current_month, month_bounds, non_empty, rfc3339, timestamp};
use super::extract::{Json, OptionalJson, Query};
use crate::auth::Principal;
use crate::backends::{ROUTER, USAGE};
use crate::errors::ApiError;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use fluentedge_proto::router::v1 as router;
use fluentedge_proto::usage::v1 as usage;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/budget", get(get_budget))
        .route("/api/v1/admin/budget/reset", post(reset_budget))
        .route("/api/v1/admin/providers", get(list_providers))
        .route(
            "/api/v1/admin/providers/override",
            put(set_override).delete(clear_override),
        )
        .route("/api/v1/admin/usage/summary", get(usage_summary))
        .route("/api/v1/admin/usage", get(list_usage))
}

fn router_failed(status: tonic::Status) -> ApiError {
    ApiError::from_status(ROUTER, &status)
}

fn usage_failed(status: tonic::Status) -> ApiError {
    ApiError::from_status(USAGE, &status)
}

/// The monthly budget breaker's state.
#[utoipa::path(get, path = "/api/v1/admin/budget", tag = "admin",
    responses((status = 200, body = BudgetReply), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("admin_key" = [])))]
pub(super) async fn get_budget(
    State(state): State<AppState>,
    _admin: Principal,
) -> Result<axum::Json<BudgetReply>, ApiError> {
    let reply = state
        .backends
        .router_admin()
        .get_budget(state.backends.unary(router::GetBudgetRequest {}))
        .await
        .map_err(router_failed)?
        .into_inner();
    Ok(axum::Json(BudgetReply {
        budget: reply.budget.map(Into::into),
    }))
}

/// Start a new budget window now (audited; the body is optional).
#[utoipa::path(post, path = "/api/v1/admin/budget/reset", tag = "admin",
    request_body(content = ResetBudgetBody, description = "Optional"),
    responses((status = 200, body = ResetBudgetReply), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("admin_key" = [])))]
pub(super) async fn reset_budget(
    State(state): State<AppState>,
    admin: Principal,
    OptionalJson(body): OptionalJson<ResetBudgetBody>,
) -> Result<axum::Json<ResetBudgetReply>, ApiError> {
    let actor = admin.subject.to_string();
    let reply = state
        .backends
        .router_admin()
        .reset_budget(state.backends.unary(router::ResetBudgetRequest {
            actor: actor.clone(),
            reason: body.unwrap_or_default().reason.unwrap_or_default(),
        }))
        .await
        .map_err(router_failed)?
        .into_inner();
    Ok(axum::Json(ResetBudgetReply {
        before: reply.before.map(Into::into),
        after: reply.after.map(Into::into),
        actor,
    }))
}

/// Every provider with its circuit breaker, and the pinned primary.
#[utoipa::path(get, path = "/api/v1/admin/providers", tag = "admin",
    responses((status = 200, body = ProvidersReply), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("admin_key" = [])))]
pub(super) async fn list_providers(
    State(state): State<AppState>,
    _admin: Principal,
) -> Result<axum::Json<ProvidersReply>, ApiError> {
    let reply = state
        .backends
        .router_admin()
        .list_providers(state.backends.unary(router::ListProvidersRequest {}))
        .await
        .map_err(router_failed)?
        .into_inner();
    Ok(axum::Json(ProvidersReply {
        providers: reply.providers.into_iter().map(Into::into).collect(),
        override_provider: non_empty(reply.override_provider),
    }))
}

/// Pin the primary provider at runtime (what `LLM_PROVIDER` does at start-up).
#[utoipa::path(put, path = "/api/v1/admin/providers/override", tag = "admin",
    request_body = OverrideBody,
    responses((status = 200, body = OverrideReply), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("admin_key" = [])))]
pub(super) async fn set_override(
    State(state): State<AppState>,
    admin: Principal,
    Json(body): Json<OverrideBody>,
) -> Result<axum::Json<OverrideReply>, ApiError> {
    if body.provider.trim().is_empty() {
        return Err(ApiError::invalid(
            "provider must name a provider; DELETE this resource to clear the pin",
        ));
    }
    pin(state, admin, body.provider, body.reason.unwrap_or_default()).await
}

/// Clear the pin: back to the configured order.
#[utoipa::path(delete, path = "/api/v1/admin/providers/override", tag = "admin",
    responses((status = 200, body = OverrideReply), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("admin_key" = [])))]
pub(super) async fn clear_override(
    State(state): State<AppState>,
    admin: Principal,
) -> Result<axum::Json<OverrideReply>, ApiError> {
    pin(state, admin, String::new(), String::new()).await
}

async fn pin(
    state: AppState,
    admin: Principal,
    provider: String,
    reason: String,
) -> Result<axum::Json<OverrideReply>, ApiError> {
    let reply = state
        .backends
        .router_admin()
        .set_provider_override(state.backends.unary(router::SetProviderOverrideRequest {
            provider,
            actor: admin.subject.to_string(),
            reason,
        }))
        .await
        .map_err(router_failed)?
        .into_inner();
    Ok(axum::Json(OverrideReply {
        previous: non_empty(reply.previous),
        current: non_empty(reply.current),
    }))
}

/// The period a report covers (see [`PeriodQuery`]).
fn period(q: &PeriodQuery, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let instant = |name: &str, v: &str| {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ApiError::invalid(format!("{name} must be an RFC 3339 time: {e}")))
    };
    match (&q.month, &q.from, &q.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            Err(ApiError::invalid("give either month or from/to, not both"))
        }
        (Some(month), None, None) => month_bounds(month).map_err(ApiError::invalid),
        (None, None, None) => month_bounds(&current_month(now)).map_err(ApiError::invalid),
        (None, from, to) => {
            let start = match from {
                Some(f) => instant("from", f)?,
                None => {
                    month_bounds(&current_month(now))
                        .map_err(ApiError::invalid)?
                        .0
                }
            };
            let end = match to {
                Some(t) => instant("to", t)?,
                None => now,
            };
            if end <= start {
                return Err(ApiError::invalid("to must be after from"));
            }
            Ok((start, end))
        }
    }
}

fn group_by(raw: Option<&str>) -> Result<(Vec<i32>, Vec<&'static str>), ApiError> {
    let mut codes = Vec::new();
    let mut names = Vec::new();
    for key in raw
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        let (code, name) = match key {
            "provider" => (usage::GroupBy::Provider, "provider"),
            "model" => (usage::GroupBy::Model, "model"),
            "user" | "user_id" => (usage::GroupBy::User, "user"),
            "day" => (usage::GroupBy::Day, "day"),
            other => {
                return Err(ApiError::invalid(format!(
                    "group_by: unknown key {other:?} (expected provider, model, user, day)"
                )));
            }
        };
        codes.push(code as i32);
        names.push(name);
    }
    Ok((codes, names))
}

/// Tokens and cost grouped by provider / model / user / day (the monthly cost analysis).
#[utoipa::path(get, path = "/api/v1/admin/usage/summary", tag = "admin",
    params(PeriodQuery, SummaryQuery),
    responses((status = 200, body = UsageSummaryReply), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("admin_key" = [])))]
pub(super) async fn usage_summary(
    State(state): State<AppState>,
    _admin: Principal,
    Query(p): Query<PeriodQuery>,
    Query(q): Query<SummaryQuery>,
) -> Result<axum::Json<UsageSummaryReply>, ApiError> {
    let (start, end) = period(&p, Utc::now())?;
    let (codes, names) = group_by(q.group_by.as_deref())?;
    let (start, end) = (timestamp(start), timestamp(end));
    let reply = state
        .backends
        .usage()
        .get_usage_summary(state.backends.unary(usage::GetUsageSummaryRequest {
            period_start: Some(start),
            period_end: Some(end),
            group_by: codes,
        }))
        .await
        .map_err(usage_failed)?
        .into_inner();
    Ok(axum::Json(UsageSummaryReply {
        period_start: rfc3339(Some(&start)),
        period_end: rfc3339(Some(&end)),
        group_by: names,
        rows: reply.rows.into_iter().map(Into::into).collect(),
        total: reply.total.map(Into::into),
    }))
}

/// Usage records, filtered, newest first.
#[utoipa::path(get, path = "/api/v1/admin/usage", tag = "admin",
    params(PeriodQuery, UsageFilterQuery),
    responses((status = 200, body = UsageListReply), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("admin_key" = [])))]
pub(super) async fn list_usage(
    State(state): State<AppState>,
    _admin: Principal,
    Query(p): Query<PeriodQuery>,
    Query(q): Query<UsageFilterQuery>,
) -> Result<axum::Json<UsageListReply>, ApiError> {
    let (start, end) = period(&p, Utc::now())?;
    let (start, end) = (timestamp(start), timestamp(end));
    let reply = state
        .backends
        .usage()
        .list_usage(state.backends.unary(usage::ListUsageRequest {
            period_start: Some(start),
            period_end: Some(end),
            provider: q.provider.unwrap_or_default(),
            model: q.model.unwrap_or_default(),
            user_id: q.user_id.unwrap_or_default(),
            session_id: q.session_id.unwrap_or_default(),
            request_id: q.request_id.unwrap_or_default(),
            page_size: q.page_size.unwrap_or(0),
            page_token: q.page_token.unwrap_or_default(),
        }))
        .await
        .map_err(usage_failed)?
        .into_inner();
    Ok(axum::Json(UsageListReply {
        period_start: rfc3339(Some(&start)),
        period_end: rfc3339(Some(&end)),
        records: reply.records.into_iter().map(Into::into).collect(),
        next_page_token: non_empty(reply.next_page_token),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn q(month: Option<&str>, from: Option<&str>, to: Option<&str>) -> PeriodQuery {
        PeriodQuery {
            month: month.map(Into::into),
            from: from.map(Into::into),
            to: to.map(Into::into),
        }
    }

    #[test]
    fn periods() {
        let now = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
        let (s, e) = period(&q(None, None, None), now).unwrap();
        assert_eq!(
            (s.to_rfc3339(), e.to_rfc3339()),
            (
                "2026-11-01T00:00:00+00:00".into(),
                "2026-12-01T00:00:00+00:00".into()
            )
        );
        let (s, _) = period(&q(Some("2026-02"), None, None), now).unwrap();
        assert_eq!(s.to_rfc3339(), "2026-02-01T00:00:00+00:00");
        let (s, e) = period(&q(None, Some("2026-11-02T00:00:00Z"), None), now).unwrap();
        assert_eq!(
            (s.to_rfc3339(), e),
            ("2026-11-02T00:00:00+00:00".into(), now)
        );
        assert!(period(&q(Some("2026-02"), Some("2026-11-02T00:00:00Z"), None), now).is_err());
        assert!(period(&q(None, Some("yesterday"), None), now).is_err());
        assert!(
            period(
                &q(
                    None,
                    Some("2026-11-02T00:00:00Z"),
                    Some("2026-11-01T00:00:00Z")
                ),
                now
            )
            .is_err()
        );
    }

    #[test]
    fn group_keys() {
        let (codes, names) = group_by(Some("provider, model,day")).unwrap();
        assert_eq!(names, ["provider", "model", "day"]);
        assert_eq!(codes, [1, 2, 4]);
        let e = group_by(Some("colour")).unwrap_err();
        assert!(e.message().contains("colour"));
        assert!(group_by(None).unwrap().0.is_empty());
    }
}
