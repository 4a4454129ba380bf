//! Lossless usage delivery: one record per call to usage-accounting's
//! `RecordUsageBatch`, batched and asynchronous, with a durable outbox
//! (Redis Stream, or SQLite without `REDIS_URL`) redelivered until
//! acknowledged. Exactly-once effect comes from the ledger's idempotency by
//! call id: redelivering an acknowledged record yields DUPLICATE.
//!
//! What can still lose a record (and nothing else can):
//! 1. The router process dies abruptly (SIGKILL, OOM, node loss) while the
//!    record is between `submit` and the ledger's or the outbox's
//!    acknowledgement: the in-memory channel and the batch in flight
//!    (normally a few milliseconds' worth). SIGTERM flushes them.
//! 2. usage-accounting is unreachable *and* the outbox cannot be written
//!    (Redis down too) *and* the router dies before either comes back: the
//!    records wait in memory (`spill`) meanwhile.
//! 3. Redis outbox only: Redis loses acknowledged writes while records wait
//!    in it (usage-accounting down at the same time). With `appendonly yes`
//!    and `appendfsync everysec` (the production config) a crash of the Redis
//!    machine loses at most the last second of appends; a failover to a
//!    replica loses what was not yet replicated (asynchronous replication).
//!    `appendfsync always` closes the first window at a latency cost.
//!    `maxmemory-policy noeviction` is required (an evicted stream is lost).
//! 4. SQLite outbox only: the disk holding `USAGE_OUTBOX_PATH` is lost while
//!    records wait in it (keep it on a persistent volume).
//!
//! A full outbox (`USAGE_OUTBOX_MAX`) never drops: `is_full` tells the router
//! to refuse new calls until it drains.
//!
//! Integration, per call (after the budget settle):
//! ```text
//! delivery.submit(record).await;             // never fails; may wait under overload
//! if delivery.is_full() { refuse new calls } // checked before admitting a call
//! ```

pub mod outbox;
pub mod record;
pub mod service;
pub mod sink;

pub use outbox::redis::RedisStreamOutbox;
pub use outbox::sqlite::SqliteOutbox;
pub use outbox::{Outbox, OutboxEntry, OutboxError};
pub use record::{UsageOutcome, UsageRecord};
pub use service::{DeliveryConfig, UsageDelivery};
pub use sink::{RecordAck, SinkError, UsageSink};

/// `USAGE_OUTBOX_PATH`, the SQLite outbox used without `REDIS_URL`.
pub fn outbox_path(env: &service_kit::Env) -> std::path::PathBuf {
    env.string_or("USAGE_OUTBOX_PATH", ".fluentedge/router-outbox.db")
        .into()
}
