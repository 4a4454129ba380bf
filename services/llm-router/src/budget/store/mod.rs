//! Where the month's budget state lives: Redis (shared by every replica) or
//! process memory (one replica). Both implement the same semantics, checked by
//! one conformance suite:
//!
//! - A period's state exists only once initialised (from the ledger); until
//!   then every reserve and settle answers `NeedsRebuild`: an empty store is
//!   never read as "nothing spent".
//! - `reserve` first frees expired reservations, is idempotent by call id,
//!   and admits only when `spent < block_at` and `spent + reserved + amount ≤ limit`,
//!   atomically, so concurrent callers on any number of replicas cannot
//!   overshoot the limit.
//! - `settle` releases the reservation, adds the actual cost and leaves a
//!   tombstone so a repeated settle (or a late duplicate reserve) is a no-op.
//! - Every state initialisation gets a fresh epoch; a settle naming an older
//!   epoch releases but does not add (the rebuild from the ledger already counts it).
//! - A *slice* is a reservation a replica holds for many calls (see
//!   `budget::slices`): a call admitted from it releases its own worst case
//!   from the slice when it settles (`SettleRequest::slice`). A settle that
//!   releases budget held for it (its own reservation or its slice part) and
//!   finds its call id already settled is a second real call under a reused
//!   id: its cost is added too (`SettleOutcome::Duplicate`), never dropped.

pub mod memory;
pub mod redis;
mod redis_settle;

use crate::budget::period::Period;
use crate::money::Micros;
use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer in time or is unreachable.
    #[error("budget store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something this code does not understand.
    #[error("budget store returned an unexpected reply: {0}")]
    Protocol(String),
}

/// One reservation of the worst-case cost of a call.
#[derive(Debug, Clone)]
pub struct ReserveRequest<'a> {
    pub period: &'a Period,
    pub call_id: &'a str,
    pub amount: Micros,
    pub limit: Micros,
    /// The spend at which the period is OPEN (see `Thresholds::block_at`).
    pub block_at: Micros,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Reserved; the totals include this reservation.
    Admitted {
        spent: Micros,
        reserved: Micros,
        epoch: String,
    },
    /// This call id already holds a reservation.
    AlreadyReserved { spent: Micros, reserved: Micros },
    /// This call id was already settled or released.
    AlreadySettled { spent: Micros, reserved: Micros },
    /// The worst case does not fit under the limit.
    WouldExceed { spent: Micros, reserved: Micros },
    /// The period is OPEN.
    Blocked { spent: Micros, reserved: Micros },
    /// No state for this period: rebuild it from the ledger first.
    NeedsRebuild,
}

#[derive(Debug, Clone)]
pub struct SettleRequest<'a> {
    pub period: &'a Period,
    pub call_id: &'a str,
    pub actual: Micros,
    /// `Some`: add the cost only if the state still has this epoch.
    pub epoch: Option<&'a str>,
    /// Only free the reservation if one is held: no spend, no tombstone (the
    /// clean-up after a reserve whose answer was lost; the caller may retry
    /// the same call id).
    pub release_only: bool,
    /// The call was admitted from this slice: release its part of the slice
    /// instead of a reservation of its own.
    pub slice: Option<SlicePart<'a>>,
    pub now: DateTime<Utc>,
}

/// What a call admitted from a slice holds of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlicePart<'a> {
    /// The slice's reservation id.
    pub id: &'a str,
    /// The call's worst case (or, to return a slice, its unused rest).
    pub amount: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleOutcome {
    Settled {
        spent: Micros,
        reserved: Micros,
        /// False when the reservation had expired (the cost is added anyway).
        had_reservation: bool,
    },
    AlreadySettled {
        spent: Micros,
        reserved: Micros,
    },
    /// The call id was already settled by another call that also reached
    /// a provider (a reused id): this call's cost was added as well.
    Duplicate {
        spent: Micros,
        reserved: Micros,
    },
    /// The state was rebuilt since the reservation: released, cost not added.
    Stale,
    NeedsRebuild,
}

/// A period's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSnapshot {
    pub spent: Micros,
    pub reserved: Micros,
    /// Reservations held.
    pub reservations: u64,
    /// Start of the counting window: the period start or the latest reset.
    pub window_start: DateTime<Utc>,
    pub epoch: String,
}

/// Lifetimes of the store's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTtls {
    /// An unsettled reservation frees itself after this.
    pub reservation: Duration,
    /// How long a settled call id is remembered (duplicate protection).
    pub tombstone: Duration,
}

impl StoreTtls {
    /// Tombstones outlive reservations threefold, so a late duplicate of a
    /// reserve or settle still finds its call id settled.
    pub fn for_reservation_ttl(reservation: Duration) -> Self {
        Self {
            reservation,
            tombstone: reservation.saturating_mul(3),
        }
    }
}

/// Days the period's keys are kept after its end (for GetBudget of last month
/// and late settles); then they expire by themselves.
pub const KEEP_AFTER_PERIOD: chrono::Duration = chrono::Duration::days(40);

#[async_trait::async_trait]
pub trait BudgetStore: Send + Sync {
    /// `"redis"` or `"memory"` (shown by GetBudget).
    fn kind(&self) -> &'static str;

    async fn reserve(&self, req: &ReserveRequest<'_>) -> Result<ReserveOutcome, StoreError>;

    async fn settle(&self, req: &SettleRequest<'_>) -> Result<SettleOutcome, StoreError>;

    /// The period's state (expired reservations freed first), `None` when absent.
    async fn snapshot(
        &self,
        period: &Period,
        now: DateTime<Utc>,
    ) -> Result<Option<StoreSnapshot>, StoreError>;

    /// Creates the period's state with `spent` counted since `window_start`,
    /// only if absent. `true` when this call created it.
    async fn initialize(
        &self,
        period: &Period,
        spent: Micros,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Starts a new window at `window_start`: spent becomes zero; calls in
    /// flight keep their reservations.
    async fn reset(
        &self,
        period: &Period,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<StoreSnapshot, StoreError>;

    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Asks every replica sharing the store to give back its idle slice and
    /// open none for `hold` (a call that does not fit otherwise is waiting).
    /// A store no other replica shares has nobody to ask.
    async fn request_reclaim(&self, _period: &Period, _hold: Duration) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether a reclaim asked by [`BudgetStore::request_reclaim`] holds now.
    async fn reclaim_requested(&self, _period: &Period) -> Result<bool, StoreError> {
        Ok(false)
    }
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

pub(crate) fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
