//! Proto ⇄ domain. Field checks live in the domain; here only the shapes change.

use crate::domain::time::from_parts;
use crate::domain::{RecordDraft, ResetDraft, Spend, SummaryRow, UsageRecord, ValidationError};
use crate::ledger::LedgerError;
use chrono::{DateTime, Utc};
use fluentedge_proto::usage::v1 as pb;
use service_kit::{ErrorCode, ServiceError};

pub fn draft(r: pb::UsageRecord) -> RecordDraft {
    RecordDraft {
        created_at: r.created_at.map(|t| (t.seconds, t.nanos)),
        call_id: r.call_id,
        provider: r.provider,
        model: r.model,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        cost_micro_usd: r.cost_micro_usd,
        price_version: r.price_version,
        user_id: r.user_id,
        session_id: r.session_id,
        calling_service: r.calling_service,
        tier: r.tier,
        outcome: r.outcome,
        latency_ms: r.latency_ms,
        operation: r.operation,
        request_id: r.request_id,
    }
}

pub fn reset_draft(r: pb::RecordBudgetResetRequest) -> ResetDraft {
    ResetDraft {
        reset_at: r.reset_at.map(|t| (t.seconds, t.nanos)),
        reset_id: r.reset_id,
        actor: r.actor,
        reason: r.reason,
    }
}

/// An optional wire timestamp, checked.
pub fn time(
    field: &str,
    t: Option<prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    t.map(|t| from_parts(field, t.seconds, t.nanos)).transpose()
}

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn record(r: UsageRecord) -> pb::UsageRecord {
    pb::UsageRecord {
        call_id: r.call_id.as_str().to_owned(),
        created_at: Some(timestamp(r.created_at)),
        provider: r.provider,
        model: r.model,
        input_tokens: r.input_tokens.get(),
        output_tokens: r.output_tokens.get(),
        cost_micro_usd: r.cost.get(),
        price_version: r.price_version,
        user_id: r.user_id,
        session_id: r.session_id,
        calling_service: r.calling_service,
        tier: r.tier.as_str().to_owned(),
        outcome: r.outcome.wire(),
        latency_ms: r.latency_ms.get(),
        operation: r.operation.as_str().to_owned(),
        request_id: r.request_id,
    }
}

pub fn spend(s: Spend) -> pb::GetSpendResponse {
    pb::GetSpendResponse {
        spent_micro_usd: s.spent_micro_usd,
        record_count: s.record_count,
        counted_from: Some(timestamp(s.counted_from)),
    }
}

pub fn summary_row(r: SummaryRow) -> pb::UsageSummaryRow {
    pb::UsageSummaryRow {
        provider: r.provider,
        model: r.model,
        user_id: r.user_id,
        day: r.day,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        cost_micro_usd: r.cost_micro_usd,
        request_count: r.request_count,
    }
}

/// The caller's status. Internal details are logged here, once, and the
/// caller gets a safe message.
pub fn status(e: LedgerError) -> tonic::Status {
    match e {
        LedgerError::Invalid(v) => ServiceError::invalid(v.to_string()),
        LedgerError::Conflict(m) => ServiceError::new(ErrorCode::Conflict, m),
        LedgerError::Unavailable(m) => {
            tracing::warn!(error = %m, "usage.storage_unavailable");
            ServiceError::unavailable("the usage ledger database is unavailable; retry later")
        }
        LedgerError::Internal(m) => {
            tracing::error!(error = %m, "usage.storage_failed");
            ServiceError::internal("the usage ledger failed to process the request")
        }
    }
    .into_status()
}

pub fn invalid(e: ValidationError) -> tonic::Status {
    status(LedgerError::Invalid(e))
}
