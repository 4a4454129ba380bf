//! Who may call what: JWTs (HS256, RS256), expiry, audience, issuer, admin
//! role, the admin API key.

use super::app::*;
use serde_json::json;
use sha2::{Digest, Sha256};

const PRIVATE_KEY: &[u8] = include_bytes!("../fixtures/rs256-test-private.pem");

#[tokio::test]
async fn app_routes_need_a_token() {
    let app = spawn_app().await;
    let r = app.get("/api/talk/sessions").send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let (status, body) = json_of(r).await;
    assert_eq!((status, app_error(&body)), (401, "unauthenticated"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bearer")
    );
    // Nothing reached the backend.
    assert!(app.fakes.conversation.seen.all().is_empty());
    let r = app
        .get("/api/talk/sessions")
        .header("authorization", "Basic dXNlcjpwdw==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn expired_wrong_audience_bad_signature_and_garbage_are_refused() {
    let app = spawn_app().await;
    let cases = [
        (
            jwt(json!({"sub": "a", "aud": AUDIENCE, "exp": now() - 3600})),
            "expired",
        ),
        (
            jwt(json!({"sub": "a", "aud": "someone-else", "exp": now() + 3600})),
            "audience",
        ),
        (jwt(json!({"sub": "a", "exp": now() + 3600})), "audience"),
        (
            jwt_with(
                &[7u8; 32],
                json!({"sub": "a", "aud": AUDIENCE, "exp": now() + 3600}),
            ),
            "signature",
        ),
        (
            jwt(json!({"sub": "has space", "aud": AUDIENCE, "exp": now() + 3600})),
            "sub",
        ),
        ("not.a.jwt".to_owned(), "malformed"),
    ];
    for (token, needle) in cases {
        let r = app
            .get("/api/talk/sessions")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!(status, 401, "{needle}: {body}");
        assert_eq!(app_error(&body), "unauthenticated");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let ok = app
        .get_as("learner-a", "/api/talk/sessions")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn the_subject_travels_to_the_backend_never_a_client_header() {
    let app = spawn_app().await;
    let r = app
        .get_as("learner-a", "/api/talk/profile")
        .header("x-fluentedge-subject", "learner-b")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200);
    assert_eq!(body["learner_id"], "learner-a");
    assert_eq!(
        app.fakes
            .conversation
            .seen
            .last("GetProfile")
            .subject
            .as_deref(),
        Some("learner-a")
    );
}

#[tokio::test]
async fn learners_are_forbidden_on_admin_routes_admins_are_not() {
    let app = spawn_app().await;
    let r = app
        .get_as("learner-a", "/api/v1/admin/budget")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, app_error(&body)), (403, "permission_denied"));
    assert!(app.fakes.router.seen.all().is_empty());

    let r = app
        .get("/api/v1/admin/budget")
        .bearer_auth(admin("ops-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The `role` claim form works too.
    let token = jwt(json!({"sub": "ops-2", "aud": AUDIENCE, "exp": now() + 60, "role": "admin"}));
    let r = app
        .get("/api/v1/admin/budget")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.fakes.router.seen.last("GetBudget").subject.as_deref(),
        Some("ops-2")
    );
    // Admins may use the app too.
    let r = app
        .get("/api/talk/scenarios")
        .bearer_auth(admin("ops-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn admin_api_key_right_wrong_and_out_of_place() {
    let key = "fe-admin-0123456789abcdef";
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    let app = spawn_app_with(&[("ADMIN_API_KEY_SHA256", &digest)]).await;

    let r = app
        .get("/api/v1/admin/providers")
        .header("x-admin-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.fakes
            .router
            .seen
            .last("ListProviders")
            .subject
            .as_deref(),
        Some("admin-api-key")
    );
    let r = app
        .get("/api/v1/admin/providers")
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    for wrong in ["fe-admin-0123456789abcdeX", "fe-admin-"] {
        let r = app
            .get("/api/v1/admin/providers")
            .header("x-admin-key", wrong)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!(
            (status, app_error(&body)),
            (401, "unauthenticated"),
            "{wrong}"
        );
    }
    // The key is for the admin API only.
    let r = app
        .get("/api/talk/sessions")
        .header("x-admin-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn rs256_public_keys_and_issuer() {
    let keys = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rs256-test-public-keys.pem"
    );
    let app = spawn_app_with(&[
        (
            "AUTH_JWT_SECRET",
            "a-production-secret-of-at-least-32-bytes",
        ),
        ("AUTH_JWT_PUBLIC_KEYS_FILE", keys),
        ("AUTH_ISSUER", "https://idp.example"),
        ("AUTH_AUDIENCE", "fluentedge-app"),
    ])
    .await;
    let sign = |claims: serde_json::Value| {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_KEY).unwrap();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .unwrap()
    };
    let good = sign(
        json!({"sub": "sdk-user", "aud": "fluentedge-app", "iss": "https://idp.example", "exp": now() + 600}),
    );
    let r = app
        .get("/api/talk/scenarios")
        .bearer_auth(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let wrong_iss = sign(
        json!({"sub": "sdk-user", "aud": "fluentedge-app", "iss": "https://evil.example", "exp": now() + 600}),
    );
    let (status, body) = json_of(
        app.get("/api/talk/scenarios")
            .bearer_auth(wrong_iss)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("issuer")
    );

    // The development secret is not accepted once a real one is configured.
    let dev = jwt(
        json!({"sub": "a", "aud": "fluentedge-app", "iss": "https://idp.example", "exp": now() + 600}),
    );
    let r = app
        .get("/api/talk/scenarios")
        .bearer_auth(dev)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let hs = jwt_with(
        b"a-production-secret-of-at-least-32-bytes",
        json!({"sub": "a", "aud": "fluentedge-app", "iss": "https://idp.example", "exp": now() + 600}),
    );
    let r = app
        .get("/api/talk/scenarios")
        .bearer_auth(hs)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn openai_routes_answer_auth_errors_in_openai_shape() {
    let app = spawn_app().await;
    let (status, body) = json_of(app.get("/v1/models").send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(body["error"].get("param").is_some());
}

#[tokio::test]
async fn the_token_command_signs_what_the_gateway_accepts() {
    let bin = test_support::binary_path("gateway");
    let out = std::process::Command::new(&bin)
        .args(["token", "--role", "admin", "--sub", "ops-9"])
        .env("FLUENTEDGE_DEV", "1")
        .env_remove("AUTH_JWT_SECRET")
        .env_remove("AUTH_JWT_PUBLIC_KEYS_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let app = spawn_app().await;
    let r = app
        .get("/api/v1/admin/budget")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.fakes.router.seen.last("GetBudget").subject.as_deref(),
        Some("ops-9")
    );

    let out = std::process::Command::new(&bin)
        .arg("token")
        .env("FLUENTEDGE_DEV", "1")
        .env_remove("AUTH_JWT_SECRET")
        .output()
        .unwrap();
    let learner_token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let r = app
        .get("/api/v1/admin/budget")
        .bearer_auth(&learner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
