//! The monthly budget breaker: integer money, calendar-month periods, atomic
//! worst-case reservations shared by every replica (Redis, or process memory
//! without `REDIS_URL`), rebuilt from the usage ledger when lost.
//!
//! Integration, per call:
//! ```text
//! let admission = budget.admit(&call_id, worst_case, wants_sota).await?;   // BudgetError → ServiceError
//! … call providers (serve cost_effective if admission.downgrade_to_cost_effective) …
//! admission.settle(actual_cost).await;      // before delivery.submit(record)
//! ```

pub mod admission;
mod bounded;
pub mod breaker;
pub mod config;
pub mod error;
mod in_flight;
pub mod ledger;
mod observer;
mod pending;
pub mod period;
pub mod readiness;
mod rebuild;
pub mod reclaim;
mod settlement;
mod slices;
pub mod store;

pub use admission::Admission;
pub use breaker::BudgetBreaker;
pub use config::{BudgetConfig, BudgetState, Thresholds};
pub use error::{BudgetError, BudgetStatus, RefusalReason};
pub use ledger::{BudgetReset, LedgerError, LedgerSpend, SpendSource};
pub use period::Period;
pub use readiness::{Readiness, watch_readiness};
pub use reclaim::watch_reclaims;
pub use settlement::Settlement;
pub use store::memory::MemoryBudgetStore;
pub use store::redis::RedisBudgetStore;
pub use store::{
    BudgetStore, ReserveOutcome, ReserveRequest, SettleOutcome, SettleRequest, SlicePart,
    StoreError, StoreSnapshot, StoreTtls,
};
