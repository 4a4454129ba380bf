//! Where the ledger lives: one [`LedgerStore`] trait, PostgreSQL (production)
//! and an embedded SQLite file (the default without `DATABASE_URL`), both run
//! through one conformance suite (`tests/usage_accounting/conformance.rs`).

mod postgres;
mod postgres_partitions;
mod rows;
mod sqlite;

pub use postgres::PostgresStore;
pub use service_kit::database::{PoolStats, StorageError};
pub use sqlite::SqliteStore;

use crate::config::Database;
use crate::domain::{
    BudgetReset, GroupKey, ListQuery, Period, RecordDraft, Spend, Stored, SummaryRow, TimeRange,
    UsageRecord,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub type Result<T> = std::result::Result<T, StorageError>;

/// What storage did with a budget reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetStored {
    Created,
    /// The id was already used; this is the reset stored under it.
    Existing(BudgetReset),
}

/// What retention does with the months it retires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RetentionAction {
    /// Move the rows to `api_usage_log_archive` (the default).
    #[default]
    Archive,
    /// Delete the rows.
    Delete,
}

/// Rows and cost of a retired (or, in a dry run, retirable) range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retired {
    pub rows: u64,
    pub cost_micro_usd: i64,
}

#[async_trait::async_trait]
pub trait LedgerStore: Send + Sync + 'static {
    /// "postgres" or "sqlite" (logs).
    fn backend(&self) -> &'static str;

    /// Applies pending migrations (idempotent).
    async fn migrate(&self) -> Result<()>;

    /// A round trip to the database (readiness).
    async fn ping(&self) -> Result<()>;

    /// Stores, atomically, each record whose call id is in neither the
    /// ledger nor its archive. `records` have distinct call ids. Returns
    /// one [`Stored`] per record, in order; never overwrites a row.
    async fn insert_new(&self, records: &[UsageRecord]) -> Result<Vec<Stored>>;

    /// The spend of `[max(period.start, latest reset in the period), period.end)`.
    async fn spend(&self, period: Period) -> Result<Spend>;

    /// Totals per group of `keys` (unordered; one row when `keys` is empty).
    async fn summary(&self, range: TimeRange, keys: &[GroupKey]) -> Result<Vec<SummaryRow>>;

    /// Up to `limit` records matching `query`, newest first, after its cursor.
    async fn list(&self, query: &ListQuery, limit: u32) -> Result<Vec<UsageRecord>>;

    /// Stores the reset unless its id is used.
    async fn record_reset(&self, reset: &BudgetReset) -> Result<ResetStored>;

    /// The oldest record time before `cutoff`, if any.
    async fn oldest_before(&self, cutoff: DateTime<Utc>) -> Result<Option<DateTime<Utc>>>;

    /// Retires the records created in `[start, end)` in one transaction (or,
    /// with `dry_run`, only counts them).
    async fn retire(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        action: RetentionAction,
        dry_run: bool,
    ) -> Result<Retired>;

    /// Creates what the coming months' records need ahead of time (the
    /// PostgreSQL partitions; nothing elsewhere). Idempotent.
    async fn prepare_partitions(&self, _now: DateTime<Utc>) -> Result<()> {
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats;
}

pub type DynStore = Arc<dyn LedgerStore>;

/// The store `database` names, connecting lazily (the first use connects).
pub fn open(database: &Database, max_connections: u32) -> Result<DynStore> {
    Ok(match database {
        Database::Postgres { url } => Arc::new(PostgresStore::connect_lazy(url, max_connections)?),
        Database::Sqlite { path } => Arc::new(SqliteStore::open_lazy(path, max_connections)?),
    })
}

/// A stored row back into a record, through the same validation as input: a
/// row that fails it is reported, never passed on.
pub(crate) fn rebuild(draft: RecordDraft) -> Result<UsageRecord> {
    let id = draft.call_id.clone();
    draft
        .validate()
        .map_err(|e| StorageError::Internal(format!("stored record {id:?} is invalid: {e}")))
}

pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StorageError::Internal(format!("negative {what}: {v}")))
}

/// The latest of the period start and the latest reset inside the period.
pub(crate) fn counted_from(period: Period, latest_reset: Option<DateTime<Utc>>) -> DateTime<Utc> {
    latest_reset.map_or(period.start, |r| r.max(period.start))
}
