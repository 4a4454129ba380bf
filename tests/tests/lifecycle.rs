//! The lifecycle operators rely on: an open health `Watch` (a load balancer
//! watching) does not hold a SIGTERM'd service for its grace period.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;
use test_support::ChildProcess;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const GRPC_SERVICES: &[(&str, &str)] = &[
    ("conversation", "CONVERSATION_LISTEN_ADDR"),
    ("llm-router", "ROUTER_LISTEN_ADDR"),
    ("usage-accounting", "USAGE_LISTEN_ADDR"),
];

#[tokio::test]
async fn sigterm_with_a_health_watch_open_exits_within_two_seconds() {
    for (bin, listen_var) in GRPC_SERVICES.iter().copied() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().display().to_string();
        let mut child = ChildProcess::spawn(
            bin,
            &[
                (listen_var, "127.0.0.1:0".into()),
                // The production default: a held drain would take 25 s.
                ("SHUTDOWN_GRACE_MS", "25000".into()),
                ("CONVERSATION_SQLITE_PATH", format!("{dir}/conversation.db")),
                ("USAGE_SQLITE_PATH", format!("{dir}/usage.db")),
                ("USAGE_OUTBOX_PATH", format!("{dir}/outbox.db")),
            ],
        );
        let addr = child.bound_addr().await;
        let channel = service_kit::grpc_client::channel(&addr.to_string()).unwrap();
        let mut watch = HealthClient::new(channel)
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        // Follow the stream until SERVING, so the Watch is surely open and live.
        loop {
            let status = tokio::time::timeout(Duration::from_secs(20), watch.message())
                .await
                .unwrap_or_else(|_| panic!("{bin} never became SERVING: {:?}", child.logs()))
                .unwrap()
                .unwrap()
                .status;
            if status == ServingStatus::Serving as i32 {
                break;
            }
        }

        child.signal("TERM");
        assert_eq!(
            child.wait_exit(Duration::from_secs(2)).await,
            Some(0),
            "{bin} held by the open Watch"
        );
        // The watcher saw NOT_SERVING, then the end of the stream.
        let mut last = None;
        while let Ok(Some(reply)) = watch.message().await {
            last = Some(reply.status);
        }
        assert_eq!(last, Some(ServingStatus::NotServing as i32), "{bin}");
        drop(tmp);
    }
}

/// The README's `DATABASE_URL=… make run`: one database for both database
/// services, each of which must become SERVING (their migrations coexist).
#[tokio::test]
async fn one_database_url_for_both_database_services_serves() {
    let db = test_support::TestDb::create().await;
    let tmp = tempfile::tempdir().unwrap();
    let outbox = tmp.path().join("outbox.db").display().to_string();
    let mut children = Vec::new();
    for (bin, listen_var) in [
        ("usage-accounting", "USAGE_LISTEN_ADDR"),
        ("conversation", "CONVERSATION_LISTEN_ADDR"),
    ] {
        let child = ChildProcess::spawn(
            bin,
            &[
                (listen_var, "127.0.0.1:0".into()),
                ("DATABASE_URL", db.url.clone()),
                ("USAGE_OUTBOX_PATH", outbox.clone()),
            ],
        );
        let addr = child.bound_addr().await;
        children.push((bin, child, addr));
    }
    for (bin, child, addr) in &children {
        let channel = service_kit::grpc_client::channel(&addr.to_string()).unwrap();
        let mut serving = false;
        for _ in 0..200 {
            let reply = HealthClient::new(channel.clone())
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            if reply.is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32) {
                serving = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(serving, "{bin} never became SERVING: {:?}", child.logs());
    }
    for (bin, mut child, _) in children {
        child.signal("TERM");
        assert_eq!(
            child.wait_exit(Duration::from_secs(10)).await,
            Some(0),
            "{bin}"
        );
    }
}
