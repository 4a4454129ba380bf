//! gRPC adapters: proto in, ledger call, proto or Status out.

pub mod access;
mod convert;

use crate::domain::{ItemOutcome, ListDraft, ValidationError};
use crate::ledger::Ledger;
use convert::{invalid, status, time};
use fluentedge_proto::usage::v1 as pb;
use fluentedge_proto::usage::v1::usage_ledger_server::UsageLedger;
use tonic::{Request, Response, Status};

pub struct UsageLedgerApi {
    ledger: Ledger,
}

impl UsageLedgerApi {
    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }
}

fn result_of(outcome: &ItemOutcome) -> pb::RecordResult {
    match outcome {
        ItemOutcome::Created => pb::RecordResult::Created,
        ItemOutcome::Duplicate => pb::RecordResult::Duplicate,
        ItemOutcome::Invalid(_) | ItemOutcome::Conflict(_) => pb::RecordResult::Rejected,
    }
}

#[tonic::async_trait]
impl UsageLedger for UsageLedgerApi {
    async fn record_usage(
        &self,
        request: Request<pb::RecordUsageRequest>,
    ) -> Result<Response<pb::RecordUsageResponse>, Status> {
        let record = request
            .into_inner()
            .record
            .ok_or_else(|| invalid(ValidationError::new("record", "required")))?;
        let outcome = self
            .ledger
            .record(convert::draft(record))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RecordUsageResponse {
            result: result_of(&outcome).into(),
        }))
    }

    async fn record_usage_batch(
        &self,
        request: Request<pb::RecordUsageBatchRequest>,
    ) -> Result<Response<pb::RecordUsageBatchResponse>, Status> {
        let drafts: Vec<_> = request
            .into_inner()
            .records
            .into_iter()
            .map(convert::draft)
            .collect();
        let outcomes = self.ledger.record_batch(&drafts).await.map_err(status)?;
        let results = drafts
            .into_iter()
            .zip(outcomes)
            .map(|(draft, outcome)| pb::RecordItemResult {
                result: result_of(&outcome).into(),
                error: match &outcome {
                    ItemOutcome::Invalid(e) => e.to_string(),
                    ItemOutcome::Conflict(c) => c.to_string(),
                    ItemOutcome::Created | ItemOutcome::Duplicate => String::new(),
                },
                call_id: draft.call_id,
            })
            .collect();
        Ok(Response::new(pb::RecordUsageBatchResponse { results }))
    }

    async fn get_spend(
        &self,
        request: Request<pb::GetSpendRequest>,
    ) -> Result<Response<pb::GetSpendResponse>, Status> {
        let r = request.into_inner();
        let start = time("period_start", r.period_start).map_err(invalid)?;
        let end = time("period_end", r.period_end).map_err(invalid)?;
        let spend = self.ledger.spend(start, end).await.map_err(status)?;
        Ok(Response::new(convert::spend(spend)))
    }

    async fn get_usage_summary(
        &self,
        request: Request<pb::GetUsageSummaryRequest>,
    ) -> Result<Response<pb::GetUsageSummaryResponse>, Status> {
        let r = request.into_inner();
        let start = time("period_start", r.period_start).map_err(invalid)?;
        let end = time("period_end", r.period_end).map_err(invalid)?;
        let summary = self
            .ledger
            .summary(start, end, &r.group_by)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetUsageSummaryResponse {
            rows: summary.rows.into_iter().map(convert::summary_row).collect(),
            total: Some(convert::summary_row(summary.total)),
        }))
    }

    async fn list_usage(
        &self,
        request: Request<pb::ListUsageRequest>,
    ) -> Result<Response<pb::ListUsageResponse>, Status> {
        let r = request.into_inner();
        let draft = ListDraft {
            start: time("period_start", r.period_start).map_err(invalid)?,
            end: time("period_end", r.period_end).map_err(invalid)?,
            provider: r.provider,
            model: r.model,
            user_id: r.user_id,
            session_id: r.session_id,
            request_id: r.request_id,
            page_size: r.page_size,
            page_token: r.page_token,
        };
        let page = self.ledger.list(&draft).await.map_err(status)?;
        Ok(Response::new(pb::ListUsageResponse {
            records: page.records.into_iter().map(convert::record).collect(),
            next_page_token: page.next.map(|c| c.encode()).unwrap_or_default(),
        }))
    }

    async fn record_budget_reset(
        &self,
        request: Request<pb::RecordBudgetResetRequest>,
    ) -> Result<Response<pb::RecordBudgetResetResponse>, Status> {
        let draft = convert::reset_draft(request.into_inner());
        let created = self.ledger.record_reset(&draft).await.map_err(status)?;
        Ok(Response::new(pb::RecordBudgetResetResponse { created }))
    }
}
