//! A call's budget reservation: settled or released when the call ends.

use super::breaker::BudgetBreaker;
use super::config::BudgetState;
use super::error::BudgetError;
use super::period::Period;
use super::settlement::Settlement;
use super::slices::SliceGrant;
use crate::money::Micros;
use std::sync::Arc;

/// A reservation held for one call. Settle it (or release it) when the call
/// ends; if it is dropped instead (the caller went away), it is released in
/// the background.
pub struct Admission {
    pub call_id: String,
    pub period: Period,
    pub epoch: String,
    /// The slice the call was admitted from (see `slices`), if any.
    pub slice: Option<String>,
    pub reserved: Micros,
    /// The state when admitted.
    pub state: BudgetState,
    /// HALF_OPEN with downgrade enabled and a `sota` request: serve it on `cost_effective`.
    pub downgrade_to_cost_effective: bool,
    breaker: Arc<BudgetBreaker>,
    finished: bool,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("call_id", &self.call_id)
            .field("period", &self.period.key)
            .field("reserved", &self.reserved)
            .field("state", &self.state)
            .field(
                "downgrade_to_cost_effective",
                &self.downgrade_to_cost_effective,
            )
            .finish_non_exhaustive()
    }
}

impl Admission {
    /// A reservation of the call's own.
    pub(super) fn reserved(
        breaker: Arc<BudgetBreaker>,
        call_id: &str,
        period: Period,
        epoch: String,
        reserved: Micros,
        state: BudgetState,
        downgrade_to_cost_effective: bool,
    ) -> Self {
        Self {
            call_id: call_id.to_owned(),
            period,
            epoch,
            slice: None,
            reserved,
            state,
            downgrade_to_cost_effective,
            breaker,
            finished: false,
        }
    }

    /// The call's worst case out of a slice (only while CLOSED, so no downgrade).
    pub(super) fn from_slice(
        breaker: Arc<BudgetBreaker>,
        call_id: &str,
        grant: SliceGrant,
        reserved: Micros,
    ) -> Self {
        Self {
            call_id: call_id.to_owned(),
            period: grant.period,
            epoch: grant.epoch,
            slice: Some(grant.slice_id),
            reserved,
            state: BudgetState::Closed,
            downgrade_to_cost_effective: false,
            breaker,
            finished: false,
        }
    }

    /// Settles to the actual cost (what the provider billed, partial streams included).
    pub async fn settle(mut self, actual: Micros) -> Result<Settlement, BudgetError> {
        self.finished = true;
        let breaker = self.breaker.clone();
        breaker.settle_admission(&self, actual).await
    }

    /// The call cost nothing (it never reached a provider).
    pub async fn release(self) -> Result<(), BudgetError> {
        self.settle(Micros::ZERO).await.map(|_| ())
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        tracing::debug!(call_id = %self.call_id, "budget.admission_dropped");
        let adm = Admission {
            call_id: std::mem::take(&mut self.call_id),
            period: self.period.clone(),
            epoch: std::mem::take(&mut self.epoch),
            slice: self.slice.take(),
            reserved: self.reserved,
            state: self.state,
            downgrade_to_cost_effective: self.downgrade_to_cost_effective,
            breaker: self.breaker.clone(),
            finished: true,
        };
        self.breaker.release_dropped(adm);
    }
}
