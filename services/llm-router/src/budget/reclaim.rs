//! Idle slices handed back on demand: a replica whose call does not fit
//! while slices hold budget asks every replica to give its slice back (see
//! `BudgetBreaker::reclaim`); each looks for such a request every
//! [`RECLAIM_POLL`], off the request path.

use super::breaker::{BudgetBreaker, RECLAIM_POLL};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Looks for reclaim requests until `cancel` (only with slices on).
pub async fn watch_reclaims(budget: Arc<BudgetBreaker>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = budget.check_reclaim() => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RECLAIM_POLL) => {}
        }
    }
}
