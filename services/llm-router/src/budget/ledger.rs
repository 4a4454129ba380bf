//! What the budget needs from the usage ledger (usage-accounting): the month's
//! spend, to rebuild a lost state, and a durable record of admin resets.

use crate::money::Micros;
use chrono::{DateTime, Utc};

/// The ledger's spend of a period, counted from its latest reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSpend {
    pub spent: Micros,
    /// The period start, or the latest budget reset inside the period.
    pub counted_from: DateTime<Utc>,
}

/// An admin budget reset, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetReset {
    /// Idempotency key of the reset.
    pub reset_id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usage ledger: {0}")]
pub struct LedgerError(pub String);

#[async_trait::async_trait]
pub trait SpendSource: Send + Sync {
    /// Spend of records created in `[counted_from, period_end)`.
    async fn month_spend(
        &self,
        period_start: DateTime<Utc>,
        period_end: DateTime<Utc>,
    ) -> Result<LedgerSpend, LedgerError>;

    /// Durably notes a reset: spend before it no longer counts.
    async fn record_reset(&self, reset: &BudgetReset) -> Result<(), LedgerError>;
}
