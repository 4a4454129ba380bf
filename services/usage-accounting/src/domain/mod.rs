//! The ledger's rules, free of gRPC and SQL: what a valid usage record is,
//! when a second record under a used call id is a duplicate and when a
//! conflict, periods and calendar months, report shapes, and the opaque
//! ListUsage cursor.

pub mod cursor;
pub mod ingest;
pub mod record;
pub mod report;
pub mod reset;
pub mod time;

pub use cursor::PageCursor;
pub use ingest::{Conflict, IngestPlan, ItemOutcome, Stored};
pub use record::{
    CallId, Count, MAX_BATCH, MicroUsd, Operation, Outcome, RecordDraft, Tier, UsageRecord,
};
pub use report::{GroupKey, ListDraft, ListQuery, Overflow, PageSize, Spend, Summary, SummaryRow};
pub use reset::{BudgetReset, ResetDraft};
pub use time::{Period, TimeRange};

/// What is wrong with a request, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error under a parent field (`record.` + `input_tokens`).
    pub fn within(self, parent: &str) -> Self {
        Self {
            field: format!("{parent}.{}", self.field),
            message: self.message,
        }
    }
}
