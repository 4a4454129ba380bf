//! The shared provider pin (`RedisPinStore` + `sync_pin`) on one Redis and on
//! a Redis Cluster: a pin set through one replica's connection reaches
//! another replica's local copy, and clearing it does too.

use super::support::{Cleanup, cluster_connection, redis, redis_cluster};
use llm_router::admin::{PinStore, ProviderOverride, RedisPinStore, sync_pin};
use llm_router::redis::RedisHandle;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_millis(500);

async fn wait_for(pinned: &ProviderOverride, want: Option<&str>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while pinned.get().as_deref().map(String::as_str) != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pin never became {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `writer` and `reader` are two replicas' connections to the same Redis.
async fn a_pin_set_on_one_replica_reaches_another(
    writer: &RedisHandle,
    reader: &RedisHandle,
    prefix: &str,
) {
    let setter = RedisPinStore::new(writer.client.clone(), prefix, TIMEOUT);
    let follower: Arc<dyn PinStore> =
        Arc::new(RedisPinStore::new(reader.client.clone(), prefix, TIMEOUT));
    assert_eq!(follower.load().await.unwrap(), None);
    let pinned = Arc::new(ProviderOverride::new(None));
    let cancel = CancellationToken::new();
    let sync = tokio::spawn(sync_pin(
        follower,
        pinned.clone(),
        Duration::from_millis(20),
        cancel.clone(),
    ));
    setter.save(Some("anthropic")).await.unwrap();
    wait_for(&pinned, Some("anthropic")).await;
    setter.save(None).await.unwrap();
    wait_for(&pinned, None).await;
    cancel.cancel();
    sync.await.unwrap();
}

#[tokio::test]
async fn on_redis() {
    let prefix = test_support::unique_prefix("pin");
    let _cleanup = Cleanup(prefix.clone());
    let (writer, reader) = (redis(TIMEOUT).await, redis(TIMEOUT).await);
    a_pin_set_on_one_replica_reaches_another(&writer, &reader, &prefix).await;
}

#[tokio::test]
async fn on_redis_cluster() {
    let Some((writer, cluster)) = redis_cluster(TIMEOUT).await else {
        return;
    };
    let reader = cluster_connection(&cluster, TIMEOUT).await;
    a_pin_set_on_one_replica_reaches_another(&writer, &reader, "fe:").await;
}
