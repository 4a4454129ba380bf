//! Rebuilding a lost month from the usage ledger: an empty store is never
//! read as "nothing spent". One rebuild at a time per replica; after a failed
//! one, calls fail fast for a moment instead of each asking the ledger again.

use super::bounded::BoundedStore;
use super::error::BudgetError;
use super::ledger::SpendSource;
use super::period::Period;
use crate::clock::SharedClock;
use crate::money::Micros;
use std::sync::Arc;
use std::time::Duration;

/// After a failed rebuild, calls fail fast for this long instead of each
/// asking the ledger again.
const REBUILD_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The latest failure: period key, when, why.
type Failure = Option<(String, tokio::time::Instant, String)>;

pub(super) struct Rebuilder {
    store: BoundedStore,
    ledger: Arc<dyn SpendSource>,
    clock: SharedClock,
    timeout: Duration,
    /// See [`super::BudgetConfig::require_ledger`].
    require_ledger: bool,
    /// Held while rebuilding.
    last_failure: tokio::sync::Mutex<Failure>,
}

impl Rebuilder {
    pub(super) fn new(
        store: BoundedStore,
        ledger: Arc<dyn SpendSource>,
        clock: SharedClock,
        timeout: Duration,
        require_ledger: bool,
    ) -> Self {
        Self {
            store,
            ledger,
            clock,
            timeout,
            require_ledger,
            last_failure: tokio::sync::Mutex::new(None),
        }
    }

    /// Rebuilds `period` from the ledger unless someone else already did.
    pub(super) async fn rebuild(&self, period: &Period) -> Result<(), BudgetError> {
        self.rebuild_or(period, false).await
    }

    /// The rebuild a call (or GetBudget) needs. Without `require_ledger` (the
    /// single-replica development mode) a ledger that cannot be read starts
    /// the month from zero instead of refusing the call.
    pub(super) async fn for_call(&self, period: &Period) -> Result<(), BudgetError> {
        self.rebuild_or(period, !self.require_ledger).await
    }

    async fn rebuild_or(&self, period: &Period, start_from_zero: bool) -> Result<(), BudgetError> {
        let mut last_failure = self.last_failure.lock().await;
        let now = self.clock.now();
        if self.store.snapshot(period, now).await?.is_some() {
            return Ok(());
        }
        if let Some((key, at, cause)) = last_failure.as_ref()
            && key == &period.key
            && at.elapsed() < REBUILD_RETRY_AFTER
        {
            if start_from_zero {
                return self.start_from_zero(period, cause.clone()).await;
            }
            return Err(rebuilding(cause));
        }
        tracing::warn!(period = %period.key, "budget.rebuild_started");
        let spend = tokio::time::timeout(
            self.timeout,
            self.ledger.month_spend(period.start, period.end),
        )
        .await;
        let cause = match spend {
            Ok(Ok(spend)) => {
                let window_start = spend.counted_from.clamp(period.start, period.end);
                let created = self
                    .store
                    .initialize(period, spend.spent, window_start, now)
                    .await?;
                *last_failure = None;
                tracing::info!(
                    period = %period.key,
                    spent_usd = %spend.spent,
                    counted_from = %window_start.to_rfc3339(),
                    created,
                    "budget.rebuilt"
                );
                return Ok(());
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "usage ledger did not answer within {} ms",
                self.timeout.as_millis()
            ),
        };
        let err = self.rebuild_failed(&mut last_failure, period, cause.clone());
        if start_from_zero {
            return self.start_from_zero(period, cause).await;
        }
        Err(err)
    }

    /// Development mode only (see [`super::BudgetConfig::require_ledger`]): the
    /// month counts from zero, which is said loudly because spend recorded
    /// before this process started is not counted.
    async fn start_from_zero(&self, period: &Period, cause: String) -> Result<(), BudgetError> {
        let now = self.clock.now();
        let created = self
            .store
            .initialize(period, Micros::ZERO, period.start, now)
            .await?;
        if created {
            tracing::error!(
                period = %period.key,
                error = %cause,
                "budget.rebuild_skipped"
            );
        }
        Ok(())
    }

    fn rebuild_failed(
        &self,
        last_failure: &mut Failure,
        period: &Period,
        cause: String,
    ) -> BudgetError {
        tracing::error!(period = %period.key, error = %cause, "budget.rebuild_failed");
        let err = rebuilding(&cause);
        *last_failure = Some((period.key.clone(), tokio::time::Instant::now(), cause));
        err
    }
}

fn rebuilding(cause: &str) -> BudgetError {
    BudgetError::Unavailable(format!(
        "budget state is being rebuilt from the usage ledger, which failed: {cause}"
    ))
}
