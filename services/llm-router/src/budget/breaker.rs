//! The budget breaker (FinOps): every call reserves its worst-case cost before
//! it starts and settles to the actual cost after, against the month's budget
//! shared by all replicas (see `store`). CLOSED / HALF_OPEN / OPEN follow the
//! settled spend's utilisation; a lost state is rebuilt from the usage ledger
//! before any call is admitted; every store call is bounded in time, and a
//! store that does not answer refuses the call (fail closed).
//!
//! Ordering contract with usage delivery: settle a call *before* submitting its
//! usage record. Then a record reaches the ledger only after its cost is in the
//! store, so a rebuild (which reads the ledger) and a settle never count the
//! same call twice. A settle that could not reach the store is retried later
//! only within the same state epoch, for the same reason.

use super::admission::Admission;
use super::bounded::BoundedStore;
use super::config::{BudgetConfig, BudgetState, Thresholds};
use super::error::{BudgetError, BudgetStatus, RefusalReason};
use super::in_flight::InFlight;
use super::ledger::{BudgetReset, SpendSource};
use super::observer::Observer;
use super::pending::PendingSettles;
use super::period::Period;
use super::rebuild::Rebuilder;
use super::reclaim::{RECLAIM_POLL, RECLAIM_WAIT, Reclaimer};
use super::settlement::{Settlement, Settler};
use super::slices::{SliceAdmit, Slices};
use super::store::{BudgetStore, ReserveOutcome, ReserveRequest, StoreSnapshot};
use crate::clock::SharedClock;
use crate::money::Micros;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::task::TaskTracker;

/// Composes the budget's parts, each the owner of its state: the store
/// (bounded in time), this replica's view of the state, the rebuild from the
/// ledger, settles waiting for the store, the slice, the duplicate guard.
pub struct BudgetBreaker {
    config: BudgetConfig,
    thresholds: Thresholds,
    store: BoundedStore,
    ledger: Arc<dyn SpendSource>,
    clock: SharedClock,
    observer: Observer,
    rebuilder: Rebuilder,
    pending: PendingSettles,
    slices: Slices,
    in_flight: InFlight,
    reclaimer: Reclaimer,
    healthy: AtomicBool,
    /// The budget's own background work (slices opened and given back,
    /// reservations of dropped calls released), which shutdown waits for.
    tasks: TaskTracker,
}

impl BudgetBreaker {
    pub fn new(
        config: BudgetConfig,
        store: Arc<dyn BudgetStore>,
        ledger: Arc<dyn SpendSource>,
        clock: SharedClock,
    ) -> Arc<Self> {
        let thresholds = config.thresholds();
        let store = BoundedStore::new(store, config.store_timeout);
        Arc::new(Self {
            observer: Observer::new(thresholds, config.downgrade_sota),
            rebuilder: Rebuilder::new(
                store.clone(),
                ledger.clone(),
                clock.clone(),
                config.rebuild_timeout,
                config.require_ledger,
            ),
            pending: PendingSettles::new(store.clone(), clock.clone(), config.reservation_ttl),
            slices: Slices::new(
                store.clone(),
                clock.clone(),
                thresholds,
                config.slice,
                config.slice_window,
            ),
            in_flight: InFlight::new(config.slice != Micros::ZERO),
            reclaimer: Reclaimer::new(store.clone(), clock.clone()),
            thresholds,
            config,
            store,
            ledger,
            clock,
            healthy: AtomicBool::new(true),
            tasks: TaskTracker::new(),
        })
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// The current period by the injected clock.
    pub fn current_period(&self) -> Period {
        Period::containing(self.clock.now(), self.config.offset())
    }

    /// Reserves `worst_case` for the call `call_id` (input estimate +
    /// `max_tokens` × output price, of the dearest candidate). `wants_sota`:
    /// the caller asked for the `sota` tier (for the HALF_OPEN downgrade).
    pub async fn admit(
        self: &Arc<Self>,
        call_id: &str,
        worst_case: Micros,
        wants_sota: bool,
    ) -> Result<Admission, BudgetError> {
        let result = self.try_admit(call_id, worst_case, wants_sota).await;
        if let Err(e) = &result {
            metrics::counter!("llm_budget_rejections_total", "reason" => e.metric_reason())
                .increment(1);
        }
        result
    }

    async fn try_admit(
        self: &Arc<Self>,
        call_id: &str,
        worst_case: Micros,
        wants_sota: bool,
    ) -> Result<Admission, BudgetError> {
        if call_id.is_empty() {
            return Err(BudgetError::Invalid("call id is empty".into()));
        }
        if worst_case < Micros::ZERO {
            return Err(BudgetError::Invalid("negative worst-case cost".into()));
        }
        self.in_flight.claim(call_id)?;
        let result = self.admit_claimed(call_id, worst_case, wants_sota).await;
        if result.is_err() {
            self.in_flight.release(call_id);
        }
        result
    }

    async fn admit_claimed(
        self: &Arc<Self>,
        call_id: &str,
        worst_case: Micros,
        wants_sota: bool,
    ) -> Result<Admission, BudgetError> {
        let period = self.current_period();
        self.observer.note_period(&period);
        if let Some(admission) = self.admit_from_slice(&period, call_id, worst_case).await {
            return Ok(admission);
        }
        let refused = |reason, spent, reserved| BudgetError::Exceeded {
            reason,
            state: self.thresholds.state_of(spent),
            spent,
            reserved,
            limit: self.config.limit,
            requested: worst_case,
        };
        let mut rebuilt = false;
        let mut reclaim_until: Option<tokio::time::Instant> = None;
        loop {
            let req = ReserveRequest {
                period: &period,
                call_id,
                amount: worst_case,
                limit: self.config.limit,
                block_at: self.thresholds.block_at(),
                now: self.clock.now(),
            };
            let outcome = match self.store.reserve(&req).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    // The reserve may still land (a late write after a timeout).
                    self.pending.release_later(&period, call_id);
                    return Err(e);
                }
            };
            match outcome {
                ReserveOutcome::Admitted {
                    spent,
                    reserved,
                    epoch,
                } => {
                    self.observer.observe(&period, spent, reserved);
                    let state = self.thresholds.state_of(spent);
                    let downgrade =
                        wants_sota && self.config.downgrade_sota && state == BudgetState::HalfOpen;
                    return Ok(Admission::reserved(
                        self.clone(),
                        call_id,
                        period,
                        epoch,
                        worst_case,
                        state,
                        downgrade,
                    ));
                }
                ReserveOutcome::NeedsRebuild if !rebuilt => {
                    rebuilt = true;
                    self.rebuilder.for_call(&period).await?;
                }
                ReserveOutcome::NeedsRebuild => {
                    return Err(BudgetError::Unavailable(format!(
                        "budget state of {} is missing after a rebuild",
                        period.key
                    )));
                }
                ReserveOutcome::Blocked { spent, reserved } => {
                    self.observer.observe(&period, spent, reserved);
                    return Err(refused(RefusalReason::Blocked, spent, reserved));
                }
                ReserveOutcome::WouldExceed { spent, reserved } => {
                    self.observer.observe(&period, spent, reserved);
                    // Idle slice budget, on any replica, is budget: reclaim it
                    // and ask again until the slices are back, before refusing.
                    // (Slices exist only while CLOSED.)
                    let slices_may_hold = self.slices.enabled()
                        && reserved > Micros::ZERO
                        && self.thresholds.state_of(spent) == BudgetState::Closed;
                    let until = match reclaim_until {
                        Some(until) => until,
                        None if slices_may_hold => {
                            self.reclaimer.request(&self.slices, &period).await;
                            *reclaim_until.insert(tokio::time::Instant::now() + RECLAIM_WAIT)
                        }
                        None => tokio::time::Instant::now(),
                    };
                    if tokio::time::Instant::now() >= until {
                        return Err(refused(RefusalReason::WouldExceed, spent, reserved));
                    }
                    tokio::time::sleep(RECLAIM_POLL).await;
                }
                ReserveOutcome::AlreadyReserved { .. } | ReserveOutcome::AlreadySettled { .. } => {
                    return Err(BudgetError::DuplicateRequest(call_id.to_owned()));
                }
            }
        }
    }

    /// The budget now (GetBudget). Rebuilds a missing state first, as a call would.
    pub async fn status(&self) -> Result<BudgetStatus, BudgetError> {
        let period = self.current_period();
        self.observer.note_period(&period);
        let snapshot = match self.store.snapshot(&period, self.clock.now()).await? {
            Some(s) => s,
            None => {
                self.rebuilder.for_call(&period).await?;
                self.store
                    .snapshot(&period, self.clock.now())
                    .await?
                    .ok_or_else(|| BudgetError::Unavailable("budget state missing".into()))?
            }
        };
        self.observer
            .observe(&period, snapshot.spent, snapshot.reserved);
        Ok(self.view(&period, &snapshot))
    }

    /// Starts a new budget window now (audited): first durably in the ledger
    /// (so a later rebuild counts only spend since this reset), then in the store.
    pub async fn reset(
        &self,
        actor: &str,
        reason: &str,
    ) -> Result<(BudgetStatus, BudgetStatus), BudgetError> {
        let actor = actor.trim();
        if actor.is_empty() {
            return Err(BudgetError::Invalid(
                "actor is required for a budget reset".into(),
            ));
        }
        let before = self.status().await?;
        let at = self.clock.now();
        let period = Period::containing(at, self.config.offset());
        let reset = BudgetReset {
            reset_id: uuid::Uuid::new_v4().to_string(),
            at,
            actor: actor.to_owned(),
            reason: reason.to_owned(),
        };
        match tokio::time::timeout(
            self.config.rebuild_timeout,
            self.ledger.record_reset(&reset),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(BudgetError::Unavailable(format!(
                    "the reset could not be recorded in the usage ledger: {e}"
                )));
            }
            Err(_) => {
                return Err(BudgetError::Unavailable(
                    "the reset could not be recorded: the usage ledger did not answer".into(),
                ));
            }
        }
        let snapshot = self.store.reset(&period, at, at).await?;
        let after = self.view(&period, &snapshot);
        tracing::info!(
            actor,
            action = "budget.reset",
            reason,
            reset_id = %reset.reset_id,
            before = %before.audit_json(),
            after = %after.audit_json(),
            "audit"
        );
        self.observer
            .observe(&period, snapshot.spent, snapshot.reserved);
        Ok((before, after))
    }

    /// Pings the store (readiness), notes a month rollover, and retries queued
    /// settles once the store answers. Logs transitions.
    pub async fn check_store(&self) -> bool {
        self.observer.note_period(&self.current_period());
        let result = self.store.ping().await;
        let ok = result.is_ok();
        let was = self.healthy.swap(ok, Ordering::SeqCst);
        match (&result, was) {
            (Err(e), true) => tracing::error!(error = %e, "budget.store_unavailable"),
            (Ok(()), false) => tracing::info!("budget.store_recovered"),
            _ => {}
        }
        if ok && self.pending_settles() > 0 {
            self.flush_pending().await;
        }
        if ok {
            self.slices.return_stale().await;
        }
        ok
    }

    /// Readiness: the store answers and the current month's state exists,
    /// rebuilt from the ledger first if it was lost (so the first call after a
    /// restart or a Redis flush does not wait for the ledger). Without
    /// `require_ledger`, a ledger that cannot be read leaves the router ready:
    /// calls start the month from zero (see `rebuild_for_call`).
    pub async fn check_ready(&self) -> bool {
        if !self.check_store().await {
            return false;
        }
        let period = self.current_period();
        match self.store.snapshot(&period, self.clock.now()).await {
            Ok(Some(_)) => true,
            Ok(None) => {
                self.rebuilder.rebuild(&period).await.is_ok() || !self.config.require_ledger
            }
            Err(_) => false,
        }
    }

    /// The latest `check_store` result.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    fn view(&self, period: &Period, s: &StoreSnapshot) -> BudgetStatus {
        BudgetStatus {
            limit: self.config.limit,
            spent: s.spent,
            reserved: s.reserved,
            reservations: s.reservations,
            utilisation_bp: self.thresholds.utilisation_bp(s.spent),
            state: self.thresholds.state_of(s.spent),
            period: period.clone(),
            next_reset: period.end,
            window_start: s.window_start,
            alert_bp: self.config.alert_bp,
            block_bp: self.config.block_bp,
            downgrade_enabled: self.config.downgrade_sota,
            store: self.store.kind(),
        }
    }

    /// Admits the call from this replica's slice when slices are on and the
    /// budget is CLOSED, opening a new slice when the current one is spent or
    /// old. `None`: reserve for this call alone.
    async fn admit_from_slice(
        self: &Arc<Self>,
        period: &Period,
        call_id: &str,
        worst_case: Micros,
    ) -> Option<Admission> {
        if !self.slices.can_serve(worst_case) {
            return None;
        }
        if self.observer.state(period) != Some(BudgetState::Closed) {
            self.slices.return_current().await;
            return None;
        }
        let now = self.clock.now();
        let retired = match self.slices.admit(period, worst_case, now) {
            SliceAdmit::Granted(grant) => {
                return Some(Admission::from_slice(
                    self.clone(),
                    call_id,
                    grant,
                    worst_case,
                ));
            }
            SliceAdmit::Busy => return None,
            SliceAdmit::Open { retired } => retired,
        };
        if let Some(old) = retired {
            let breaker = Arc::clone(self);
            self.tasks
                .spawn(async move { breaker.slices.give_back(old).await });
        }
        // In its own task, so a caller that goes away mid-open neither leaves
        // the slice opening forever nor drops one the store has already reserved.
        let breaker = Arc::clone(self);
        let for_task = period.clone();
        let opened = self.tasks.spawn(async move {
            breaker
                .slices
                .open(&for_task, now, &breaker.observer, &breaker.pending)
                .await;
        });
        opened.await.ok()?;
        let grant = self.slices.take(period, worst_case, now)?;
        Some(Admission::from_slice(
            self.clone(),
            call_id,
            grant,
            worst_case,
        ))
    }

    /// Gives this replica's slice back (and holds none for a while) when
    /// another replica asked for it (see `reclaim`). Returns whether it was asked.
    pub async fn check_reclaim(&self) -> bool {
        self.reclaimer
            .answer(&self.slices, &self.current_period())
            .await
    }

    /// Settles an admission (see [`Admission::settle`]).
    pub(super) async fn settle_admission(
        &self,
        adm: &Admission,
        actual: Micros,
    ) -> Result<Settlement, BudgetError> {
        self.in_flight.release(&adm.call_id);
        Settler::new(
            &self.store,
            &self.slices,
            &self.observer,
            &self.rebuilder,
            &self.pending,
            &self.clock,
        )
        .settle(adm, actual)
        .await
    }

    /// Releases the reservation of a call that was dropped unsettled (its
    /// caller went away), in the background.
    pub(super) fn release_dropped(self: &Arc<Self>, adm: Admission) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // the reservation expires by itself
        };
        let breaker = Arc::clone(self);
        self.tasks.spawn_on(
            async move {
                let _ = breaker.settle_admission(&adm, Micros::ZERO).await;
            },
            &runtime,
        );
    }

    /// At shutdown, after the last calls settled: waits for the budget's
    /// background work, then gives back this replica's slice.
    pub async fn shutdown(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.slices.return_current().await;
    }

    /// Number of settles waiting for the store to come back.
    pub fn pending_settles(&self) -> usize {
        self.pending.len()
    }

    /// Retries queued settles (each only within its reservation's epoch).
    /// Returns how many are still waiting.
    pub async fn flush_pending(&self) -> usize {
        self.pending.flush(&self.observer).await
    }

    /// Returns the free rest of this replica's slice, if it holds one (when
    /// the budget leaves CLOSED, at shutdown, and once its window has passed).
    pub async fn return_slice(&self) {
        self.slices.return_current().await;
    }
}
