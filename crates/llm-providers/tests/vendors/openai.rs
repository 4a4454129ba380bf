//! OpenAI (and OpenAI-compatible servers) against the simulator.

use llm_providers::openai::OpenAi;
use llm_providers::openai::wire::MaxTokensField;
use llm_providers::{EmbedRequest, ErrorKind, FinishReason, Provider};
use provider_sim::Vendor;
use secrecy::SecretString;

use crate::support::*;
use llm_providers::ChatSupport;
use serde_json::json;

fn openai(sim: &provider_sim::Simulator, t: llm_providers::Timeouts) -> OpenAi {
    OpenAi::new(
        "openai",
        http(&t),
        t,
        &format!("{}/v1", sim.base_url()),
        Some(&SecretString::from("sk-test")),
        MaxTokensField::MaxCompletionTokens,
    )
}

#[tokio::test]
async fn unary_sends_the_documented_request_and_reads_usage() {
    let sim = sim().await;
    let p = openai(&sim, timeouts());
    let mut req = chat("Hello there");
    req.stop = vec!["END".into()];
    req.max_tokens = 3;
    let r = p.complete("gpt-4o-mini", &req).await.unwrap();
    assert_eq!(r.content, "Sure! You said:");
    assert_eq!(r.finish_reason, FinishReason::Length);
    assert_eq!(r.usage.output_tokens, 3);
    assert_eq!(r.usage.input_tokens, req.prompt_chars().div_ceil(4) as u64);

    let sent = last_request(&sim, Vendor::OpenAi);
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
    let body = sent.json().unwrap();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["max_completion_tokens"], 3);
    assert_eq!(body["stop"][0], "END");
    assert!((body["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6);
}

#[tokio::test]
async fn streaming_asks_for_and_reads_the_usage_chunk() {
    let sim = sim().await;
    let p = openai(&sim, timeouts());
    let req = chat("Hello there");
    let frames = collect(p.stream("gpt-4o", &req).await.unwrap()).await;
    let reply = expected_reply("Hello there", "gpt-4o");
    assert_eq!(text_of(&frames), reply);
    assert_eq!(done_usage(&frames), expected_usage(&req, &reply));
    let body = last_request(&sim, Vendor::OpenAi).json().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn embeddings() {
    let sim = sim().await;
    let p = openai(&sim, timeouts());
    let req = EmbedRequest {
        inputs: vec!["a".into(), "bb".into(), "ccc".into()],
        dimensions: None,
    };
    let r = p.embed("text-embedding-3-small", &req).await.unwrap();
    assert_eq!(r.embeddings.len(), 3);
    assert!(r.embeddings.iter().all(|v| v.len() == 64));
    assert_eq!(r.usage.input_tokens, 3);
    let sent = last_request(&sim, Vendor::OpenAi);
    assert_eq!(sent.path, "/v1/embeddings");
    let body = sent.json().unwrap();
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(body["input"][2], "ccc");
}

#[tokio::test]
async fn every_error_class() {
    let sim = sim().await;
    let p = openai(&sim, timeouts());
    check_unary_errors(&sim, Vendor::OpenAi, &p, "gpt-4o").await;
    let err = p
        .complete("gpt-4o", &chat("[[content_filter]] please"))
        .await
        .unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::ContentFiltered);
    check_stream_errors(&sim, Vendor::OpenAi, &p, "gpt-4o", "status=500", |k| {
        matches!(k, ErrorKind::ServerError(_))
    })
    .await;
}

#[tokio::test]
async fn hang_times_out() {
    let sim = sim().await;
    let p = openai(&sim, short_timeouts());
    check_hang(&sim, Vendor::OpenAi, &p, "gpt-4o").await;
}

/// A compatible server without a key (vLLM, llama.cpp): no Authorization header.
#[tokio::test]
async fn compatible_servers_need_no_key() {
    let sim = sim().await;
    let t = timeouts();
    let p = OpenAi::new(
        "local",
        http(&t),
        t,
        &format!("{}/v1", sim.base_url()),
        None,
        MaxTokensField::MaxTokens,
    );
    // The simulator requires a key, so this is a 401 — sent without one.
    let err = p.complete("m", &chat("Hi")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    let sent = last_request(&sim, Vendor::OpenAi);
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.json().unwrap()["max_tokens"], 100);
}

#[tokio::test]
async fn the_optional_parameters_it_declares_travel() {
    let sim = sim().await;
    let p = openai(&sim, timeouts());
    let (support, body) = send_supported_options(&sim, Vendor::OpenAi, &p, "gpt-4o").await;
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
