//! usage-accounting's `UsageLedger` over gRPC: the sink of usage records, the
//! source of the month's spend (budget rebuild) and the record of admin resets.

use crate::budget::{BudgetReset, LedgerError, LedgerSpend, SpendSource};
use crate::delivery::{RecordAck, SinkError, UsageOutcome, UsageRecord, UsageSink};
use crate::money::Micros;
use chrono::{DateTime, Utc};
use fluentedge_proto::usage::v1 as pb;
use pb::usage_ledger_client::UsageLedgerClient as GrpcClient;
use service_kit::grpc_client::{ChannelError, InterceptedChannel, channel, intercepted};
use std::time::Duration;

#[derive(Clone)]
pub struct UsageLedgerClient {
    client: GrpcClient<InterceptedChannel>,
    timeout: Duration,
}

impl UsageLedgerClient {
    /// A lazily connecting client to `addrs` (`USAGE_ADDR`); each call bounded by `timeout`.
    pub fn connect(addrs: &str, timeout: Duration) -> Result<Self, ChannelError> {
        Ok(Self {
            client: GrpcClient::new(intercepted(channel(addrs)?)),
            timeout,
        })
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(self.timeout);
        req
    }
}

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

pub fn to_proto(r: &UsageRecord) -> pb::UsageRecord {
    pb::UsageRecord {
        call_id: r.call_id.clone(),
        request_id: r.request_id.clone(),
        created_at: Some(timestamp(r.created_at)),
        provider: r.provider.clone(),
        model: r.model.clone(),
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        cost_micro_usd: r.cost.0,
        price_version: r.price_version.clone(),
        user_id: r.user_id.clone(),
        session_id: r.session_id.clone(),
        calling_service: r.calling_service.clone(),
        tier: r.tier.clone(),
        outcome: match r.outcome {
            UsageOutcome::Success => pb::Outcome::Success,
            UsageOutcome::Failed => pb::Outcome::Failed,
            UsageOutcome::Partial => pb::Outcome::Partial,
            UsageOutcome::Cancelled => pb::Outcome::Cancelled,
        } as i32,
        latency_ms: r.latency_ms,
        operation: r.operation.clone(),
    }
}

fn status_cause(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

#[async_trait::async_trait]
impl UsageSink for UsageLedgerClient {
    async fn record_batch(&self, records: &[UsageRecord]) -> Result<Vec<RecordAck>, SinkError> {
        let req = self.request(pb::RecordUsageBatchRequest {
            records: records.iter().map(to_proto).collect(),
        });
        let resp = self
            .client
            .clone()
            .record_usage_batch(req)
            .await
            .map_err(|s| SinkError(status_cause(&s)))?
            .into_inner();
        if resp.results.len() != records.len() {
            return Err(SinkError(format!(
                "{} results for {} records",
                resp.results.len(),
                records.len()
            )));
        }
        Ok(resp
            .results
            .into_iter()
            .map(|item| match pb::RecordResult::try_from(item.result) {
                Ok(pb::RecordResult::Created) => RecordAck::Created,
                Ok(pb::RecordResult::Duplicate) => RecordAck::Duplicate,
                Ok(pb::RecordResult::Rejected) => RecordAck::Rejected(item.error),
                _ => RecordAck::Rejected(format!("unknown result {}", item.result)),
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl SpendSource for UsageLedgerClient {
    async fn month_spend(
        &self,
        period_start: DateTime<Utc>,
        period_end: DateTime<Utc>,
    ) -> Result<LedgerSpend, LedgerError> {
        let req = self.request(pb::GetSpendRequest {
            period_start: Some(timestamp(period_start)),
            period_end: Some(timestamp(period_end)),
        });
        let resp = self
            .client
            .clone()
            .get_spend(req)
            .await
            .map_err(|s| LedgerError(status_cause(&s)))?
            .into_inner();
        Ok(LedgerSpend {
            spent: Micros(resp.spent_micro_usd),
            counted_from: resp
                .counted_from
                .as_ref()
                .and_then(from_timestamp)
                .unwrap_or(period_start),
        })
    }

    async fn record_reset(&self, reset: &BudgetReset) -> Result<(), LedgerError> {
        let req = self.request(pb::RecordBudgetResetRequest {
            reset_id: reset.reset_id.clone(),
            reset_at: Some(timestamp(reset.at)),
            actor: reset.actor.clone(),
            reason: reset.reason.clone(),
        });
        self.client
            .clone()
            .record_budget_reset(req)
            .await
            .map_err(|s| LedgerError(status_cause(&s)))?;
        Ok(())
    }
}
