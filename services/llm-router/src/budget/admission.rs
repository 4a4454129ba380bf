//! A call's budget reservation: settled or released when the call ends.

use super::breaker::BudgetBreaker;
use super::config::BudgetState;
use super::error::BudgetError;
use super::period::Period;
use super::settlement::Settlement;
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
    pub(super) breaker: Arc<BudgetBreaker>,
    pub(super) finished: bool,
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
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // the reservation expires by itself
        };
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
        runtime.spawn(async move {
            let breaker = adm.breaker.clone();
            let _ = breaker.settle_admission(&adm, Micros::ZERO).await;
        });
    }
}
