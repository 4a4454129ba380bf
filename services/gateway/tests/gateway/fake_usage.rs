//! The fake usage ledger: reports echo what was asked.

use super::{Recorder, ts};
use fluentedge_proto::usage::v1 as usage;
use parking_lot::Mutex;
use std::sync::Arc;
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
pub struct FakeUsage {
    pub seen: Recorder,
    pub last_summary: Arc<Mutex<Option<usage::GetUsageSummaryRequest>>>,
    pub last_list: Arc<Mutex<Option<usage::ListUsageRequest>>>,
}

#[tonic::async_trait]
impl usage::usage_ledger_server::UsageLedger for FakeUsage {
    async fn get_usage_summary(
        &self,
        req: Request<usage::GetUsageSummaryRequest>,
    ) -> Result<Response<usage::GetUsageSummaryResponse>, Status> {
        self.seen.record("GetUsageSummary", &req);
        *self.last_summary.lock() = Some(req.into_inner());
        let row = |provider: &str, cost| usage::UsageSummaryRow {
            provider: provider.into(),
            model: "gpt-4o".into(),
            input_tokens: 1000,
            output_tokens: 500,
            cost_micro_usd: cost,
            request_count: 3,
            ..Default::default()
        };
        Ok(Response::new(usage::GetUsageSummaryResponse {
            rows: vec![row("azure", 2_500_000), row("anthropic", 1_000_001)],
            total: Some(usage::UsageSummaryRow {
                input_tokens: 2000,
                output_tokens: 1000,
                cost_micro_usd: 3_500_001,
                request_count: 6,
                ..Default::default()
            }),
        }))
    }

    async fn list_usage(
        &self,
        req: Request<usage::ListUsageRequest>,
    ) -> Result<Response<usage::ListUsageResponse>, Status> {
        self.seen.record("ListUsage", &req);
        *self.last_list.lock() = Some(req.into_inner());
        Ok(Response::new(usage::ListUsageResponse {
            records: vec![usage::UsageRecord {
                call_id: "call-1".into(),
                request_id: "rq-1".into(),
                created_at: ts(1_793_500_000),
                provider: "azure".into(),
                model: "gpt-4o".into(),
                input_tokens: 10,
                output_tokens: 5,
                cost_micro_usd: 42,
                price_version: "v1".into(),
                user_id: "learner-a".into(),
                session_id: String::new(),
                calling_service: "llm-router".into(),
                tier: "sota".into(),
                outcome: usage::Outcome::Success as i32,
                latency_ms: 300,
                operation: "chat".into(),
            }],
            next_page_token: "next".into(),
        }))
    }
}
