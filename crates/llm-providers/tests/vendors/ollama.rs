//! Ollama's native API against the simulator.

use llm_providers::ollama::Ollama;
use llm_providers::{EmbedRequest, ErrorKind, FinishReason, Provider};
use provider_sim::Vendor;

use crate::support::*;
use serde_json::json;

fn ollama(sim: &provider_sim::Simulator, t: llm_providers::Timeouts) -> Ollama {
    Ollama::new("ollama", http(&t), t, &sim.base_url())
}

#[tokio::test]
async fn chat_sends_the_documented_request_and_reads_usage() {
    let sim = sim().await;
    let p = ollama(&sim, timeouts());
    let req = chat("Hello there");
    let r = p.complete("llama3.2", &req).await.unwrap();
    let reply = expected_reply("Hello there", "llama3.2");
    assert_eq!(r.content, reply);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, expected_usage(&req, &reply));
    let sent = last_request(&sim, Vendor::Ollama);
    assert_eq!(sent.path, "/api/chat");
    let body = sent.json().unwrap();
    assert_eq!(body["model"], "llama3.2");
    assert_eq!(body["stream"], false);
    assert_eq!(body["options"]["num_predict"], 100);
    assert_eq!(body["messages"][0]["role"], "system");
}

#[tokio::test]
async fn ndjson_stream_with_usage() {
    let sim = sim().await;
    let p = ollama(&sim, timeouts());
    let req = chat("Hello there");
    let frames = collect(p.stream("llama3.2", &req).await.unwrap()).await;
    let reply = expected_reply("Hello there", "llama3.2");
    assert_eq!(text_of(&frames), reply);
    assert_eq!(done_usage(&frames), expected_usage(&req, &reply));
    assert_eq!(
        last_request(&sim, Vendor::Ollama).json().unwrap()["stream"],
        true
    );
}

#[tokio::test]
async fn embed() {
    let sim = sim().await;
    let p = ollama(&sim, timeouts());
    let req = EmbedRequest {
        inputs: vec!["hello".into(), "bye".into()],
        dimensions: None,
    };
    let r = p.embed("nomic-embed-text", &req).await.unwrap();
    assert_eq!(r.embeddings.len(), 2);
    assert_eq!(r.usage.input_tokens, 3);
    assert_eq!(last_request(&sim, Vendor::Ollama).path, "/api/embed");
}

#[tokio::test]
async fn every_error_class() {
    let sim = sim().await;
    let p = ollama(&sim, timeouts());
    check_unary_errors(&sim, Vendor::Ollama, &p, "llama3.2").await;
    check_stream_errors(&sim, Vendor::Ollama, &p, "llama3.2", "status=500", |k| {
        matches!(k, ErrorKind::ServerError(_))
    })
    .await;
}

#[tokio::test]
async fn hang_times_out() {
    let sim = sim().await;
    let p = ollama(&sim, short_timeouts());
    check_hang(&sim, Vendor::Ollama, &p, "llama3.2").await;
}

#[tokio::test]
async fn the_optional_parameters_it_declares_travel() {
    let sim = sim().await;
    let p = ollama(&sim, timeouts());
    let (support, body) = send_supported_options(&sim, Vendor::Ollama, &p, "llama3.2").await;
    assert!(support.seed && support.presence_penalty && support.frequency_penalty && !support.user);
    let options = &body["options"];
    assert_eq!(
        (
            &options["seed"],
            &options["presence_penalty"],
            &options["frequency_penalty"]
        ),
        (&json!(7), &json!(0.5), &json!(-0.5))
    );
}
