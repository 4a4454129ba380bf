//! Budget slices: a replica reserves a slice of the month's budget in one
//! store call and admits calls from it locally, so a call's admission costs no
//! round trip to Redis (the hot path's one network hop besides the provider).
//!
//! Why this cannot overspend: a slice is an ordinary reservation, admitted
//! against the limit like any call's. Locally, a call takes its worst case out
//! of the slice's free rest; when it settles, the store adds its actual cost
//! and releases its worst case from the slice (`SlicePart`). So the slice
//! holds exactly what its calls in flight may still cost plus its free rest,
//! and `spent + reserved ≤ limit` holds as with one reservation per call.
//!
//! Bounds kept from per-call reservations:
//! - Slices are used only while the budget is CLOSED (below the alert
//!   threshold): from HALF_OPEN on, every call reserves on its own, so the
//!   approach to the limit is exactly as precise as without slices. At most
//!   one slice per replica is held unused, returned within `slice_window`.
//! - A slice admits calls for `slice_window` (≤ a tenth of the reservation
//!   TTL), so each of its calls stays covered for at least 90% of the TTL, and
//!   a replica that dies frees its slice after the TTL like any reservation.
//! - A Redis that loses its data loses slices as it loses reservations; a
//!   replica stops admitting from its slice at the first settle that finds
//!   the slice gone (`budget.slice_lost`), and the state is rebuilt as before.
//! - A call id reused while its first call is in flight on this replica is
//!   refused as before. Reused elsewhere, both calls reach a provider; the
//!   store then counts both (`SettleOutcome::Duplicate`) and the second usage
//!   record gets its own ledger id, so ledger and budget still agree.

use super::admission::Admission;
use super::breaker::BudgetBreaker;
use super::config::BudgetState;
use super::error::BudgetError;
use super::period::Period;
use super::store::{ReserveOutcome, ReserveRequest, SettleRequest, SlicePart};
use crate::money::Micros;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(super) struct SliceState {
    current: Option<Slice>,
    /// A slice is being reserved: other calls reserve on their own meanwhile
    /// rather than queue behind it.
    opening: bool,
    /// Request ids of this replica's calls in flight (duplicate refusal).
    in_flight: HashSet<String>,
}

#[derive(Debug)]
struct Slice {
    id: String,
    period: Period,
    epoch: String,
    free: Micros,
    admits_until: DateTime<Utc>,
}

impl BudgetBreaker {
    /// Admits the call from this replica's slice when slices are on and the
    /// budget is CLOSED, opening a new slice when the current one is spent or
    /// old. `None`: reserve for this call alone.
    pub(super) async fn admit_from_slice(
        self: &Arc<Self>,
        period: &Period,
        call_id: &str,
        worst_case: Micros,
    ) -> Option<Admission> {
        let size = self.config.slice;
        if size == Micros::ZERO || worst_case > size {
            return None;
        }
        if self.observed_state(period) != Some(BudgetState::Closed) {
            self.return_slice().await;
            return None;
        }
        let now = self.clock.now();
        let retired = {
            let mut s = self.slices.lock();
            if let Some(adm) = self.take_from_slice(&mut s, period, call_id, worst_case, now) {
                return Some(adm);
            }
            if s.opening {
                return None;
            }
            s.opening = true;
            s.current.take()
        };
        if let Some(old) = retired {
            let breaker = Arc::clone(self);
            tokio::spawn(async move { breaker.give_back(old).await });
        }
        // In its own task, so a caller that goes away mid-open neither leaves
        // `opening` set nor drops a slice the store has already reserved.
        let breaker = Arc::clone(self);
        let for_task = period.clone();
        let opened = tokio::spawn(async move {
            let slice = breaker.open_slice(&for_task, size, now).await;
            let mut s = breaker.slices.lock();
            s.opening = false;
            s.current = slice;
        });
        opened.await.ok()?;
        let mut s = self.slices.lock();
        self.take_from_slice(&mut s, period, call_id, worst_case, now)
    }

    /// The call's worst case out of the current slice, if it is of `period`,
    /// still in its window and has enough left.
    fn take_from_slice(
        self: &Arc<Self>,
        s: &mut SliceState,
        period: &Period,
        call_id: &str,
        worst_case: Micros,
        now: DateTime<Utc>,
    ) -> Option<Admission> {
        let slice = s.current.as_mut()?;
        if slice.period.key != period.key || now >= slice.admits_until || slice.free < worst_case {
            return None;
        }
        slice.free = slice.free - worst_case;
        Some(self.slice_admission(slice, call_id, worst_case))
    }

    fn slice_admission(
        self: &Arc<Self>,
        slice: &Slice,
        call_id: &str,
        worst_case: Micros,
    ) -> Admission {
        Admission {
            call_id: call_id.to_owned(),
            period: slice.period.clone(),
            epoch: slice.epoch.clone(),
            slice: Some(slice.id.clone()),
            reserved: worst_case,
            state: BudgetState::Closed,
            downgrade_to_cost_effective: false,
            breaker: Arc::clone(self),
            finished: false,
        }
    }

    async fn open_slice(&self, period: &Period, size: Micros, now: DateTime<Utc>) -> Option<Slice> {
        let id = format!("slice:{}", super::store::new_epoch());
        let req = ReserveRequest {
            period,
            call_id: &id,
            amount: size,
            limit: self.config.limit,
            block_at: self.thresholds.block_at(),
            now,
        };
        match self.bounded(self.store.reserve(&req)).await {
            Ok(ReserveOutcome::Admitted {
                spent,
                reserved,
                epoch,
            }) => {
                self.observe(period, spent, reserved);
                let slice = Slice {
                    id,
                    period: period.clone(),
                    epoch,
                    free: size,
                    admits_until: now
                        + chrono::Duration::from_std(self.config.slice_window)
                            .unwrap_or(chrono::Duration::zero()),
                };
                if self.thresholds.state_of(spent) != BudgetState::Closed {
                    self.give_back(slice).await;
                    return None;
                }
                tracing::debug!(slice = %slice.id, size = %size, "budget.slice_opened");
                Some(slice)
            }
            // Near the limit, blocked or not yet rebuilt: the call's own
            // reservation will say why.
            Ok(_) => None,
            Err(_) => {
                self.release_later(period, &id);
                None
            }
        }
    }

    /// Returns the free rest of this replica's slice, if it holds one (when
    /// the budget leaves CLOSED, at shutdown, and once its window has passed).
    pub async fn return_slice(&self) {
        let taken = self.slices.lock().current.take();
        if let Some(slice) = taken {
            self.give_back(slice).await;
        }
    }

    /// Returns the slice if its window has passed (the periodic store check):
    /// an idle replica does not sit on budget.
    pub(super) async fn return_stale_slice(&self) {
        let now = self.clock.now();
        let taken = {
            let mut s = self.slices.lock();
            match &s.current {
                Some(slice) if now >= slice.admits_until => s.current.take(),
                _ => None,
            }
        };
        if let Some(slice) = taken {
            self.give_back(slice).await;
        }
    }

    async fn give_back(&self, slice: Slice) {
        if slice.free == Micros::ZERO {
            return;
        }
        let req = SettleRequest {
            period: &slice.period,
            call_id: &slice.id,
            actual: Micros::ZERO,
            epoch: None,
            release_only: true,
            slice: Some(SlicePart {
                id: &slice.id,
                amount: slice.free,
            }),
            now: self.clock.now(),
        };
        // Unreturned, the rest frees itself when the slice expires.
        if let Err(e) = self.bounded(self.store.settle(&req)).await {
            tracing::warn!(slice = %slice.id, error = %e, "budget.slice_return_failed");
        }
    }

    /// The store no longer holds this slice (expired, or the state was
    /// rebuilt): stop admitting from it.
    pub(super) fn slice_lost(&self, slice_id: &str) {
        let mut s = self.slices.lock();
        if s.current.as_ref().is_some_and(|c| c.id == slice_id) {
            s.current = None;
            tracing::warn!(slice = %slice_id, "budget.slice_lost");
        }
    }

    /// Refuses a call id already in flight here; remembers it otherwise.
    /// Only with slices: without them, the store's reserve refuses it.
    pub(super) fn claim(&self, call_id: &str) -> Result<(), BudgetError> {
        if self.config.slice == Micros::ZERO
            || self.slices.lock().in_flight.insert(call_id.to_owned())
        {
            Ok(())
        } else {
            Err(BudgetError::DuplicateRequest(call_id.to_owned()))
        }
    }

    pub(super) fn unclaim(&self, call_id: &str) {
        if self.config.slice == Micros::ZERO {
            return;
        }
        self.slices.lock().in_flight.remove(call_id);
    }
}
