//! The one mapping from gRPC status to HTTP, end to end.

use super::app::*;

#[tokio::test]
async fn every_grpc_code_maps_to_its_http_status_and_body() {
    let app = spawn_app().await;
    // (gRPC code number, HTTP status, error code)
    let table = [
        (3, 400, "invalid_argument"),
        (9, 400, "invalid_argument"),
        (16, 401, "unauthenticated"),
        (7, 403, "permission_denied"),
        (5, 404, "not_found"),
        (6, 409, "conflict"),
        (10, 409, "conflict"),
        (11, 413, "payload_too_large"),
        (8, 429, "rate_limited"),
        (14, 503, "unavailable"),
        (4, 504, "deadline_exceeded"),
        (12, 501, "unimplemented"),
        (13, 500, "internal"),
        (2, 500, "internal"),
    ];
    for (grpc, http, code) in table {
        let r = app
            .get_as("a", &format!("/api/talk/sessions/fail-{grpc}"))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!(
            (status, app_error(&body)),
            (http, code),
            "gRPC {grpc}: {body}"
        );
    }
    // Internal details never reach the caller.
    let (_, body) = json_of(
        app.get_as("a", "/api/talk/sessions/fail-13")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "conversation failed (internal error)"
    );
}

#[tokio::test]
async fn reasons_from_backends_win_over_grpc_codes() {
    let app = spawn_app().await;
    for (reason, http, code) in [
        ("budget_exceeded", 429, "budget_exceeded"),
        ("rate_limited", 429, "rate_limited"),
        ("all_providers_failed", 503, "all_providers_failed"),
        ("stream_interrupted", 503, "provider_stream_interrupted"),
        ("conflict", 409, "conflict"),
        ("payload_too_large", 413, "payload_too_large"),
    ] {
        let r = app
            .get_as("a", &format!("/api/talk/sessions/reason-{reason}"))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!((status, app_error(&body)), (http, code));
    }
}

/// A learner reads what to do; the backend's detail (spend, limit,
/// providers, models) is for admins and the logs.
#[tokio::test]
async fn learners_get_no_internals_and_admins_keep_the_detail() {
    let app = spawn_app().await;
    for reason in [
        "budget_exceeded",
        "all_providers_failed",
        "stream_interrupted",
    ] {
        let path = format!("/api/talk/sessions/reason-{reason}");
        let (_, learner) = json_of(app.get_as("a", &path).send().await.unwrap()).await;
        let message = learner["error"]["message"].as_str().unwrap();
        assert!(!message.contains("injected"), "{reason}: {message}");
        assert!(
            message.contains("try again") || message.contains("Try again"),
            "{message}"
        );
        let r = app
            .get(&path)
            .bearer_auth(admin("root"))
            .send()
            .await
            .unwrap();
        let (_, admin_view) = json_of(r).await;
        assert!(
            admin_view["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("injected {reason}")),
            "{admin_view}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_backend_is_503_naming_it() {
    let fakes = spawn_fakes().await;
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = spawn_gateway(fakes, &[("ROUTER_ADDR", &format!("http://{dead}"))]).await;
    let (status, body) = json_of(app.get_as("a", "/v1/models").send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("llm-router"),
        "{body}"
    );
    // The others still work.
    assert_eq!(
        app.get_as("a", "/api/talk/scenarios")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
