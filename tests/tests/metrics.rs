//! Each service's Prometheus endpoint exposes the named series, and they move
//! when traffic flows: a provider failure counts under its reason, a breaker
//! opening sets its gauge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use provider_sim::{SimConfig, Simulator, Vendor};
use std::time::Duration;
use test_support::ChildProcess;

async fn metrics_addr(child: &ChildProcess) -> String {
    let line = child
        .wait_for_log(Duration::from_secs(20), |v| {
            v["event"] == "metrics.listening"
        })
        .await;
    line["addr"]
        .as_str()
        .unwrap()
        .replace("0.0.0.0", "127.0.0.1")
}

async fn scrape(addr: &str) -> String {
    test_support::http_client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the first sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn complete(router: &str) -> String {
    // An operator's development token (`make token ROLE=admin INTERNAL=1`).
    let token = service_kit::auth::development_signer(service_kit::auth::Issuer::Operator)
        .token(Some("ops"), service_kit::auth::Role::Admin)
        .unwrap();
    let out = test_support::grpcurl()
        .args([
            "-plaintext",
            "-H",
            &format!("authorization: Bearer {token}"),
            "-d",
            r#"{"tier":"TIER_COST_EFFECTIVE","messages":[{"role":"ROLE_USER","content":"Hello"}]}"#,
            router,
            "fluentedge.router.v1.LlmRouter/Complete",
        ])
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test]
async fn router_metrics_count_failures_by_reason_and_show_the_open_breaker() {
    let sim = Simulator::spawn(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let usage = ChildProcess::spawn(
        "usage-accounting",
        &[
            ("USAGE_LISTEN_ADDR", "127.0.0.1:0".into()),
            (
                "USAGE_SQLITE_PATH",
                dir.path().join("usage.db").display().to_string(),
            ),
        ],
    );
    let usage_addr = usage.bound_addr().await;
    let router = ChildProcess::spawn(
        "llm-router",
        &[
            ("ROUTER_LISTEN_ADDR", "127.0.0.1:0".into()),
            ("METRICS_ADDR", "127.0.0.1:0".into()),
            ("SIMULATOR_URL", sim.base_url()),
            ("USAGE_ADDR", format!("http://{usage_addr}")),
            (
                "USAGE_OUTBOX_PATH",
                dir.path().join("outbox.db").display().to_string(),
            ),
            ("ROUTER_MAX_RETRIES", "0".into()),
        ],
    );
    let addr = router.bound_addr().await.to_string();
    let metrics = metrics_addr(&router).await;

    assert!(complete(&addr).await.contains("\"content\""));
    let text = scrape(&metrics).await;
    assert!(
        sample(&text, "llm_provider_requests_total{").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    for name in [
        "grpc_server_requests_total",
        "llm_provider_request_duration_seconds_bucket",
        "gen_ai_client_token_usage_total",
        "llm_cost_micro_usd_total",
        "llm_budget_limit_usd",
        "llm_budget_state",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }

    // The primary fails: each call falls over to the next provider and counts
    // one server_error for azure; the fifth opens azure's breaker.
    sim.set_fault(Vendor::Azure, "status=500".parse().unwrap(), None);
    for _ in 0..5 {
        assert!(complete(&addr).await.contains("\"content\""));
    }
    let text = scrape(&metrics).await;
    let failures = sample(
        &text,
        r#"llm_provider_failures_total{provider="azure",reason="server_error"}"#,
    );
    assert_eq!(failures, Some(5.0), "{text}");
    assert_eq!(
        sample(&text, r#"llm_provider_breaker_state{provider="azure"}"#),
        Some(2.0),
        "{text}"
    );
    let azure_calls = sim.request_count(Vendor::Azure);
    assert!(complete(&addr).await.contains("\"content\""));
    assert_eq!(
        sim.request_count(Vendor::Azure),
        azure_calls,
        "an open breaker sends nothing"
    );
}

#[tokio::test]
async fn gateway_metrics_count_requests_by_route_template() {
    let gateway = ChildProcess::spawn("gateway", &[("GATEWAY_LISTEN_ADDR", "127.0.0.1:0".into())]);
    let addr = gateway.bound_addr().await.to_string();
    let client = test_support::http_client();
    for _ in 0..3 {
        client
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .unwrap();
    }
    let res = client
        .get(format!("http://{addr}/api/talk/sessions/some-session-id"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let text = scrape(&addr).await;
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="/health",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert!(
        !text.contains("some-session-id"),
        "labels use the route template, never the raw path"
    );
}
