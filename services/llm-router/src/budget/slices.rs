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
//!   refused as before (see `in_flight`). Reused elsewhere, both calls reach a provider; the
//!   store then counts both (`SettleOutcome::Duplicate`) and the second usage
//!   record gets its own ledger id, so ledger and budget still agree.

use super::bounded::BoundedStore;
use super::config::{BudgetState, Thresholds};
use super::observer::Observer;
use super::pending::PendingSettles;
use super::period::Period;
use super::store::{ReserveOutcome, ReserveRequest, SettleRequest, SlicePart};
use crate::clock::SharedClock;
use crate::money::Micros;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::time::Duration;

/// This replica's slice, if it holds one.
pub(super) struct Slices {
    store: BoundedStore,
    clock: SharedClock,
    thresholds: Thresholds,
    /// Zero: slices are off.
    size: Micros,
    window: Duration,
    state: Mutex<SliceState>,
}

#[derive(Debug, Default)]
struct SliceState {
    current: Option<Slice>,
    /// A slice is being reserved: other calls reserve on their own meanwhile
    /// rather than queue behind it.
    opening: bool,
    /// A call somewhere did not fit while slices held budget: until then
    /// this replica holds no slice (every call reserves on its own).
    suspended_until: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub(super) struct Slice {
    id: String,
    period: Period,
    epoch: String,
    free: Micros,
    admits_until: DateTime<Utc>,
}

/// A call's worst case taken out of a slice.
#[derive(Debug)]
pub(super) struct SliceGrant {
    pub(super) slice_id: String,
    pub(super) period: Period,
    pub(super) epoch: String,
}

/// What [`Slices::admit`] decided.
pub(super) enum SliceAdmit {
    Granted(SliceGrant),
    /// Another call is opening a slice: reserve on your own.
    Busy,
    /// No slice can serve the call: open one (`retired`: the old one, to give back).
    Open {
        retired: Option<Slice>,
    },
}

impl Slices {
    pub(super) fn new(
        store: BoundedStore,
        clock: SharedClock,
        thresholds: Thresholds,
        size: Micros,
        window: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            thresholds,
            size,
            window,
            state: Mutex::new(SliceState::default()),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.size != Micros::ZERO
    }

    /// Whether this replica holds slice budget that another call could use
    /// (what a reclaim would give back).
    pub(super) fn holds_budget(&self) -> bool {
        self.state
            .lock()
            .current
            .as_ref()
            .is_some_and(|slice| slice.free > Micros::ZERO)
    }

    /// Whether a call of this worst case may come out of a slice at all.
    pub(super) fn can_serve(&self, worst_case: Micros) -> bool {
        self.size != Micros::ZERO && worst_case <= self.size
    }

    /// Takes the call's worst case out of the current slice; when it cannot,
    /// marks a new slice as opening (unless one already is).
    pub(super) fn admit(
        &self,
        period: &Period,
        worst_case: Micros,
        now: DateTime<Utc>,
    ) -> SliceAdmit {
        let mut s = self.state.lock();
        if s.suspended_until.is_some_and(|until| now < until) {
            return SliceAdmit::Busy;
        }
        if let Some(grant) = take(&mut s, period, worst_case, now) {
            return SliceAdmit::Granted(grant);
        }
        if s.opening {
            return SliceAdmit::Busy;
        }
        s.opening = true;
        SliceAdmit::Open {
            retired: s.current.take(),
        }
    }

    /// Takes the call's worst case out of the current slice, if it can.
    pub(super) fn take(
        &self,
        period: &Period,
        worst_case: Micros,
        now: DateTime<Utc>,
    ) -> Option<SliceGrant> {
        take(&mut self.state.lock(), period, worst_case, now)
    }

    /// Reserves a new slice of `period` and makes it current (or none, when
    /// the store refuses it or the budget is no longer CLOSED). Ends the
    /// opening that [`Slices::admit`] started.
    pub(super) async fn open(
        &self,
        period: &Period,
        now: DateTime<Utc>,
        observer: &Observer,
        pending: &PendingSettles,
    ) {
        let slice = self.reserve(period, now, observer, pending).await;
        let suspended = {
            let mut s = self.state.lock();
            s.opening = false;
            if s.suspended_until.is_some_and(|until| now < until) {
                slice
            } else {
                s.current = slice;
                None
            }
        };
        // Reclaimed while it was being reserved: it goes straight back.
        if let Some(slice) = suspended {
            self.give_back(slice).await;
        }
    }

    /// Holds no slice until `until` and gives back the current one: a call
    /// did not fit while slices held budget (see `BudgetBreaker::reclaim`).
    pub(super) async fn suspend(&self, until: DateTime<Utc>) {
        let taken = {
            let mut s = self.state.lock();
            s.suspended_until = Some(s.suspended_until.map_or(until, |u| u.max(until)));
            s.current.take()
        };
        if let Some(slice) = taken {
            self.give_back(slice).await;
        }
    }

    async fn reserve(
        &self,
        period: &Period,
        now: DateTime<Utc>,
        observer: &Observer,
        pending: &PendingSettles,
    ) -> Option<Slice> {
        let id = format!("slice:{}", super::store::new_epoch());
        let req = ReserveRequest {
            period,
            call_id: &id,
            amount: self.size,
            limit: self.thresholds.limit,
            block_at: self.thresholds.block_at(),
            now,
        };
        match self.store.reserve(&req).await {
            Ok(ReserveOutcome::Admitted {
                spent,
                reserved,
                epoch,
            }) => {
                observer.observe(period, spent, reserved);
                let slice = Slice {
                    id,
                    period: period.clone(),
                    epoch,
                    free: self.size,
                    admits_until: now
                        + chrono::Duration::from_std(self.window)
                            .unwrap_or(chrono::Duration::zero()),
                };
                if self.thresholds.state_of(spent) != BudgetState::Closed {
                    self.give_back(slice).await;
                    return None;
                }
                tracing::debug!(slice = %slice.id, size = %self.size, "budget.slice_opened");
                Some(slice)
            }
            // Near the limit, blocked or not yet rebuilt: the call's own
            // reservation will say why.
            Ok(_) => None,
            Err(_) => {
                pending.release_later(period, &id);
                None
            }
        }
    }

    /// The store part a settling call releases from its slice: its worst case.
    pub(super) fn release_part<'a>(slice_id: &'a str, worst_case: Micros) -> SlicePart<'a> {
        SlicePart {
            id: slice_id,
            amount: worst_case,
        }
    }

    /// Returns the free rest of the current slice, if there is one (when the
    /// budget leaves CLOSED, and at shutdown).
    pub(super) async fn return_current(&self) {
        let taken = self.state.lock().current.take();
        if let Some(slice) = taken {
            self.give_back(slice).await;
        }
    }

    /// Returns the slice if its window has passed (the periodic store check):
    /// an idle replica does not sit on budget.
    pub(super) async fn return_stale(&self) {
        let now = self.clock.now();
        let taken = {
            let mut s = self.state.lock();
            match &s.current {
                Some(slice) if now >= slice.admits_until => s.current.take(),
                _ => None,
            }
        };
        if let Some(slice) = taken {
            self.give_back(slice).await;
        }
    }

    /// Releases a slice's free rest in the store.
    pub(super) async fn give_back(&self, slice: Slice) {
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
        if let Err(e) = self.store.settle(&req).await {
            tracing::warn!(slice = %slice.id, error = %e, "budget.slice_return_failed");
        }
    }

    /// The store no longer holds this slice (expired, or the state was
    /// rebuilt): stop admitting from it.
    pub(super) fn lost(&self, slice_id: &str) {
        let mut s = self.state.lock();
        if s.current.as_ref().is_some_and(|c| c.id == slice_id) {
            s.current = None;
            tracing::warn!(slice = %slice_id, "budget.slice_lost");
        }
    }
}

/// The call's worst case out of the current slice, if it is of `period`,
/// still in its window and has enough left.
fn take(
    s: &mut SliceState,
    period: &Period,
    worst_case: Micros,
    now: DateTime<Utc>,
) -> Option<SliceGrant> {
    let slice = s.current.as_mut()?;
    if slice.period.key != period.key || now >= slice.admits_until || slice.free < worst_case {
        return None;
    }
    slice.free = slice.free - worst_case;
    Some(SliceGrant {
        slice_id: slice.id.clone(),
        period: slice.period.clone(),
        epoch: slice.epoch.clone(),
    })
}
