//! Readiness from the budget store: the router is ready while the store
//! answers. A router that cannot check the budget refuses every call, so
//! orchestrators should route around it.

use super::breaker::BudgetBreaker;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where readiness is reported (the gRPC health service in production).
#[async_trait::async_trait]
pub trait Readiness: Send + Sync {
    async fn set_ready(&self, ready: bool);
}

#[async_trait::async_trait]
impl<T: Readiness + ?Sized> Readiness for Arc<T> {
    async fn set_ready(&self, ready: bool) {
        (**self).set_ready(ready).await;
    }
}

#[async_trait::async_trait]
impl Readiness for service_kit::grpc_server::Health {
    async fn set_ready(&self, ready: bool) {
        if ready {
            self.set_serving().await;
        } else {
            self.set_not_serving().await;
        }
    }
}

/// Checks the budget every `interval` ([`BudgetBreaker::check_ready`]: the
/// store answers, bounded by the command timeout, and the month's state exists
/// or could be rebuilt from the ledger) and reports changes to `readiness`
/// until `cancel`. The first result is always reported. Also retries settles
/// queued while the store was down.
pub async fn watch_readiness<R: Readiness>(
    budget: Arc<BudgetBreaker>,
    readiness: R,
    interval: Duration,
    cancel: CancellationToken,
) {
    let mut last = None;
    loop {
        let ready = tokio::select! {
            _ = cancel.cancelled() => return,
            ready = budget.check_ready() => ready,
        };
        if last != Some(ready) {
            if ready {
                tracing::info!("budget.ready");
            } else {
                tracing::warn!("budget.not_ready");
            }
            readiness.set_ready(ready).await;
            last = Some(ready);
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
