//! Where the runtime pin is shared between replicas. With `REDIS_URL` it is
//! one Redis key that `SetProviderOverride` writes and every replica reads
//! back every second (calls read the local copy, lock-free); without Redis
//! the pin is the process's own (one replica).

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{Client, KeysInterface};
use tokio_util::sync::CancellationToken;

use super::ProviderOverride;
use crate::redis::describe;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the provider pin could not be shared: {0}")]
pub struct PinStoreError(pub String);

#[async_trait::async_trait]
pub trait PinStore: Send + Sync {
    async fn load(&self) -> Result<Option<String>, PinStoreError>;
    /// Sets (`Some`) or clears (`None`) the shared pin.
    async fn save(&self, provider: Option<&str>) -> Result<(), PinStoreError>;
}

/// The pin as the key `{<prefix>router}:provider_override`.
pub struct RedisPinStore {
    client: Client,
    key: String,
    timeout: Duration,
}

impl RedisPinStore {
    /// `timeout` is the client's command timeout (only used to word errors).
    pub fn new(client: Client, prefix: &str, timeout: Duration) -> Self {
        Self {
            client,
            key: format!("{{{prefix}router}}:provider_override"),
            timeout,
        }
    }

    fn err(&self, e: &fred::prelude::Error) -> PinStoreError {
        PinStoreError(describe(e, self.timeout))
    }
}

#[async_trait::async_trait]
impl PinStore for RedisPinStore {
    async fn load(&self) -> Result<Option<String>, PinStoreError> {
        self.client
            .get::<Option<String>, _>(&self.key)
            .await
            .map_err(|e| self.err(&e))
    }

    async fn save(&self, provider: Option<&str>) -> Result<(), PinStoreError> {
        match provider {
            Some(p) => self
                .client
                .set::<(), _, _>(&self.key, p, None, None, false)
                .await
                .map_err(|e| self.err(&e)),
            None => self
                .client
                .del::<(), _>(&self.key)
                .await
                .map_err(|e| self.err(&e)),
        }
    }
}

/// Copies the shared pin into `pinned` every `interval` until `cancel`, so a
/// pin set on one replica reaches all of them within one interval.
pub async fn sync_pin(
    store: Arc<dyn PinStore>,
    pinned: Arc<ProviderOverride>,
    interval: Duration,
    cancel: CancellationToken,
) {
    loop {
        let loaded = tokio::select! {
            _ = cancel.cancelled() => return,
            loaded = store.load() => loaded,
        };
        match loaded {
            Ok(shared) => {
                let local = pinned.get().map(|p| p.as_str().to_owned());
                if local != shared {
                    tracing::info!(
                        before = local.as_deref().unwrap_or(""),
                        after = shared.as_deref().unwrap_or(""),
                        "provider.override_synced"
                    );
                    pinned.replace(shared);
                }
            }
            // Keep the last known pin; readiness reports a Redis outage.
            Err(e) => tracing::debug!(error = %e, "provider.override_sync_failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
