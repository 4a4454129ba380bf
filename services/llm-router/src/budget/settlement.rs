//! Settling a call: its actual cost added and its reservation (or its part of
//! a slice) released in the store; queued for later when the store does not
//! answer, rebuilt first when the store lost the month.

use super::admission::Admission;
use super::bounded::BoundedStore;
use super::error::BudgetError;
use super::observer::Observer;
use super::pending::{PendingSettle, PendingSettles};
use super::rebuild::Rebuilder;
use super::slices::Slices;
use super::store::{SettleOutcome, SettleRequest};
use crate::clock::SharedClock;
use crate::money::Micros;

/// How a call's settle counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Counted once (or left to the ledger's rebuild, or queued for a retry).
    Counted,
    /// Its call id had already been settled by another call that also
    /// reached a provider: counted as well, so its usage record needs an id
    /// of its own (see `slices`).
    Duplicate,
}

/// The parts of the breaker a settle works with.
pub(super) struct Settler<'a> {
    store: &'a BoundedStore,
    slices: &'a Slices,
    observer: &'a Observer,
    rebuilder: &'a Rebuilder,
    pending: &'a PendingSettles,
    clock: &'a SharedClock,
}

impl<'a> Settler<'a> {
    pub(super) fn new(
        store: &'a BoundedStore,
        slices: &'a Slices,
        observer: &'a Observer,
        rebuilder: &'a Rebuilder,
        pending: &'a PendingSettles,
        clock: &'a SharedClock,
    ) -> Self {
        Self {
            store,
            slices,
            observer,
            rebuilder,
            pending,
            clock,
        }
    }

    pub(super) async fn settle(
        &self,
        adm: &Admission,
        actual: Micros,
    ) -> Result<Settlement, BudgetError> {
        let actual = actual.max(Micros::ZERO);
        for attempt in 0..2 {
            // Only a first settle releases a slice part: a repeat could release
            // it twice. Later tries settle plainly; the part then stays held
            // until the slice expires (budget held too long, never too short).
            let slice = adm
                .slice
                .as_deref()
                .filter(|_| attempt == 0)
                .map(|id| Slices::release_part(id, adm.reserved));
            let req = SettleRequest {
                period: &adm.period,
                call_id: &adm.call_id,
                actual,
                // Synchronous settle: the usage record is not in the ledger yet,
                // so the cost belongs in whatever state exists now.
                epoch: None,
                release_only: false,
                slice,
                now: self.clock.now(),
            };
            match self.store.settle(&req).await {
                Ok(SettleOutcome::Settled {
                    spent,
                    reserved,
                    had_reservation,
                }) => {
                    match slice {
                        Some(part) if !had_reservation => self.slices.lost(part.id),
                        _ if !had_reservation && actual > Micros::ZERO => {
                            tracing::warn!(call_id = %adm.call_id, "budget.settled_after_expiry");
                        }
                        _ => {}
                    }
                    self.observer.observe(&adm.period, spent, reserved);
                    return Ok(Settlement::Counted);
                }
                Ok(SettleOutcome::Duplicate { spent, reserved }) => {
                    tracing::warn!(call_id = %adm.call_id, cost = %actual, "budget.duplicate_request_counted");
                    self.observer.observe(&adm.period, spent, reserved);
                    return Ok(Settlement::Duplicate);
                }
                Ok(SettleOutcome::AlreadySettled { .. } | SettleOutcome::Stale) => {
                    return Ok(Settlement::Counted);
                }
                Ok(SettleOutcome::NeedsRebuild) if attempt == 0 => {
                    if let Err(e) = self.rebuilder.for_call(&adm.period).await {
                        // The state will be rebuilt from the ledger, which will
                        // have this call's record: nothing to queue.
                        tracing::warn!(call_id = %adm.call_id, error = %e, "budget.settle_deferred_to_ledger");
                        return Err(e);
                    }
                }
                Ok(SettleOutcome::NeedsRebuild) => {
                    return Err(BudgetError::Unavailable("budget state missing".into()));
                }
                Err(e) => {
                    tracing::warn!(call_id = %adm.call_id, cost = %actual, "budget.settle_queued");
                    self.pending.push(PendingSettle {
                        period: adm.period.clone(),
                        call_id: adm.call_id.clone(),
                        epoch: Some(adm.epoch.clone()),
                        actual,
                        release_only: false,
                        queued_at: self.clock.now(),
                        span: tracing::Span::current(),
                    });
                    return Err(e);
                }
            }
        }
        Ok(Settlement::Counted)
    }
}
