//! The admin API's shapes (`/api/v1/admin/*`). Money is shown twice: exact
//! integer micro-USD and a decimal USD string; timestamps are RFC 3339 UTC.

use super::{non_empty, rfc3339, usd};
use fluentedge_proto::router::v1 as router;
use fluentedge_proto::usage::v1 as usage;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetDto {
    pub limit_micro_usd: i64,
    pub limit_usd: String,
    pub spent_micro_usd: i64,
    pub spent_usd: String,
    /// Worst-case cost held by calls in flight.
    pub reserved_micro_usd: i64,
    pub reserved_usd: String,
    /// spent / limit in basis points (10000 = 100%).
    pub utilisation_bp: u32,
    /// `CLOSED` (normal), `HALF_OPEN` (alerting) or `OPEN` (blocking),
    /// spelled as the manuals, the router's logs and its audit lines spell it.
    pub state: &'static str,
    pub period_start: Option<String>,
    pub next_reset: Option<String>,
    pub window_start: Option<String>,
    pub alert_threshold_bp: u32,
    pub block_threshold_bp: u32,
    pub downgrade_enabled: bool,
    /// `redis` or `memory`.
    pub store: String,
}

impl From<router::Budget> for BudgetDto {
    fn from(b: router::Budget) -> Self {
        let state = match b.state() {
            router::BudgetState::Closed => "CLOSED",
            router::BudgetState::HalfOpen => "HALF_OPEN",
            router::BudgetState::Open => "OPEN",
            router::BudgetState::Unspecified => "UNSPECIFIED",
        };
        Self {
            limit_usd: usd(b.limit_micro_usd),
            spent_usd: usd(b.spent_micro_usd),
            reserved_usd: usd(b.reserved_micro_usd),
            period_start: rfc3339(b.period_start.as_ref()),
            next_reset: rfc3339(b.next_reset.as_ref()),
            window_start: rfc3339(b.window_start.as_ref()),
            limit_micro_usd: b.limit_micro_usd,
            spent_micro_usd: b.spent_micro_usd,
            reserved_micro_usd: b.reserved_micro_usd,
            utilisation_bp: b.utilisation_bp,
            state,
            alert_threshold_bp: b.alert_threshold_bp,
            block_threshold_bp: b.block_threshold_bp,
            downgrade_enabled: b.downgrade_enabled,
            store: b.store,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetReply {
    pub budget: Option<BudgetDto>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ResetBudgetBody {
    /// Why (recorded in the audit log): at most 500 characters, no control
    /// characters other than tab, line feed and carriage return.
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetBudgetReply {
    pub before: Option<BudgetDto>,
    pub after: Option<BudgetDto>,
    /// Who reset it (the admin's subject).
    pub actor: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderDto {
    pub name: String,
    pub configured: bool,
    /// `closed`, `open` or `half_open`.
    pub breaker_state: &'static str,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_failure_at: Option<String>,
    pub recent_latency_ms: u64,
    pub retry_at: Option<String>,
    /// Position in the fallback order (0 = primary).
    pub priority: u32,
    pub base_url: Option<String>,
}

impl From<router::ProviderStatus> for ProviderDto {
    fn from(p: router::ProviderStatus) -> Self {
        let breaker_state = match p.breaker_state() {
            router::BreakerState::Closed => "closed",
            router::BreakerState::Open => "open",
            router::BreakerState::HalfOpen => "half_open",
            router::BreakerState::Unspecified => "unspecified",
        };
        Self {
            last_failure_at: rfc3339(p.last_failure_at.as_ref()),
            retry_at: rfc3339(p.retry_at.as_ref()),
            name: p.name,
            configured: p.configured,
            breaker_state,
            consecutive_failures: p.consecutive_failures,
            last_error: non_empty(p.last_error),
            recent_latency_ms: p.recent_latency_ms,
            priority: p.priority,
            base_url: non_empty(p.base_url),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersReply {
    pub providers: Vec<ProviderDto>,
    /// The pinned primary provider, absent when none.
    pub override_provider: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OverrideBody {
    /// A provider name from `GET /api/v1/admin/providers`.
    #[schema(min_length = 1)]
    pub provider: String,
    /// Why (recorded in the audit log): at most 500 characters, no control
    /// characters other than tab, line feed and carriage return.
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideReply {
    pub previous: Option<String>,
    pub current: Option<String>,
}

/// The period of a report: `month=YYYY-MM` (UTC), or `from`/`to` (RFC 3339,
/// `to` exclusive); neither means the current month.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// `YYYY-MM`; not with `from`/`to`.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
    /// RFC 3339; not with `month`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339, after `from`; not with `month`.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Comma list of `provider`, `model`, `user`, `day`; absent: one total.
    #[param(pattern = "^(provider|model|user|day)(,(provider|model|user|day))*$")]
    pub group_by: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageFilterQuery {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// The caller's `X-Request-ID`: every LLM call made for that request.
    pub request_id: Option<String>,
    /// 1 to 500 (default 50; 0 also means the default).
    #[param(maximum = 500)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRowDto {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub user_id: Option<String>,
    /// YYYY-MM-DD (UTC).
    pub day: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micro_usd: i64,
    pub cost_usd: String,
    pub request_count: u64,
}

impl From<usage::UsageSummaryRow> for UsageRowDto {
    fn from(r: usage::UsageSummaryRow) -> Self {
        Self {
            provider: non_empty(r.provider),
            model: non_empty(r.model),
            user_id: non_empty(r.user_id),
            day: non_empty(r.day),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_micro_usd: r.cost_micro_usd,
            cost_usd: usd(r.cost_micro_usd),
            request_count: r.request_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSummaryReply {
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub group_by: Vec<&'static str>,
    /// Highest cost first.
    pub rows: Vec<UsageRowDto>,
    pub total: Option<UsageRowDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRecordDto {
    /// The call's own id (the ledger's idempotency key).
    pub call_id: String,
    /// The `X-Request-ID` of the request the call was made for (absent on
    /// records from before it was kept).
    pub request_id: Option<String>,
    pub created_at: Option<String>,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micro_usd: i64,
    pub cost_usd: String,
    pub price_version: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub calling_service: Option<String>,
    pub tier: Option<String>,
    /// `success`, `failed`, `partial` or `cancelled`.
    pub outcome: &'static str,
    pub latency_ms: u64,
    /// `chat` or `embedding`.
    pub operation: Option<String>,
}

impl From<usage::UsageRecord> for UsageRecordDto {
    fn from(r: usage::UsageRecord) -> Self {
        let outcome = match r.outcome() {
            usage::Outcome::Success => "success",
            usage::Outcome::Failed => "failed",
            usage::Outcome::Partial => "partial",
            usage::Outcome::Cancelled => "cancelled",
            usage::Outcome::Unspecified => "unspecified",
        };
        Self {
            created_at: rfc3339(r.created_at.as_ref()),
            cost_usd: usd(r.cost_micro_usd),
            outcome,
            call_id: r.call_id,
            request_id: non_empty(r.request_id),
            provider: r.provider,
            model: r.model,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_micro_usd: r.cost_micro_usd,
            price_version: non_empty(r.price_version),
            user_id: non_empty(r.user_id),
            session_id: non_empty(r.session_id),
            calling_service: non_empty(r.calling_service),
            tier: non_empty(r.tier),
            latency_ms: r.latency_ms,
            operation: non_empty(r.operation),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageListReply {
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    /// Newest first.
    pub records: Vec<UsageRecordDto>,
    pub next_page_token: Option<String>,
}
