//! The web app at `/` (WEB_DIR) and its sign-in routes: caching, the SPA
//! fallback, security headers, the API's own 404s, and the development
//! sign-in that exists only in development mode.

use super::app::*;
use serde_json::{Value, json};
use std::path::PathBuf;

/// A built app on disk: index.html and one hashed asset.
fn built_app() -> PathBuf {
    let dir = std::env::temp_dir().join(test_support::unique_prefix("webdist").replace(':', "-"));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>FluentEdge</title>",
    )
    .unwrap();
    std::fs::write(dir.join("assets/index-AbC123.js"), "console.log(1)").unwrap();
    std::fs::write(dir.join("favicon.svg"), "<svg/>").unwrap();
    dir
}

async fn page(app: &TestApp, path: &str) -> reqwest::Response {
    app.get(path)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_app_is_served_with_caching_and_a_strict_policy() {
    let dir = built_app();
    let app = spawn_app_with(&[("WEB_DIR", dir.to_str().unwrap())]).await;

    let index = page(&app, "/").await;
    assert_eq!(index.status(), 200);
    let h = index.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(index.text().await.unwrap().contains("<title>FluentEdge"));

    let asset = app.get("/assets/index-AbC123.js").send().await.unwrap();
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        asset.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(asset.text().await.unwrap(), "console.log(1)");

    // A client route loads the app; the page then routes itself.
    let route = page(&app, "/talk/some-session").await;
    assert_eq!(route.status(), 200);
    assert_eq!(route.headers()["cache-control"], "no-cache");
    assert!(route.text().await.unwrap().contains("<title>FluentEdge"));
}

#[tokio::test]
async fn the_apis_keep_their_json_404s_beside_the_app() {
    let dir = built_app();
    let app = spawn_app_with(&[("WEB_DIR", dir.to_str().unwrap())]).await;
    for path in [
        "/api/talk/nope",
        "/api/v1/admin/nope",
        "/metrics/x",
        "/assets/gone-123.js",
    ] {
        let (status, body) = json_of(page(&app, path).await).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(app_error(&body), "not_found", "{path}");
    }
    // /v1 keeps OpenAI's error shape.
    let (status, body) = json_of(page(&app, "/v1/nope").await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "not_found_error");
    // A client that does not ask for a page gets the API's 404 too.
    let (status, _) = json_of(app.get("/talk/x").send().await.unwrap()).await;
    assert_eq!(status, 404);
    // The API routes are untouched.
    let (status, body) = json_of(app.get("/health").send().await.unwrap()).await;
    assert_eq!((status, body["status"].clone()), (200, json!("healthy")));
    let posted = app.post("/").send().await.unwrap();
    assert_eq!(posted.status(), 404);
}

#[tokio::test]
async fn without_an_app_the_gateway_serves_the_api_alone() {
    let app = spawn_app_with(&[("WEB_DIR", "off")]).await;
    let (status, body) = json_of(page(&app, "/").await).await;
    assert_eq!(status, 404);
    assert_eq!(app_error(&body), "not_found");
}

async fn dev_sign_in(app: &TestApp, body: Value) -> (u16, Value) {
    json_of(
        app.post("/api/dev/sign-in")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn development_sign_in_gives_working_learner_and_admin_tokens() {
    let app = spawn_app_with(&[("FLUENTEDGE_DEV", "1")]).await;
    let (status, config) = json_of(app.get("/api/web/config").send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(config["development_sign_in"], true);
    assert_eq!(config["oidc"], Value::Null);

    let (status, learner) =
        dev_sign_in(&app, json!({"name": "Ada Lovelace", "role": "learner"})).await;
    assert_eq!(status, 200, "{learner}");
    assert_eq!(learner["subject"], "dev-ada-lovelace");
    let token = learner["token"].as_str().unwrap();
    assert_eq!(app.status_with(token, "/api/talk/sessions").await, 200);
    assert_eq!(
        app.status_with(token, "/api/v1/admin/budget").await,
        403,
        "a learner is not an admin"
    );

    let (_, admin) = dev_sign_in(&app, json!({"name": "Ops", "role": "admin"})).await;
    assert_eq!(
        app.status_with(admin["token"].as_str().unwrap(), "/api/v1/admin/budget")
            .await,
        200
    );

    let (status, body) = dev_sign_in(&app, json!({"name": "Eve", "role": "root"})).await;
    assert_eq!((status, app_error(&body)), (400, "invalid_argument"));
    assert!(body["error"]["message"].as_str().unwrap().contains("role"));
    let (status, body) = dev_sign_in(&app, json!({"name": "<script>", "role": "learner"})).await;
    assert_eq!((status, app_error(&body)), (400, "invalid_argument"));
}

#[tokio::test]
async fn development_sign_in_does_not_exist_with_a_real_secret() {
    let secret = "a-production-secret-of-at-least-32-bytes!";
    let app = spawn_app_with(&[("AUTH_JWT_SECRET", secret)]).await;
    let (status, body) = dev_sign_in(&app, json!({"name": "Ada", "role": "admin"})).await;
    assert_eq!((status, app_error(&body)), (404, "not_found"));
    let (_, config) = json_of(app.get("/api/web/config").send().await.unwrap()).await;
    assert_eq!(config["development_sign_in"], false);
}

#[tokio::test]
async fn the_config_names_the_identity_provider() {
    let app = spawn_app_with(&[
        ("WEB_OIDC_AUTHORITY", "https://id.example.com/"),
        ("WEB_OIDC_CLIENT_ID", "fluentedge-web"),
    ])
    .await;
    let (_, config) = json_of(app.get("/api/web/config").send().await.unwrap()).await;
    assert_eq!(config["oidc"]["authority"], "https://id.example.com");
    assert_eq!(config["oidc"]["client_id"], "fluentedge-web");
}
