//! Azure OpenAI against the simulator.

use llm_providers::azure::{Azure, AzureAuth};
use llm_providers::{EmbedRequest, ErrorKind, FinishReason, Provider};
use provider_sim::Vendor;
use secrecy::SecretString;

use crate::support::*;
use llm_providers::ChatSupport;
use serde_json::json;

fn azure(sim: &provider_sim::Simulator, auth: AzureAuth) -> Azure {
    let t = timeouts();
    Azure::new("azure", http(&t), t, &sim.base_url(), "2024-10-21", &auth)
}

fn key() -> AzureAuth {
    AzureAuth::ApiKey(SecretString::from("azure-test-key"))
}

#[tokio::test]
async fn unary_sends_the_documented_request_and_reads_usage() {
    let sim = sim().await;
    let p = azure(&sim, key());
    let req = chat("Hello there");
    let r = p.complete("tutor-sota", &req).await.unwrap();
    let reply = expected_reply("Hello there", "tutor-sota");
    assert_eq!(r.content, reply);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, expected_usage(&req, &reply));

    let sent = last_request(&sim, Vendor::Azure);
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.path,
        "/openai/deployments/tutor-sota/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(sent.header("api-key"), Some("azure-test-key"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.header("content-type"), Some("application/json"));
    let body = sent.json().unwrap();
    assert!(
        body.get("model").is_none(),
        "the deployment names the model"
    );
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], SYSTEM);
    assert_eq!(body["messages"][1]["content"], "Hello there");
    assert_eq!(body["max_tokens"], 100);
    assert!(body.get("stream").is_none());
}

#[tokio::test]
async fn streaming_skips_the_filter_chunk_and_ends_with_usage() {
    let sim = sim().await;
    let p = azure(&sim, key());
    let req = chat("Hello there");
    let frames = collect(p.stream("tutor-sota", &req).await.unwrap()).await;
    let reply = expected_reply("Hello there", "tutor-sota");
    assert_eq!(text_of(&frames), reply);
    assert_eq!(done_usage(&frames), expected_usage(&req, &reply));
    let body = last_request(&sim, Vendor::Azure).json().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn entra_id_tokens_go_in_the_authorization_header() {
    let sim = sim().await;
    let p = azure(
        &sim,
        AzureAuth::EntraToken(SecretString::from("entra-token")),
    );
    p.complete("tutor", &chat("Hi")).await.unwrap();
    let sent = last_request(&sim, Vendor::Azure);
    assert_eq!(sent.header("authorization"), Some("Bearer entra-token"));
    assert_eq!(sent.header("api-key"), None);
}

#[tokio::test]
async fn embeddings_on_a_deployment() {
    let sim = sim().await;
    let p = azure(&sim, key());
    let req = EmbedRequest {
        inputs: vec!["hello".into(), "good morning".into()],
        dimensions: Some(16),
    };
    let r = p.embed("embed-small", &req).await.unwrap();
    assert_eq!(r.embeddings.len(), 2);
    assert!(r.embeddings.iter().all(|v| v.len() == 16));
    assert_eq!(r.usage.input_tokens, 2 + 3);
    let sent = last_request(&sim, Vendor::Azure);
    assert_eq!(
        sent.path,
        "/openai/deployments/embed-small/embeddings?api-version=2024-10-21"
    );
    assert_eq!(sent.json().unwrap()["dimensions"], 16);
}

#[tokio::test]
async fn every_error_class() {
    let sim = sim().await;
    let p = azure(&sim, key());
    check_unary_errors(&sim, Vendor::Azure, &p, "tutor").await;
    let err = p
        .complete("tutor", &chat("Something rude [[content_filter]]"))
        .await
        .unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::ContentFiltered);
    check_stream_errors(&sim, Vendor::Azure, &p, "tutor", "status=503", |k| {
        matches!(k, ErrorKind::ServerError(_))
    })
    .await;
    // A missing credential: the simulator answers 401.
    let bad = Azure::new(
        "azure",
        http(&timeouts()),
        timeouts(),
        &sim.base_url(),
        "2024-10-21",
        &AzureAuth::ApiKey(SecretString::from(" ")),
    );
    let err = bad.complete("tutor", &chat("Hi")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
}

#[tokio::test]
async fn hang_times_out() {
    let sim = sim().await;
    let t = short_timeouts();
    let p = Azure::new("azure", http(&t), t, &sim.base_url(), "2024-10-21", &key());
    check_hang(&sim, Vendor::Azure, &p, "tutor").await;
}

#[tokio::test]
async fn the_optional_parameters_it_declares_travel() {
    let sim = sim().await;
    let p = azure(&sim, key());
    let (support, body) = send_supported_options(&sim, Vendor::Azure, &p, "gpt-4o").await;
    assert_eq!(support, ChatSupport::ALL);
    assert_eq!(
        (
            &body["seed"],
            &body["presence_penalty"],
            &body["frequency_penalty"],
            &body["user"]
        ),
        (&json!(7), &json!(0.5), &json!(-0.5), &json!("learner-7"))
    );
}
