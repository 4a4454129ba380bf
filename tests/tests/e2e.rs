//! End-to-end: the real binaries, started as operators start them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;
use test_support::ChildProcess;

const GRPC_SERVICES: &[(&str, &str, &str)] = &[
    (
        "conversation",
        "CONVERSATION_LISTEN_ADDR",
        "fluentedge.conversation.v1.ConversationService",
    ),
    (
        "llm-router",
        "ROUTER_LISTEN_ADDR",
        "fluentedge.router.v1.LlmRouter",
    ),
    (
        "usage-accounting",
        "USAGE_LISTEN_ADDR",
        "fluentedge.usage.v1.UsageLedger",
    ),
];

#[tokio::test]
async fn bad_config_exits_non_zero_naming_the_variable() {
    for (bin, listen_var, _) in
        GRPC_SERVICES
            .iter()
            .copied()
            .chain([("gateway", "GATEWAY_LISTEN_ADDR", "")])
    {
        let mut child = ChildProcess::spawn(
            bin,
            &[
                (listen_var, "127.0.0.1:0".into()),
                ("LOG_LEVEL", "[[not a level".into()),
            ],
        );
        let code = child.wait_exit(Duration::from_secs(20)).await;
        assert_eq!(code, Some(78), "{bin} exit code");
        let logs = child.logs().join("\n");
        assert!(
            logs.contains("LOG_LEVEL"),
            "{bin} must name the variable: {logs}"
        );

        let mut child = ChildProcess::spawn(bin, &[(listen_var, "not-an-address".into())]);
        assert_eq!(
            child.wait_exit(Duration::from_secs(20)).await,
            Some(78),
            "{bin}"
        );
        assert!(
            child.logs().join("\n").contains(listen_var),
            "{bin}: {:?}",
            child.logs()
        );
    }
}

#[tokio::test]
async fn grpc_services_serve_health_and_reflection_and_drain_on_sigterm() {
    for (bin, listen_var, service) in GRPC_SERVICES.iter().copied() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().display().to_string();
        let mut child = ChildProcess::spawn(
            bin,
            &[
                (listen_var, "127.0.0.1:0".into()),
                ("CONVERSATION_SQLITE_PATH", format!("{dir}/conversation.db")),
                ("USAGE_SQLITE_PATH", format!("{dir}/usage.db")),
                ("USAGE_OUTBOX_PATH", format!("{dir}/outbox.db")),
            ],
        );
        let addr = child.bound_addr().await.to_string();
        let started = child
            .wait_for_log(Duration::from_secs(5), |v| v["event"] == "server.started")
            .await;
        assert_eq!(started["service"], bin);
        assert!(started["version"].is_string());

        let list = grpcurl(&["-plaintext", &addr, "list"]).await;
        for name in [
            service,
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            assert!(
                list.lines().any(|l| l == name),
                "{bin}: {name} not in {list}"
            );
        }
        let mut serving = false;
        for _ in 0..100 {
            if grpcurl(&["-plaintext", &addr, "grpc.health.v1.Health/Check"])
                .await
                .contains("\"SERVING\"")
            {
                serving = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(serving, "{bin} never became SERVING: {:?}", child.logs());

        child.signal("TERM");
        assert_eq!(
            child.wait_exit(Duration::from_secs(30)).await,
            Some(0),
            "{bin}"
        );
        let events: Vec<String> = child
            .json_logs()
            .iter()
            .filter_map(|v| v["event"].as_str().map(str::to_owned))
            .collect();
        let draining = events.iter().position(|e| e == "server.draining");
        let stopped = events.iter().position(|e| e == "server.stopped");
        assert!(
            draining.is_some() && stopped > draining,
            "{bin}: {events:?}"
        );
    }
}

#[tokio::test]
async fn gateway_health_answers_the_manuals_json_with_a_request_id() {
    let mut child =
        ChildProcess::spawn("gateway", &[("GATEWAY_LISTEN_ADDR", "127.0.0.1:0".into())]);
    let addr = child.bound_addr().await;
    let client = test_support::http_client();
    let res = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "healthy", "service": "fluentedge-api"})
    );

    let res = client
        .get(format!("http://{addr}/health"))
        .header("x-request-id", "ops-check-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "ops-check-1");
    let line = child
        .wait_for_log(Duration::from_secs(5), |v| {
            v["event"] == "request_completed" && v["request_id"] == "ops-check-1"
        })
        .await;
    assert_eq!(line["path"], "/health");
    assert_eq!(line["status_code"], 200);
    assert!(line["duration_ms"].is_number());
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));

    child.signal("TERM");
    assert_eq!(child.wait_exit(Duration::from_secs(30)).await, Some(0));
}

async fn grpcurl(args: &[&str]) -> String {
    let out = test_support::grpcurl()
        .args(args)
        .output()
        .await
        .expect("grpcurl on PATH");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test]
async fn the_provider_simulator_logs_like_the_services() {
    // ChildProcess sets LOG_FORMAT=json, as `make run` does for the services.
    let mut child = ChildProcess::spawn("provider-sim", &[("SIM_LISTEN", "127.0.0.1:0".into())]);
    let line = child
        .wait_for_log(Duration::from_secs(10), |v| v["event"] == "sim.listening")
        .await;
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["service"], "provider-sim");
    assert!(line["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    child.signal("TERM");
    assert_eq!(child.wait_exit(Duration::from_secs(10)).await, Some(0));
}
