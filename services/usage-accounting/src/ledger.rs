//! The ledger as its callers see it: domain rules over a [`LedgerStore`],
//! with the metrics and log events of every write. Knows nothing of gRPC.

use crate::domain::{
    Conflict, GroupKey, IngestPlan, ItemOutcome, ListDraft, MAX_BATCH, PageCursor, Period,
    RecordDraft, ResetDraft, Spend, Summary, TimeRange, UsageRecord, ValidationError,
};
use crate::storage::{DynStore, ResetStored, StorageError};
use chrono::{DateTime, Utc};
use std::sync::{Arc, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Conflict(String),
    /// The database is not reachable (yet): the caller should retry.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StorageError> for LedgerError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(m) => Self::Unavailable(m),
            StorageError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<Conflict> for LedgerError {
    fn from(c: Conflict) -> Self {
        Self::Conflict(c.to_string())
    }
}

pub type Result<T> = std::result::Result<T, LedgerError>;

/// A page of records and the cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePage {
    pub records: Vec<UsageRecord>,
    pub next: Option<PageCursor>,
}

/// The ledger service. Cheap to clone. Until the store is ready (connected
/// and migrated) every call answers `Unavailable`.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<OnceLock<DynStore>>,
}

impl Ledger {
    /// A ledger over a ready (migrated) store.
    pub fn new(store: DynStore) -> Self {
        let slot = OnceLock::new();
        let _ = slot.set(store);
        Self {
            store: Arc::new(slot),
        }
    }

    /// A ledger whose store arrives later, through [`Ledger::set_ready`].
    pub fn pending() -> Self {
        Self {
            store: Arc::new(OnceLock::new()),
        }
    }

    /// Hands over the migrated store; later calls are served.
    pub fn set_ready(&self, store: DynStore) {
        let _ = self.store.set(store);
    }

    pub fn is_ready(&self) -> bool {
        self.store.get().is_some()
    }

    fn store(&self) -> Result<&DynStore> {
        self.store
            .get()
            .ok_or_else(|| LedgerError::Unavailable("the ledger database is not ready yet".into()))
    }

    /// Records one call: `Ok(Created | Duplicate)`; an invalid record or a
    /// conflicting one under the same id is an error.
    pub async fn record(&self, draft: RecordDraft) -> Result<ItemOutcome> {
        let mut outcomes = self.ingest(std::slice::from_ref(&draft)).await?;
        match outcomes.pop() {
            Some(ItemOutcome::Invalid(e)) => Err(LedgerError::Invalid(e.within("record"))),
            Some(ItemOutcome::Conflict(c)) => Err(c.into()),
            Some(ok) => Ok(ok),
            None => Err(LedgerError::Internal("no result for the record".into())),
        }
    }

    /// Records many calls, each judged on its own (at most [`MAX_BATCH`]).
    pub async fn record_batch(&self, drafts: &[RecordDraft]) -> Result<Vec<ItemOutcome>> {
        if drafts.len() > MAX_BATCH {
            return Err(ValidationError::new(
                "records",
                format!("{} records; at most {MAX_BATCH} per batch", drafts.len()),
            )
            .into());
        }
        metrics::histogram!("usage_record_batch_size").record(drafts.len() as f64);
        self.ingest(drafts).await
    }

    async fn ingest(&self, drafts: &[RecordDraft]) -> Result<Vec<ItemOutcome>> {
        let store = self.store()?;
        let plan = IngestPlan::new(drafts);
        let stored = store.insert_new(plan.offered()).await?;
        if stored.len() != plan.offered().len() {
            return Err(LedgerError::Internal(format!(
                "storage answered for {} of {} records",
                stored.len(),
                plan.offered().len()
            )));
        }
        let outcomes = plan.resolve(&stored);
        for (draft, outcome) in drafts.iter().zip(&outcomes) {
            observe(draft, outcome);
        }
        Ok(outcomes)
    }

    /// Exact spend of a period (both ends required), from its latest reset.
    pub async fn spend(
        &self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<Spend> {
        let period = Period::new(start, end)?;
        Ok(self.store()?.spend(period).await?)
    }

    /// Totals grouped by `keys` (wire numbers), highest cost first.
    pub async fn summary(
        &self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        keys: &[i32],
    ) -> Result<Summary> {
        let range = TimeRange::new(start, end)?;
        let keys = GroupKey::parse_all(keys)?;
        let rows = self.store()?.summary(range, &keys).await?;
        Summary::from_groups(rows).map_err(|e| LedgerError::Internal(e.to_string()))
    }

    /// A page of records, newest first.
    pub async fn list(&self, draft: &ListDraft) -> Result<UsagePage> {
        let query = draft.validate()?;
        let size = query.page_size.get();
        // One more than asked: its presence says whether a next page exists.
        let mut records = self.store()?.list(&query, size + 1).await?;
        let next = if records.len() > size as usize {
            records.truncate(size as usize);
            records
                .last()
                .map(|r| PageCursor::after(r.created_at, r.call_id.as_str(), &query))
        } else {
            None
        };
        Ok(UsagePage { records, next })
    }

    /// Notes an admin budget reset; `Ok(false)` if this reset was already noted.
    pub async fn record_reset(&self, draft: &ResetDraft) -> Result<bool> {
        let reset = draft.validate()?;
        match self.store()?.record_reset(&reset).await? {
            ResetStored::Created => {
                tracing::info!(
                    reset_id = %reset.reset_id,
                    reset_at = %reset.reset_at.to_rfc3339(),
                    actor = %reset.actor,
                    "usage.budget_reset_recorded"
                );
                Ok(true)
            }
            ResetStored::Existing(stored) if stored == reset => Ok(false),
            ResetStored::Existing(_) => {
                tracing::warn!(reset_id = %reset.reset_id, "usage.conflict");
                Err(LedgerError::Conflict(format!(
                    "reset id {:?} is already recorded with a different reset",
                    reset.reset_id
                )))
            }
        }
    }
}

/// An id for a log line: ids over the limit are rejected, but must not flood the logs either.
fn loggable(id: &str) -> &str {
    let mut end = id.len().min(128);
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    &id[..end]
}

/// Metrics and logs of one item (ids only: never the whole record). The
/// lines are logged in a span naming the record's own request id (a batch
/// carries the calls of many requests), so that the caller's request id finds
/// its ledger line whatever request delivered the batch.
fn observe(draft: &RecordDraft, outcome: &ItemOutcome) {
    let span = tracing::info_span!(
        "usage.record",
        request_id = tracing::field::Empty,
        call_id = %loggable(&draft.call_id),
    );
    if !draft.request_id.is_empty() {
        span.record("request_id", loggable(&draft.request_id));
    }
    let _entered = span.enter();
    let result = match outcome {
        ItemOutcome::Created => {
            tracing::info!(
                call_id = %loggable(&draft.call_id),
                provider = %draft.provider,
                model = %draft.model,
                cost_micro_usd = draft.cost_micro_usd,
                "usage.recorded"
            );
            "created"
        }
        ItemOutcome::Duplicate => {
            tracing::info!(call_id = %loggable(&draft.call_id), "usage.duplicate");
            "duplicate"
        }
        ItemOutcome::Invalid(e) => {
            tracing::info!(call_id = %loggable(&draft.call_id), error = %e, "usage.rejected");
            "rejected"
        }
        ItemOutcome::Conflict(c) => {
            tracing::warn!(
                call_id = %loggable(&draft.call_id),
                fields = %c.fields.join(","),
                "usage.conflict"
            );
            "rejected"
        }
    };
    metrics::counter!("usage_records_total", "result" => result).increment(1);
}
