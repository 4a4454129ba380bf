//! Idle slices handed back on demand. A call that does not fit while slices
//! may hold budget (on any replica) does not refuse yet: its replica gives
//! its own slice back and asks every replica, through the store, to give
//! theirs back and hold none for [`RECLAIM_HOLD`]; each replica holding
//! slice budget looks for such a request every [`RECLAIM_WATCH`], off the
//! request path ([`watch_reclaims`]); one holding none asks nothing of the
//! store, so an idle replica costs Redis nothing. The call asks again every
//! [`RECLAIM_POLL`] for up to [`RECLAIM_WAIT`].

use super::bounded::BoundedStore;
use super::breaker::BudgetBreaker;
use super::period::Period;
use super::slices::Slices;
use crate::clock::SharedClock;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a call that does not fit waits for idle slices to come back.
pub(super) const RECLAIM_WAIT: Duration = Duration::from_millis(500);
/// How often it asks again meanwhile.
pub(super) const RECLAIM_POLL: Duration = Duration::from_millis(20);
/// How often replicas look for a reclaim: well inside [`RECLAIM_WAIT`] (so a
/// waiting call sees the budget come back) and [`RECLAIM_HOLD`] (so a replica
/// that opens a slice meanwhile still sees the request), yet ten lookups a
/// second rather than fifty.
pub const RECLAIM_WATCH: Duration = Duration::from_millis(100);
/// How long replicas hold no slice after a reclaim.
const RECLAIM_HOLD: Duration = Duration::from_secs(1);

pub(super) struct Reclaimer {
    store: BoundedStore,
    clock: SharedClock,
}

impl Reclaimer {
    pub(super) fn new(store: BoundedStore, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    /// A call did not fit while slices may hold budget: gives this
    /// replica's slice back and asks every other replica to.
    pub(super) async fn request(&self, slices: &Slices, period: &Period) {
        slices.suspend(self.hold_end()).await;
        if let Err(e) = self.store.request_reclaim(period, RECLAIM_HOLD).await {
            tracing::warn!(error = %e, "budget.reclaim_failed");
        }
    }

    /// Gives this replica's slice back if another replica asked for it.
    pub(super) async fn answer(&self, slices: &Slices, period: &Period) -> bool {
        if !slices.enabled() || !slices.holds_budget() {
            return false;
        }
        let asked = matches!(self.store.reclaim_requested(period).await, Ok(true));
        if asked {
            slices.suspend(self.hold_end()).await;
        }
        asked
    }

    fn hold_end(&self) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::from_std(RECLAIM_HOLD).unwrap_or_default()
    }
}

/// Looks for reclaim requests until `cancel` (run it with slices on).
pub async fn watch_reclaims(budget: Arc<BudgetBreaker>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = budget.check_reclaim() => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RECLAIM_WATCH) => {}
        }
    }
}
