//! The durable outbox of usage records not yet acknowledged by the ledger:
//! a Redis Stream (shared by the replicas, kept on disk by AOF) or, with no
//! `REDIS_URL`, a local SQLite file. One conformance suite runs against both.
//!
//! Entries are removed only once the ledger acknowledged them (CREATED or
//! DUPLICATE). Rejected records are moved to a side list ("rejected"), never
//! dropped. With several replicas sharing the Redis outbox, two may deliver the
//! same entry; the ledger's idempotency makes the second a DUPLICATE.

pub mod redis;
pub mod sqlite;

use crate::delivery::record::UsageRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The backend's id (stream entry id, row id).
    pub id: String,
    pub record: UsageRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usage outbox unavailable: {0}")]
pub struct OutboxError(pub String);

#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// `"redis"` or `"sqlite"`.
    fn kind(&self) -> &'static str;

    /// Appends all records durably, atomically (all or none).
    async fn append(&self, records: &[UsageRecord]) -> Result<(), OutboxError>;

    /// The oldest `max` entries, without removing them. Entries that cannot
    /// be decoded are moved aside (logged), not returned.
    async fn peek(&self, max: usize) -> Result<Vec<OutboxEntry>, OutboxError>;

    /// Removes acknowledged entries.
    async fn remove(&self, ids: &[String]) -> Result<(), OutboxError>;

    /// Moves rejected entries to the side list with the ledger's reason.
    async fn move_aside(&self, rejected: &[(OutboxEntry, String)]) -> Result<(), OutboxError>;

    /// Puts records that never were in the outbox straight on the side list.
    async fn append_rejected(&self, rejected: &[(UsageRecord, String)]) -> Result<(), OutboxError>;

    /// Entries waiting.
    async fn depth(&self) -> Result<u64, OutboxError>;

    /// Entries moved aside.
    async fn rejected_count(&self) -> Result<u64, OutboxError>;
}
