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
use super::config::{BudgetConfig, BudgetState, Thresholds};
use super::error::{BudgetError, BudgetStatus, RefusalReason};
use super::ledger::{BudgetReset, SpendSource};
use super::period::Period;
use super::settlement::PendingSettle;
use super::slices::SliceState;
use super::store::{BudgetStore, ReserveOutcome, ReserveRequest, StoreError, StoreSnapshot};
use crate::clock::SharedClock;
use crate::money::Micros;
use parking_lot::Mutex;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
struct Observed {
    period_key: Option<String>,
    state: Option<BudgetState>,
}

pub struct BudgetBreaker {
    pub(super) config: BudgetConfig,
    pub(super) thresholds: Thresholds,
    pub(super) store: Arc<dyn BudgetStore>,
    pub(super) ledger: Arc<dyn SpendSource>,
    pub(super) clock: SharedClock,
    /// Held while rebuilding; remembers the latest failure (period, when, why).
    pub(super) rebuild: tokio::sync::Mutex<Option<(String, tokio::time::Instant, String)>>,
    observed: Mutex<Observed>,
    pub(super) pending: Mutex<Vec<PendingSettle>>,
    pub(super) slices: Mutex<SliceState>,
    healthy: AtomicBool,
}

impl BudgetBreaker {
    pub fn new(
        config: BudgetConfig,
        store: Arc<dyn BudgetStore>,
        ledger: Arc<dyn SpendSource>,
        clock: SharedClock,
    ) -> Arc<Self> {
        metrics::gauge!("llm_budget_limit_usd").set(usd(config.limit));
        Arc::new(Self {
            thresholds: config.thresholds(),
            config,
            store,
            ledger,
            clock,
            rebuild: tokio::sync::Mutex::new(None),
            observed: Mutex::new(Observed::default()),
            pending: Mutex::new(Vec::new()),
            slices: Mutex::new(SliceState::default()),
            healthy: AtomicBool::new(true),
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
        self.claim(call_id)?;
        let result = self.admit_claimed(call_id, worst_case, wants_sota).await;
        if result.is_err() {
            self.unclaim(call_id);
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
        self.note_period(&period);
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
        for attempt in 0..2 {
            let req = ReserveRequest {
                period: &period,
                call_id,
                amount: worst_case,
                limit: self.config.limit,
                block_at: self.thresholds.block_at(),
                now: self.clock.now(),
            };
            let outcome = match self.bounded(self.store.reserve(&req)).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    // The reserve may still land (a late write after a timeout).
                    self.release_later(&period, call_id);
                    return Err(e);
                }
            };
            match outcome {
                ReserveOutcome::Admitted {
                    spent,
                    reserved,
                    epoch,
                } => {
                    self.observe(&period, spent, reserved);
                    let state = self.thresholds.state_of(spent);
                    return Ok(Admission {
                        call_id: call_id.to_owned(),
                        period,
                        epoch,
                        slice: None,
                        reserved: worst_case,
                        state,
                        downgrade_to_cost_effective: wants_sota
                            && self.config.downgrade_sota
                            && state == BudgetState::HalfOpen,
                        breaker: self.clone(),
                        finished: false,
                    });
                }
                ReserveOutcome::NeedsRebuild if attempt == 0 => {
                    self.rebuild_for_call(&period).await?;
                }
                ReserveOutcome::NeedsRebuild => {
                    return Err(BudgetError::Unavailable(format!(
                        "budget state of {} is missing after a rebuild",
                        period.key
                    )));
                }
                ReserveOutcome::Blocked { spent, reserved } => {
                    self.observe(&period, spent, reserved);
                    return Err(refused(RefusalReason::Blocked, spent, reserved));
                }
                ReserveOutcome::WouldExceed { spent, reserved } => {
                    self.observe(&period, spent, reserved);
                    return Err(refused(RefusalReason::WouldExceed, spent, reserved));
                }
                ReserveOutcome::AlreadyReserved { .. } | ReserveOutcome::AlreadySettled { .. } => {
                    return Err(BudgetError::DuplicateRequest(call_id.to_owned()));
                }
            }
        }
        Err(BudgetError::Unavailable(
            "budget state could not be rebuilt".into(),
        ))
    }

    /// The budget now (GetBudget). Rebuilds a missing state first, as a call would.
    pub async fn status(&self) -> Result<BudgetStatus, BudgetError> {
        let period = self.current_period();
        self.note_period(&period);
        let snapshot = match self
            .bounded(self.store.snapshot(&period, self.clock.now()))
            .await?
        {
            Some(s) => s,
            None => {
                self.rebuild_for_call(&period).await?;
                self.bounded(self.store.snapshot(&period, self.clock.now()))
                    .await?
                    .ok_or_else(|| BudgetError::Unavailable("budget state missing".into()))?
            }
        };
        self.observe(&period, snapshot.spent, snapshot.reserved);
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
        let snapshot = self.bounded(self.store.reset(&period, at, at)).await?;
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
        self.observe(&period, snapshot.spent, snapshot.reserved);
        Ok((before, after))
    }

    /// Pings the store (readiness), notes a month rollover, and retries queued
    /// settles once the store answers. Logs transitions.
    pub async fn check_store(&self) -> bool {
        self.note_period(&self.current_period());
        let result = self.bounded(self.store.ping()).await;
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
            self.return_stale_slice().await;
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
        match self
            .bounded(self.store.snapshot(&period, self.clock.now()))
            .await
        {
            Ok(Some(_)) => true,
            Ok(None) => self.rebuild(&period).await.is_ok() || !self.config.require_ledger,
            Err(_) => false,
        }
    }

    /// The latest `check_store` result.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    pub(super) async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, BudgetError> {
        // Twice the command timeout: a first use loads the script (two commands).
        let limit = self.config.store_timeout.saturating_mul(2);
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(BudgetError::Unavailable(store_cause(&e))),
            Err(_) => Err(BudgetError::Unavailable(format!(
                "budget store did not answer within {} ms",
                limit.as_millis()
            ))),
        }
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

    /// Logs `circuit_breaker.monthly_reset` once per replica when the period changes.
    fn note_period(&self, period: &Period) {
        let mut observed = self.observed.lock();
        if observed.period_key.as_deref() == Some(period.key.as_str()) {
            return;
        }
        if let Some(previous) = observed.period_key.replace(period.key.clone()) {
            tracing::info!(previous = %previous, period = %period.key, "circuit_breaker.monthly_reset");
        }
        observed.state = None;
    }

    /// The state last observed for `period` by this replica.
    pub(super) fn observed_state(&self, period: &Period) -> Option<BudgetState> {
        let observed = self.observed.lock();
        if observed.period_key.as_deref() == Some(period.key.as_str()) {
            observed.state
        } else {
            None
        }
    }

    /// Publishes gauges and logs state transitions (per replica).
    pub(super) fn observe(&self, period: &Period, spent: Micros, reserved: Micros) {
        let state = self.thresholds.state_of(spent);
        let previous = {
            let mut observed = self.observed.lock();
            if observed.period_key.as_deref() != Some(period.key.as_str()) {
                return; // a late settle of another month
            }
            observed.state.replace(state)
        };
        metrics::gauge!("llm_budget_spent_usd").set(usd(spent));
        metrics::gauge!("llm_budget_reserved_usd").set(usd(reserved));
        metrics::gauge!("llm_budget_utilisation_ratio")
            .set(f64::from(self.thresholds.utilisation_bp(spent)) / 10_000.0);
        metrics::gauge!("llm_budget_state").set(state.gauge());
        if previous == Some(state) {
            return;
        }
        let utilisation_bp = self.thresholds.utilisation_bp(spent);
        let limit = self.config.limit;
        match state {
            BudgetState::HalfOpen => tracing::warn!(
                period = %period.key, utilisation_bp, spent_usd = %spent, limit_usd = %limit,
                downgrade_sota = self.config.downgrade_sota, state = state.as_str(), "circuit_breaker.alert"
            ),
            BudgetState::Open => tracing::error!(
                period = %period.key, utilisation_bp, spent_usd = %spent, limit_usd = %limit,
                state = state.as_str(), "circuit_breaker.opened"
            ),
            BudgetState::Closed if previous.is_some() => tracing::info!(
                period = %period.key, utilisation_bp, spent_usd = %spent, limit_usd = %limit,
                state = state.as_str(), "circuit_breaker.closed"
            ),
            BudgetState::Closed => {}
        }
    }
}

fn store_cause(e: &StoreError) -> String {
    match e {
        StoreError::Unavailable(cause) | StoreError::Protocol(cause) => cause.clone(),
    }
}

/// Display-only float for gauges; all logic is integer.
fn usd(m: Micros) -> f64 {
    m.0 as f64 / Micros::PER_USD as f64
}
