//! Settles (and clean-ups of reserves whose answer was lost) waiting for the
//! store to answer again, retried by the periodic store check.

use super::bounded::BoundedStore;
use super::observer::Observer;
use super::period::Period;
use super::store::{SettleOutcome, SettleRequest};
use crate::clock::SharedClock;
use crate::money::Micros;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::time::Duration;

/// Settles waiting for the store beyond this many are dropped (the ledger still has them).
const MAX_PENDING_SETTLES: usize = 100_000;

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

pub(super) struct PendingSettles {
    store: BoundedStore,
    clock: SharedClock,
    /// A settle queued longer than this is abandoned: the store's tombstone
    /// of the call may be gone, and applying it could count it twice.
    tombstone: chrono::Duration,
    queue: Mutex<Vec<PendingSettle>>,
}

impl PendingSettles {
    pub(super) fn new(store: BoundedStore, clock: SharedClock, reservation_ttl: Duration) -> Self {
        Self {
            store,
            clock,
            tombstone: chrono::Duration::from_std(reservation_ttl * 2)
                .unwrap_or(chrono::Duration::MAX),
            queue: Mutex::new(Vec::new()),
        }
    }

    /// Frees a reservation whose reserve went unanswered (it may still land)
    /// once the store answers again.
    pub(super) fn release_later(&self, period: &Period, call_id: &str) {
        self.push(PendingSettle {
            period: period.clone(),
            call_id: call_id.to_owned(),
            epoch: None,
            actual: Micros::ZERO,
            release_only: true,
            queued_at: self.clock.now(),
            span: tracing::Span::current(),
        });
    }

    pub(super) fn push(&self, item: PendingSettle) {
        let mut queue = self.queue.lock();
        if queue.len() >= MAX_PENDING_SETTLES {
            // A lost clean-up only delays the reservation's expiry; a lost
            // settle leaves the cost to the ledger (the next rebuild).
            if !item.release_only {
                item.span
                    .in_scope(|| tracing::error!(call_id = %item.call_id, "budget.settle_dropped"));
            }
            return;
        }
        queue.push(item);
    }

    pub(super) fn len(&self) -> usize {
        self.queue.lock().len()
    }

    /// Retries the queued settles (each only within its reservation's
    /// epoch), stopping at the first the store does not answer. Returns how
    /// many are still waiting.
    pub(super) async fn flush(&self, observer: &Observer) -> usize {
        let queued = std::mem::take(&mut *self.queue.lock());
        let mut keep = Vec::new();
        let mut store_down = false;
        for p in queued {
            if store_down {
                keep.push(p);
                continue;
            }
            if self.clock.now() - p.queued_at > self.tombstone {
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
            match self.store.settle(&req).await {
                Ok(SettleOutcome::Settled {
                    spent, reserved, ..
                }) => observer.observe(&p.period, spent, reserved),
                Ok(outcome) => p.span.in_scope(|| {
                    tracing::info!(call_id = %p.call_id, outcome = ?outcome, "budget.settle_superseded");
                }),
                Err(_) => {
                    store_down = true;
                    keep.push(p);
                }
            }
        }
        let mut queue = self.queue.lock();
        queue.extend(keep);
        queue.len()
    }
}
