//! Vertex AI Gemini against the simulator, and the service-account token
//! flow against its local OAuth2 token endpoint.

use std::sync::Arc;
use std::time::Duration;

use llm_providers::transport::google_auth::{ServiceAccountKey, TokenSource};
use llm_providers::vertex::Vertex;
use llm_providers::{EmbedRequest, ErrorKind, FinishReason, Provider, Timeouts};
use provider_sim::Vendor;
use secrecy::SecretString;

use crate::support::*;
use serde_json::json;

const KEY: &str = include_str!("../fixtures/vertex-test-service-account.json");
const PUBLIC_KEY: &str = include_str!("../fixtures/vertex-test-service-account.pub.pem");

fn vertex(sim: &provider_sim::Simulator, t: Timeouts, tokens: TokenSource) -> Vertex {
    Vertex::new(
        "vertex",
        http(&t),
        t,
        &sim.base_url(),
        "proj-1",
        "us-central1",
        tokens,
    )
}

fn fixed() -> TokenSource {
    TokenSource::fixed(&SecretString::from("ya29.static"))
}

fn service_account(sim: &provider_sim::Simulator) -> TokenSource {
    let key = ServiceAccountKey::from_json(KEY.as_bytes()).unwrap();
    TokenSource::service_account(
        Arc::new(key),
        &format!("{}/token", sim.base_url()),
        http(&timeouts()),
    )
    .unwrap()
}

#[tokio::test]
async fn generate_content_sends_the_documented_request() {
    let sim = sim().await;
    let p = vertex(&sim, timeouts(), fixed());
    let req = chat("Hello there");
    let r = p.complete("gemini-2.5-flash", &req).await.unwrap();
    let reply = expected_reply("Hello there", "gemini-2.5-flash");
    assert_eq!(r.content, reply);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, expected_usage(&req, &reply));

    let sent = last_request(&sim, Vendor::Vertex);
    assert_eq!(
        sent.path,
        "/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(sent.header("authorization"), Some("Bearer ya29.static"));
    let body = sent.json().unwrap();
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], SYSTEM);
    assert_eq!(body["contents"][0]["role"], "user");
    assert_eq!(body["contents"][0]["parts"][0]["text"], "Hello there");
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 100);
}

#[tokio::test]
async fn stream_generate_content_over_sse() {
    let sim = sim().await;
    let p = vertex(&sim, timeouts(), fixed());
    let req = chat("Hello there");
    let frames = collect(p.stream("gemini-2.5-pro", &req).await.unwrap()).await;
    let reply = expected_reply("Hello there", "gemini-2.5-pro");
    assert_eq!(text_of(&frames), reply);
    assert_eq!(done_usage(&frames), expected_usage(&req, &reply));
    assert!(
        last_request(&sim, Vendor::Vertex)
            .path
            .ends_with("/gemini-2.5-pro:streamGenerateContent?alt=sse")
    );
}

#[tokio::test]
async fn text_embeddings_by_predict() {
    let sim = sim().await;
    let p = vertex(&sim, timeouts(), fixed());
    let req = EmbedRequest {
        inputs: vec!["hello".into(), "bye".into()],
        dimensions: Some(32),
    };
    let r = p.embed("text-embedding-005", &req).await.unwrap();
    assert_eq!(r.embeddings.len(), 2);
    assert!(r.embeddings.iter().all(|v| v.len() == 32));
    assert_eq!(r.usage.input_tokens, 2 + 1);
    let body = last_request(&sim, Vendor::Vertex).json().unwrap();
    assert_eq!(body["instances"][1]["content"], "bye");
    assert_eq!(body["parameters"]["outputDimensionality"], 32);
}

#[tokio::test]
async fn service_account_tokens_are_minted_cached_and_refreshed() {
    let sim = sim().await;
    let p = vertex(&sim, timeouts(), service_account(&sim));
    p.complete("gemini-2.5-flash", &chat("Hi")).await.unwrap();
    p.complete("gemini-2.5-flash", &chat("Hi")).await.unwrap();
    assert_eq!(sim.token_requests(), 1, "the token is cached");
    let token = sim
        .requests()
        .into_iter()
        .find(|r| r.is_token_request())
        .unwrap();
    assert_eq!(
        token.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&token.body).unwrap();
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        field("grant_type"),
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    // The assertion is an RS256 JWT signed by the key, with Google's claims.
    let aud = format!("{}/token", sim.base_url());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[aud.as_str()]);
    let decoded = jsonwebtoken::decode::<serde_json::Value>(
        &field("assertion"),
        &jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(decoded.header.kid.as_deref(), Some("test-key-1"));
    let claims = decoded.claims;
    assert_eq!(
        claims["iss"],
        "router-test@fluentedge-test.iam.gserviceaccount.com"
    );
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    let auth = last_request(&sim, Vendor::Vertex)
        .header("authorization")
        .unwrap()
        .to_owned();
    assert!(auth.starts_with("Bearer sim-token-"), "{auth}");
}

#[tokio::test]
async fn tokens_refresh_before_they_expire() {
    let sim = sim().await;
    let source = service_account(&sim);
    let now = tokio::time::Instant::now();
    let first = source.authorization_at(now).await.unwrap();
    // The simulator's tokens live 3600 s; refresh starts 300 s before that.
    let later = source
        .authorization_at(now + Duration::from_secs(3000))
        .await
        .unwrap();
    assert_eq!(first, later);
    assert_eq!(sim.token_requests(), 1);
    let refreshed = source
        .authorization_at(now + Duration::from_secs(3301))
        .await
        .unwrap();
    assert_ne!(first, refreshed);
    assert_eq!(sim.token_requests(), 2);
    // Concurrent callers share one refresh.
    let at = now + Duration::from_secs(7000);
    let (a, b) = tokio::join!(source.authorization_at(at), source.authorization_at(at));
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(sim.token_requests(), 3);
}

#[tokio::test]
async fn broken_keys_are_refused_up_front() {
    let broken = KEY.replace("MII", "XXX");
    assert!(ServiceAccountKey::from_json(broken.as_bytes()).is_err());
    assert!(ServiceAccountKey::from_json(b"{\"type\":\"authorized_user\"}").is_err());
}

#[tokio::test]
async fn safety_blocks_and_every_error_class() {
    let sim = sim().await;
    let p = vertex(&sim, timeouts(), fixed());
    let r = p
        .complete("gemini-2.5-flash", &chat("[[content_filter]]"))
        .await
        .unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    check_unary_errors(&sim, Vendor::Vertex, &p, "gemini-2.5-flash").await;
    check_stream_errors(
        &sim,
        Vendor::Vertex,
        &p,
        "gemini-2.5-flash",
        "status=503",
        |k| *k == ErrorKind::ServerError(503),
    )
    .await;
}

#[tokio::test]
async fn hang_times_out() {
    let sim = sim().await;
    let p = vertex(&sim, short_timeouts(), fixed());
    check_hang(&sim, Vendor::Vertex, &p, "gemini-2.5-flash").await;
}

#[tokio::test]
async fn the_optional_parameters_it_declares_travel() {
    let sim = sim().await;
    let p = vertex(&sim, timeouts(), fixed());
    let (support, body) =
        send_supported_options(&sim, Vendor::Vertex, &p, "gemini-2.5-flash").await;
    assert!(support.seed && support.presence_penalty && support.frequency_penalty && !support.user);
    let config = &body["generationConfig"];
    assert_eq!(
        (
            &config["seed"],
            &config["presencePenalty"],
            &config["frequencyPenalty"]
        ),
        (&json!(7), &json!(0.5), &json!(-0.5))
    );
}
