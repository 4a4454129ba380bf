//! Settling calls, and settles that wait for the store to come back.

use super::admission::Admission;
use super::breaker::BudgetBreaker;
use super::error::BudgetError;
use super::period::Period;
use super::store::{SettleOutcome, SettleRequest, SlicePart};
use crate::money::Micros;
use chrono::{DateTime, Utc};

/// Settles waiting for the store beyond this many are dropped (the ledger still has them).
const MAX_PENDING_SETTLES: usize = 100_000;

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

/// A settle (or the clean-up of a reserve whose answer was lost) waiting for
/// the store to answer again.
#[derive(Debug)]
pub(super) struct PendingSettle {
    pub(super) period: Period,
    pub(super) call_id: String,
    /// The reservation's epoch: the cost is added only within it.
    pub(super) epoch: Option<String>,
    pub(super) actual: Micros,
    pub(super) release_only: bool,
    pub(super) queued_at: DateTime<Utc>,
    /// The span of the call it belongs to: the retry's lines carry that
    /// call's request id, however much later they come.
    pub(super) span: tracing::Span,
}

impl BudgetBreaker {
    pub(super) async fn settle_admission(
        &self,
        adm: &Admission,
        actual: Micros,
    ) -> Result<Settlement, BudgetError> {
        self.unclaim(&adm.call_id);
        let actual = actual.max(Micros::ZERO);
        for attempt in 0..2 {
            // Only a first settle releases a slice part: a repeat could release
            // it twice. Later tries settle plainly; the part then stays held
            // until the slice expires (budget held too long, never too short).
            let slice = adm
                .slice
                .as_deref()
                .filter(|_| attempt == 0)
                .map(|id| SlicePart {
                    id,
                    amount: adm.reserved,
                });
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
            match self.bounded(self.store.settle(&req)).await {
                Ok(SettleOutcome::Settled {
                    spent,
                    reserved,
                    had_reservation,
                }) => {
                    match slice {
                        Some(part) if !had_reservation => self.slice_lost(part.id),
                        _ if !had_reservation && actual > Micros::ZERO => {
                            tracing::warn!(call_id = %adm.call_id, "budget.settled_after_expiry");
                        }
                        _ => {}
                    }
                    self.observe(&adm.period, spent, reserved);
                    return Ok(Settlement::Counted);
                }
                Ok(SettleOutcome::Duplicate { spent, reserved }) => {
                    tracing::warn!(call_id = %adm.call_id, cost = %actual, "budget.duplicate_request_counted");
                    self.observe(&adm.period, spent, reserved);
                    return Ok(Settlement::Duplicate);
                }
                Ok(SettleOutcome::AlreadySettled { .. } | SettleOutcome::Stale) => {
                    return Ok(Settlement::Counted);
                }
                Ok(SettleOutcome::NeedsRebuild) if attempt == 0 => {
                    if let Err(e) = self.rebuild_for_call(&adm.period).await {
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
                    self.queue(PendingSettle {
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

    /// Frees a reservation whose reserve went unanswered (it may still land)
    /// once the store answers again.
    pub(super) fn release_later(&self, period: &Period, call_id: &str) {
        self.queue(PendingSettle {
            period: period.clone(),
            call_id: call_id.to_owned(),
            epoch: None,
            actual: Micros::ZERO,
            release_only: true,
            queued_at: self.clock.now(),
            span: tracing::Span::current(),
        });
    }

    pub(super) fn queue(&self, item: PendingSettle) {
        let mut pending = self.pending.lock();
        if pending.len() >= MAX_PENDING_SETTLES {
            // A lost clean-up only delays the reservation's expiry; a lost
            // settle leaves the cost to the ledger (the next rebuild).
            if !item.release_only {
                item.span
                    .in_scope(|| tracing::error!(call_id = %item.call_id, "budget.settle_dropped"));
            }
            return;
        }
        pending.push(item);
    }

    /// Number of settles waiting for the store to come back.
    pub fn pending_settles(&self) -> usize {
        self.pending.lock().len()
    }

    /// Retries queued settles (each only within its reservation's epoch).
    /// Returns how many are still waiting.
    pub async fn flush_pending(&self) -> usize {
        let queued = std::mem::take(&mut *self.pending.lock());
        let tombstone = chrono::Duration::from_std(self.config.reservation_ttl * 2)
            .unwrap_or(chrono::Duration::MAX);
        let mut keep = Vec::new();
        let mut store_down = false;
        for p in queued {
            if store_down {
                keep.push(p);
                continue;
            }
            if self.clock.now() - p.queued_at > tombstone {
                // Its tombstone may be gone: applying it could count it twice.
                // (A clean-up this old is moot: the reservation expired.)
                if !p.release_only {
                    p.span.in_scope(
                        || tracing::error!(call_id = %p.call_id, "budget.settle_abandoned"),
                    );
                }
                continue;
            }
            let req = SettleRequest {
                period: &p.period,
                call_id: &p.call_id,
                actual: p.actual,
                epoch: p.epoch.as_deref(),
                release_only: p.release_only,
                slice: None,
                now: self.clock.now(),
            };
            match self.bounded(self.store.settle(&req)).await {
                Ok(SettleOutcome::Settled {
                    spent, reserved, ..
                }) => {
                    self.observe(&p.period, spent, reserved);
                }
                Ok(outcome) => p.span.in_scope(|| {
                    tracing::info!(call_id = %p.call_id, outcome = ?outcome, "budget.settle_superseded");
                }),
                Err(_) => {
                    store_down = true;
                    keep.push(p);
                }
            }
        }
        let mut pending = self.pending.lock();
        pending.extend(keep);
        pending.len()
    }
}
