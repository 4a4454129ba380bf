//! What every request passes: health, readiness, metrics, OpenAPI, request
//! ids and traces, CORS, body limit, timeout, rate limit, unknown routes.

use super::app::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn health_is_exactly_what_monitors_expect_and_needs_no_auth() {
    let app = spawn_app().await;
    let r = app.get("/health").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"status":"healthy","service":"fluentedge-api"}"#
    );
}

#[tokio::test]
async fn ready_reports_each_dependency() {
    let app = spawn_app().await;
    let (status, body) = json_of(app.get("/ready").send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "ready", "dependencies": {"conversation": "SERVING", "llm-router": "SERVING", "usage-accounting": "SERVING"}, "blocking": [], "degraded": []})
    );
    // A required backend down: not ready, and the body says which.
    app.fakes.health[1].set_not_serving().await;
    let (status, body) = json_of(app.get("/ready").send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["dependencies"]["llm-router"], "NOT_SERVING");
    assert_eq!(body["blocking"], json!(["llm-router"]));
    assert_eq!(body["dependencies"]["conversation"], "SERVING");
}

#[tokio::test]
async fn usage_accounting_down_keeps_the_gateway_ready_and_degraded() {
    let app = spawn_app().await;
    app.fakes.health[2].set_not_serving().await;
    let (status, body) = json_of(app.get("/ready").send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["dependencies"]["usage-accounting"], "NOT_SERVING");
    assert_eq!(body["blocking"], json!([]));
    assert_eq!(body["degraded"], json!(["usage-accounting"]));
    // And the LLM path still answers.
    let r = app
        .post_as(
            "a",
            "/v1/chat/completions",
            json!({"model": "sota", "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn ready_names_an_unreachable_backend() {
    let fakes = spawn_fakes().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = spawn_gateway(fakes, &[("CONVERSATION_ADDR", &dead.to_string())]).await;
    let (status, body) = json_of(app.get("/ready").send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(body["dependencies"]["conversation"], "UNREACHABLE");
    assert_eq!(body["blocking"], json!(["conversation"]));
    assert_eq!(body["dependencies"]["llm-router"], "SERVING");
}

#[tokio::test]
async fn metrics_label_routes_by_template() {
    let app = spawn_app().await;
    app.get_as("a", "/api/talk/sessions/fail-5")
        .send()
        .await
        .unwrap();
    app.get("/nope").send().await.unwrap();
    let r = app.get("/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/api/talk/sessions/{id}",status="404"}"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched""#));
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(!text.contains("fail-5"), "raw paths must not become labels");
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = spawn_app().await;
    let (status, doc) = json_of(app.get("/openapi.json").send().await.unwrap()).await;
    assert_eq!(status, 200);
    let expected = [
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/api/talk/message", "post"),
        ("/api/talk/scenarios", "get"),
        ("/api/talk/sessions", "post"),
        ("/api/talk/sessions", "get"),
        ("/api/talk/sessions/{id}", "get"),
        ("/api/talk/sessions/{id}", "patch"),
        ("/api/talk/sessions/{id}", "delete"),
        ("/api/talk/sessions/{id}/messages", "get"),
        ("/api/talk/profile", "get"),
        ("/api/talk/profile", "patch"),
        ("/api/v1/admin/budget", "get"),
        ("/api/v1/admin/budget/reset", "post"),
        ("/api/v1/admin/providers", "get"),
        ("/api/v1/admin/providers/override", "put"),
        ("/api/v1/admin/providers/override", "delete"),
        ("/api/v1/admin/usage/summary", "get"),
        ("/api/v1/admin/usage", "get"),
        ("/v1/chat/completions", "post"),
        ("/v1/embeddings", "post"),
        ("/v1/models", "get"),
        ("/v1/models/{id}", "get"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, method) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} undocumented"
        );
    }
    assert!(doc["components"]["schemas"]["ChatCompletionRequest"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn request_ids_are_kept_or_made_and_reach_the_backend() {
    let app = spawn_app().await;
    let r = app
        .get_as("a", "/api/talk/scenarios")
        .header("x-request-id", "client-id.42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "client-id.42");
    assert_eq!(
        app.fakes
            .conversation
            .seen
            .last("ListScenarios")
            .request_id
            .as_deref(),
        Some("client-id.42")
    );

    for sent in [
        None,
        Some("has space"),
        Some("x".repeat(200).leak() as &str),
    ] {
        let mut req = app.get_as("a", "/api/talk/scenarios");
        if let Some(id) = sent {
            req = req.header("x-request-id", id);
        }
        let r = req.send().await.unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{sent:?} → {id}");
        assert_eq!(
            app.fakes.conversation.seen.last("ListScenarios").request_id,
            Some(id)
        );
    }
    // Errors carry the id in the body too, and unauthenticated routes get one.
    let r = app
        .get("/api/talk/scenarios")
        .header("x-request-id", "e-1")
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(r).await;
    assert_eq!(body["error"]["request_id"], "e-1");
    let r = app.get("/health").send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let app = spawn_app().await;
    let (status, body) = json_of(app.get("/api/talk/nothing-here").send().await.unwrap()).await;
    assert_eq!((status, app_error(&body)), (404, "not_found"));
    let (status, body) = json_of(app.http.put(app.url("/health")).send().await.unwrap()).await;
    assert_eq!((status, app_error(&body)), (405, "method_not_allowed"));
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins() {
    let app = spawn_app_with(&[(
        "CORS_ALLOW_ORIGINS",
        "https://app.example.com,http://localhost:3000",
    )])
    .await;
    let preflight = |origin: &str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/talk/message"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let r = preflight("https://app.example.com").await.unwrap();
    assert!(r.status().is_success());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    assert!(
        r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    for refused in [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "http://app.example.com",
    ] {
        let r = preflight(refused).await.unwrap();
        assert!(
            !r.headers().contains_key("access-control-allow-origin"),
            "{refused}"
        );
    }
    // Actual requests: the header on the allowed origin only, and the id exposed.
    let r = app
        .get_as("a", "/api/talk/scenarios")
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(
        r.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
    let r = app
        .get_as("a", "/api/talk/scenarios")
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));

    // No origins configured: no CORS at all.
    let plain = spawn_app().await;
    let r = plain
        .http
        .request(reqwest::Method::OPTIONS, plain.url("/api/talk/message"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app_with(&[("GATEWAY_MAX_BODY_BYTES", "2048")]).await;
    let big = json!({"session_id": "s", "content": "x".repeat(4096)});
    let (status, body) = json_of(
        app.post_as("a", "/api/talk/message", big.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, app_error(&body)), (413, "payload_too_large"));
    assert!(app.fakes.conversation.seen.all().is_empty());

    // Without a Content-Length: cut while reading.
    let bytes = serde_json::to_vec(&big).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(512).map(|c| Ok(c.to_vec())).collect();
    let r = app
        .post("/api/talk/message")
        .bearer_auth(learner("a"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, app_error(&body)), (413, "payload_too_large"));

    // OpenAI routes say it in OpenAI's shape.
    let r = app
        .post_as(
            "a",
            "/v1/chat/completions",
            json!({"model": "sota", "messages": [{"role": "user", "content": "x".repeat(4096)}]}),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn slow_backends_time_out_with_504() {
    let app = spawn_app_with(&[("GATEWAY_REQUEST_TIMEOUT_MS", "300")]).await;
    let body = json!({"model": "slow", "messages": [{"role": "user", "content": "x"}]});
    let (status, out) = json_of(
        app.post_as("a", "/v1/chat/completions", body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 504, "{out}");
    assert_eq!(out["error"]["code"], "deadline_exceeded");
}

#[tokio::test]
async fn rate_limit_per_subject_with_retry_after() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    for _ in 0..2 {
        assert_eq!(
            app.get_as("a", "/api/talk/scenarios")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let r = app.get_as("a", "/api/talk/scenarios").send().await.unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let (status, body) = json_of(r).await;
    assert_eq!((status, app_error(&body)), (429, "rate_limited"));
    // Another subject has its own allowance; health is never limited.
    assert_eq!(
        app.get_as("b", "/api/talk/scenarios")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..3 {
        assert_eq!(app.get("/health").send().await.unwrap().status(), 200);
    }
    // On /v1 the SDKs see a RateLimitError with the same Retry-After.
    let r = app.get_as("a", "/v1/models").send().await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    let (status, body) = json_of(r).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (429, Some("rate_limit_error"))
    );
}

#[tokio::test]
async fn calls_balance_over_several_backend_addresses() {
    let one = spawn_fakes().await;
    let two = spawn_fakes().await;
    let both = format!(
        "http://{},http://{}",
        one.conversation_addr, two.conversation_addr
    );
    let app = spawn_gateway(one, &[("CONVERSATION_ADDR", &both)]).await;
    for _ in 0..40 {
        assert_eq!(
            app.get_as("a", "/api/talk/scenarios")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let (a, b) = (
        app.fakes.conversation.seen.all().len(),
        two.conversation.seen.all().len(),
    );
    assert_eq!(a + b, 40);
    assert!(a > 0 && b > 0, "{a} / {b}");
}

#[tokio::test]
async fn the_binary_carries_traceparent_and_logs_request_completed() {
    let fakes = spawn_fakes().await;
    let gateway = test_support::ChildProcess::spawn(
        "gateway",
        &[
            ("GATEWAY_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("CONVERSATION_ADDR", fakes.conversation_addr.to_string()),
            ("ROUTER_ADDR", fakes.router_addr.to_string()),
            ("USAGE_ADDR", fakes.usage_addr.to_string()),
        ],
    );
    let addr = gateway.bound_addr().await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = test_support::http_client()
        .get(format!("http://{addr}/api/talk/scenarios"))
        .bearer_auth(learner("a"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .header("x-request-id", "trace-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = fakes.conversation.seen.last("ListScenarios");
    let parent = seen.traceparent.expect("traceparent reached the backend");
    assert!(parent.starts_with(&format!("00-{trace}-")), "{parent}");
    assert_eq!(seen.request_id.as_deref(), Some("trace-req-1"));
    assert_eq!(seen.subject.as_deref(), Some("a"));

    let line = gateway
        .wait_for_log(Duration::from_secs(10), |v| {
            v["event"] == "request_completed" && v["request_id"] == "trace-req-1"
        })
        .await;
    assert_eq!(line["status_code"], 200);
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/api/talk/scenarios");
    assert!(line["duration_ms"].is_number());
    let warn: Value = gateway
        .wait_for_log(Duration::from_secs(1), |v| {
            v["event"] == "auth.development_secret"
        })
        .await;
    assert_eq!(warn["level"], "WARNING");
    // No token ever appears in the logs.
    assert!(!gateway.logs().iter().any(|l| l.contains("eyJ")));
}
