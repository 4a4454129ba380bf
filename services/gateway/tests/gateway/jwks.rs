//! The gateway behind an OpenID Connect provider (`AUTH_JWKS_URL`): its RS256
//! tokens are accepted with their roles, and the development conveniences
//! are gone.

use super::app::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const KEY_1: &[u8] = include_bytes!("../fixtures/rs256-test-private.pem");
const JWKS_1: &str = include_str!("../fixtures/jwks-key-1.json");

async fn jwks_server() -> String {
    let app = axum::Router::new().route("/jwks", axum::routing::get(|| async { JWKS_1 }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/jwks")
}

fn idp_token(kid: &str, roles: &[&str]) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let claims = json!({"sub": "oidc-user-1", "aud": AUDIENCE, "iss": "https://id.test", "exp": now() + 600, "roles": roles});
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(KEY_1).unwrap()).unwrap()
}

#[tokio::test]
async fn identity_provider_tokens_are_verified_from_its_jwks() {
    let url = jwks_server().await;
    let app = spawn_app_with(&[
        ("FLUENTEDGE_DEV", "1"),
        ("AUTH_JWKS_URL", &url),
        ("AUTH_ISSUER", "https://id.test"),
    ])
    .await;
    let learner = idp_token("key-1", &["learner"]);
    assert_eq!(app.status_with(&learner, "/api/talk/sessions").await, 200);
    assert_eq!(app.status_with(&learner, "/api/v1/admin/budget").await, 403);
    let admin = idp_token("key-1", &["admin"]);
    assert_eq!(app.status_with(&admin, "/api/v1/admin/budget").await, 200);

    let (status, body) = json_of(
        app.get("/api/talk/sessions")
            .bearer_auth(idp_token("nope", &[]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, app_error(&body)), (401, "unauthenticated"));
    // The development secret and sign-in are off once a provider is configured.
    assert_eq!(
        app.status_with(&super::app::learner("dev"), "/api/talk/sessions")
            .await,
        401
    );
    let r = app
        .post("/api/dev/sign-in")
        .json(&json!({"name": "x", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
