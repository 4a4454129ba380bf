//! One conformance suite for the usage outbox, run against the Redis Stream
//! and the SQLite file.

use super::support::{record, usd, utc};
use llm_router::delivery::{Outbox, RedisStreamOutbox, SqliteOutbox};
use std::time::Duration;

fn records(n: usize) -> Vec<llm_router::delivery::UsageRecord> {
    (0..n)
        .map(|i| {
            record(
                &format!("req-{i}"),
                usd("0.001"),
                utc("2026-11-10T12:00:00Z"),
            )
        })
        .collect()
}

macro_rules! outbox_suite {
    ($backend:ident, $make:expr, $corrupt:path) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn appends_peeks_in_order_and_removes() {
                let Some((outbox, _guard)) = $make.await else {
                    return;
                };
                assert_eq!(outbox.depth().await.unwrap(), 0);
                assert!(outbox.peek(10).await.unwrap().is_empty());
                let recs = records(5);
                outbox.append(&recs[..3]).await.unwrap();
                outbox.append(&recs[3..]).await.unwrap();
                assert_eq!(outbox.depth().await.unwrap(), 5);
                let first = outbox.peek(2).await.unwrap();
                assert_eq!(
                    first.iter().map(|e| e.record.clone()).collect::<Vec<_>>(),
                    recs[..2].to_vec()
                );
                let all = outbox.peek(100).await.unwrap();
                assert_eq!(all.len(), 5);
                assert_eq!(all[4].record, recs[4]);
                outbox
                    .remove(&[all[0].id.clone(), all[2].id.clone()])
                    .await
                    .unwrap();
                let left: Vec<_> = outbox
                    .peek(100)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.record.call_id)
                    .collect();
                assert_eq!(left, vec!["req-1", "req-3", "req-4"]);
                assert_eq!(outbox.depth().await.unwrap(), 3);
                // Removing an id twice is harmless.
                outbox.remove(&[all[0].id.clone()]).await.unwrap();
                assert_eq!(outbox.depth().await.unwrap(), 3);
            }

            #[tokio::test]
            async fn rejected_entries_move_aside_and_are_kept() {
                let Some((outbox, _guard)) = $make.await else {
                    return;
                };
                outbox.append(&records(3)).await.unwrap();
                let entries = outbox.peek(10).await.unwrap();
                outbox
                    .move_aside(&[(entries[1].clone(), "conflicting record".into())])
                    .await
                    .unwrap();
                assert_eq!(outbox.depth().await.unwrap(), 2);
                assert_eq!(outbox.rejected_count().await.unwrap(), 1);
                let ids: Vec<_> = outbox
                    .peek(10)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.record.call_id)
                    .collect();
                assert_eq!(ids, vec!["req-0", "req-2"]);
                outbox
                    .append_rejected(&[(records(1).remove(0), "invalid".into())])
                    .await
                    .unwrap();
                assert_eq!(outbox.rejected_count().await.unwrap(), 2);
                assert_eq!(outbox.depth().await.unwrap(), 2);
            }

            #[tokio::test]
            async fn undecodable_entries_are_moved_aside_not_returned() {
                let Some((outbox, guard)) = $make.await else {
                    return;
                };
                outbox.append(&records(1)).await.unwrap();
                $corrupt(&guard).await;
                outbox.append(&records(2)[1..]).await.unwrap();
                let ids: Vec<_> = outbox
                    .peek(10)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.record.call_id)
                    .collect();
                assert_eq!(ids, vec!["req-0", "req-1"]);
                assert_eq!(outbox.rejected_count().await.unwrap(), 1);
                assert_eq!(outbox.depth().await.unwrap(), 2);
            }
        }
    };
}

struct RedisGuard {
    handle: llm_router::redis::RedisHandle,
    prefix: String,
    _cleanup: Option<super::support::Cleanup>,
    _cluster: Option<test_support::RedisCluster>,
}

async fn redis_outbox() -> Option<(Box<dyn Outbox>, RedisGuard)> {
    let handle = super::support::redis(Duration::from_millis(500)).await;
    let prefix = test_support::unique_prefix("outbox");
    let outbox = RedisStreamOutbox::new(handle.client.clone(), &prefix, Duration::from_millis(500));
    let _cleanup = Some(super::support::Cleanup(prefix.clone()));
    Some((
        Box::new(outbox),
        RedisGuard {
            handle,
            prefix,
            _cleanup,
            _cluster: None,
        },
    ))
}

/// The stream outbox on a Redis Cluster of the test's own.
async fn cluster_outbox() -> Option<(Box<dyn Outbox>, RedisGuard)> {
    let (handle, cluster) = super::support::redis_cluster(Duration::from_millis(500)).await?;
    let prefix = "fe:".to_owned();
    let outbox = RedisStreamOutbox::new(handle.client.clone(), &prefix, Duration::from_millis(500));
    Some((
        Box::new(outbox),
        RedisGuard {
            handle,
            prefix,
            _cleanup: None,
            _cluster: Some(cluster),
        },
    ))
}

async fn redis_corrupt(guard: &RedisGuard) {
    use fred::prelude::StreamsInterface;
    let _: String = guard
        .handle
        .client
        .xadd(
            format!("{{{}usage_outbox}}", guard.prefix),
            false,
            None::<()>,
            "*",
            vec![("record", "{not json")],
        )
        .await
        .unwrap();
}

struct SqliteGuard {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

async fn sqlite_outbox() -> Option<(Box<dyn Outbox>, SqliteGuard)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("router-outbox.db");
    let outbox = SqliteOutbox::open(&path).await.unwrap();
    Some((Box::new(outbox), SqliteGuard { _dir: dir, path }))
}

async fn sqlite_corrupt(guard: &SqliteGuard) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", guard.path.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO usage_outbox (request_id, payload) VALUES ('x', '{not json')")
        .execute(&mut conn)
        .await
        .unwrap();
}

outbox_suite!(redis_stream, redis_outbox(), redis_corrupt);
outbox_suite!(redis_cluster_stream, cluster_outbox(), redis_corrupt);
outbox_suite!(sqlite_file, sqlite_outbox(), sqlite_corrupt);

#[tokio::test]
async fn the_sqlite_outbox_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    {
        let outbox = SqliteOutbox::open(&path).await.unwrap();
        outbox.append(&records(4)).await.unwrap();
    }
    let outbox = SqliteOutbox::open(&path).await.unwrap();
    assert_eq!(outbox.depth().await.unwrap(), 4);
    assert_eq!(outbox.peek(10).await.unwrap()[3].record.call_id, "req-3");
}
