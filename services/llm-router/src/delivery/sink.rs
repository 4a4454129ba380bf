//! Where usage records go: usage-accounting's `RecordUsageBatch`
//! (`clients::usage_ledger`), or a fake in tests.

use super::record::UsageRecord;

/// The ledger's answer for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordAck {
    /// A new row.
    Created,
    /// The identical record was already there: delivered.
    Duplicate,
    /// Invalid, or a different record under the same id: never retried.
    Rejected(String),
}

impl RecordAck {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Created | Self::Duplicate)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usage ledger unavailable: {0}")]
pub struct SinkError(pub String);

#[async_trait::async_trait]
pub trait UsageSink: Send + Sync {
    /// Records a batch; one ack per record, in order. An error means nothing is
    /// known about any record of the batch (they are all kept for redelivery).
    async fn record_batch(&self, records: &[UsageRecord]) -> Result<Vec<RecordAck>, SinkError>;
}
