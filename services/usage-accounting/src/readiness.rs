//! Readiness: the server starts `NOT_SERVING`, migrates the database
//! (retrying until it is reachable), then serves. Afterwards a periodic ping
//! flips health with the database, so orchestrators stop routing to a replica
//! that cannot write (the router's outbox keeps the records meanwhile), and
//! the pool gauges are refreshed.

use crate::config::Retention;
use crate::ledger::Ledger;
use crate::retention;
use crate::storage::DynStore;
use service_kit::grpc_server::Health;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(10);
const CHECK_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Everything the supervisor needs; it runs until `cancel`.
pub struct Supervisor {
    pub store: DynStore,
    pub ledger: Ledger,
    pub health: Health,
    pub retention: Retention,
    pub cancel: CancellationToken,
    pub tasks: TaskTracker,
}

impl Supervisor {
    pub async fn run(self) {
        let backend = self.store.backend();
        let mut delay = FIRST_RETRY;
        loop {
            // Connecting can take seconds when the database is down: never hold up shutdown.
            let attempt = tokio::select! {
                _ = self.cancel.cancelled() => return,
                attempt = self.store.migrate() => attempt,
            };
            match attempt {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(backend, error = %e, retry_in_ms = delay.as_millis() as u64,
                        "storage.not_ready");
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(MAX_RETRY);
                }
            }
        }
        self.ledger.set_ready(self.store.clone());
        self.health.set_serving().await;
        tracing::info!(backend, "storage.ready");
        self.tasks.spawn(retention::run_daily(
            self.store.clone(),
            self.retention,
            self.cancel.clone(),
        ));
        self.watch().await;
    }

    async fn watch(&self) {
        let backend = self.store.backend();
        let mut serving = true;
        loop {
            let stats = self.store.pool_stats();
            metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(stats.idle));
            metrics::gauge!("db_pool_connections", "state" => "used")
                .set(f64::from(stats.size.saturating_sub(stats.idle)));
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            let reachable = matches!(
                tokio::time::timeout(PING_TIMEOUT, self.store.ping()).await,
                Ok(Ok(()))
            );
            // Shutdown flips health to NOT_SERVING itself: never flip it back.
            if reachable != serving && !self.cancel.is_cancelled() {
                serving = reachable;
                if reachable {
                    self.health.set_serving().await;
                    tracing::info!(backend, "storage.recovered");
                } else {
                    self.health.set_not_serving().await;
                    tracing::error!(backend, "storage.unreachable");
                }
            }
        }
    }
}
