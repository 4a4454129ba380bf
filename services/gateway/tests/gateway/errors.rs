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
    for (reason, http) in [
        ("budget_exceeded", 429),
        ("rate_limited", 429),
        ("all_providers_failed", 503),
        ("stream_interrupted", 503),
        ("conflict", 409),
        ("payload_too_large", 413),
    ] {
        let r = app
            .get_as("a", &format!("/api/talk/sessions/reason-{reason}"))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!((status, app_error(&body)), (http, reason));
        assert_eq!(body["error"]["message"], format!("injected {reason}"));
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
