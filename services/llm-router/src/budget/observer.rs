//! What this replica last saw of the budget: the period it is in and the
//! state it observed. Publishes the gauges and logs each transition once per
//! replica (alert, opened, closed, monthly reset).

use super::config::{BudgetState, Thresholds};
use super::period::Period;
use crate::money::Micros;
use parking_lot::Mutex;

#[derive(Debug, Default)]
struct Observed {
    period_key: Option<String>,
    state: Option<BudgetState>,
}

pub(super) struct Observer {
    thresholds: Thresholds,
    /// Logged with the alert: whether `sota` calls are served on `cost_effective`.
    downgrade_sota: bool,
    observed: Mutex<Observed>,
}

impl Observer {
    pub(super) fn new(thresholds: Thresholds, downgrade_sota: bool) -> Self {
        metrics::gauge!("llm_budget_limit_usd").set(usd(thresholds.limit));
        Self {
            thresholds,
            downgrade_sota,
            observed: Mutex::new(Observed::default()),
        }
    }

    /// Logs `circuit_breaker.monthly_reset` once per replica when the period changes.
    pub(super) fn note_period(&self, period: &Period) {
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
    pub(super) fn state(&self, period: &Period) -> Option<BudgetState> {
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
        let utilisation_bp = self.thresholds.utilisation_bp(spent);
        metrics::gauge!("llm_budget_spent_usd").set(usd(spent));
        metrics::gauge!("llm_budget_reserved_usd").set(usd(reserved));
        metrics::gauge!("llm_budget_utilisation_ratio").set(f64::from(utilisation_bp) / 10_000.0);
        metrics::gauge!("llm_budget_state").set(state.gauge());
        if previous == Some(state) {
            return;
        }
        let limit = self.thresholds.limit;
        match state {
            BudgetState::HalfOpen => tracing::warn!(
                period = %period.key, utilisation_bp, spent_usd = %spent, limit_usd = %limit,
                downgrade_sota = self.downgrade_sota, state = state.as_str(), "circuit_breaker.alert"
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

/// Display-only float for gauges; all logic is integer.
fn usd(m: Micros) -> f64 {
    m.0 as f64 / Micros::PER_USD as f64
}
