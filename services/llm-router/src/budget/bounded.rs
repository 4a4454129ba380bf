//! The budget store as the breaker uses it: every call bounded in time, and
//! a store that does not answer (or answers nonsense) is a `BudgetError`
//! that refuses the call (fail closed).

use super::error::BudgetError;
use super::period::Period;
use super::store::{
    BudgetStore, ReserveOutcome, ReserveRequest, SettleOutcome, SettleRequest, StoreError,
    StoreSnapshot,
};
use crate::money::Micros;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub(super) struct BoundedStore {
    store: Arc<dyn BudgetStore>,
    limit: Duration,
}

impl BoundedStore {
    pub(super) fn new(store: Arc<dyn BudgetStore>, command_timeout: Duration) -> Self {
        // Twice the command timeout: a first use loads the script (two commands).
        Self {
            store,
            limit: command_timeout.saturating_mul(2),
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        self.store.kind()
    }

    pub(super) async fn reserve(
        &self,
        req: &ReserveRequest<'_>,
    ) -> Result<ReserveOutcome, BudgetError> {
        self.bounded(self.store.reserve(req)).await
    }

    pub(super) async fn settle(
        &self,
        req: &SettleRequest<'_>,
    ) -> Result<SettleOutcome, BudgetError> {
        self.bounded(self.store.settle(req)).await
    }

    pub(super) async fn snapshot(
        &self,
        period: &Period,
        now: DateTime<Utc>,
    ) -> Result<Option<StoreSnapshot>, BudgetError> {
        self.bounded(self.store.snapshot(period, now)).await
    }

    pub(super) async fn initialize(
        &self,
        period: &Period,
        spent: Micros,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, BudgetError> {
        self.bounded(self.store.initialize(period, spent, window_start, now))
            .await
    }

    pub(super) async fn reset(
        &self,
        period: &Period,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<StoreSnapshot, BudgetError> {
        self.bounded(self.store.reset(period, window_start, now))
            .await
    }

    pub(super) async fn ping(&self) -> Result<(), BudgetError> {
        self.bounded(self.store.ping()).await
    }

    pub(super) async fn request_reclaim(
        &self,
        period: &Period,
        hold: Duration,
    ) -> Result<(), BudgetError> {
        self.bounded(self.store.request_reclaim(period, hold)).await
    }

    pub(super) async fn reclaim_requested(&self, period: &Period) -> Result<bool, BudgetError> {
        self.bounded(self.store.reclaim_requested(period)).await
    }

    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, BudgetError> {
        match tokio::time::timeout(self.limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(StoreError::Unavailable(cause) | StoreError::Protocol(cause))) => {
                Err(BudgetError::Unavailable(cause))
            }
            Err(_) => Err(BudgetError::Unavailable(format!(
                "budget store did not answer within {} ms",
                self.limit.as_millis()
            ))),
        }
    }
}
