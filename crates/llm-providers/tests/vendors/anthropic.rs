//! Anthropic Messages API against the simulator.

use llm_providers::anthropic::Anthropic;
use llm_providers::{
    ChatRequest, EmbedRequest, ErrorKind, FinishReason, Message, Provider, Role, StreamFrame,
};
use provider_sim::Vendor;
use secrecy::SecretString;

use crate::support::*;
use serde_json::json;

fn anthropic(sim: &provider_sim::Simulator, t: llm_providers::Timeouts) -> Anthropic {
    Anthropic::new(
        "anthropic",
        http(&t),
        t,
        &sim.base_url(),
        &SecretString::from("sk-ant-test"),
        "2023-06-01",
    )
}

#[tokio::test]
async fn unary_sends_the_documented_request_and_reads_usage() {
    let sim = sim().await;
    let p = anthropic(&sim, timeouts());
    let req = ChatRequest {
        messages: vec![
            Message::new(Role::System, SYSTEM),
            Message::new(Role::User, "I am Ken."),
            Message::new(Role::Assistant, "Hi Ken!"),
            Message::new(Role::System, "Be brief."),
            Message::new(Role::User, "Hello there"),
        ],
        ..chat("")
    };
    let r = p.complete("claude-haiku-4-5", &req).await.unwrap();
    let reply = expected_reply("Hello there", "claude-haiku-4-5");
    assert_eq!(r.content, reply);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    // The simulator counts the system prompt as sent: joined by a blank line.
    let chars = SYSTEM.len()
        + 2
        + "Be brief.".len()
        + "I am Ken.".len()
        + "Hi Ken!".len()
        + "Hello there".len();
    assert_eq!(r.usage.input_tokens, chars.div_ceil(4) as u64);
    assert_eq!(
        r.usage.output_tokens,
        reply.split_whitespace().count() as u64
    );

    let sent = last_request(&sim, Vendor::Anthropic);
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    let body = sent.json().unwrap();
    assert_eq!(body["model"], "claude-haiku-4-5");
    assert_eq!(body["max_tokens"], 100);
    // Every system message goes to the top-level `system`; turns alternate.
    assert_eq!(body["system"], format!("{SYSTEM}\n\nBe brief."));
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
}

#[tokio::test]
async fn streaming_reads_every_event_and_the_usage() {
    let sim = sim().await;
    let p = anthropic(&sim, timeouts());
    let req = chat("Hello there");
    let frames = collect(p.stream("claude-sonnet-4-5", &req).await.unwrap()).await;
    let reply = expected_reply("Hello there", "claude-sonnet-4-5");
    assert_eq!(text_of(&frames), reply);
    // message_start carries the input tokens, message_delta the output tokens.
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, StreamFrame::Usage(u) if u.input_tokens > 0))
    );
    assert_eq!(done_usage(&frames), expected_usage(&req, &reply));
    assert_eq!(
        last_request(&sim, Vendor::Anthropic).json().unwrap()["stream"],
        true
    );
}

#[tokio::test]
async fn refusals_finish_with_content_filter() {
    let sim = sim().await;
    let p = anthropic(&sim, timeouts());
    let r = p
        .complete("claude", &chat("[[content_filter]]"))
        .await
        .unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    assert!(r.content.is_empty());
}

#[tokio::test]
async fn no_embeddings_api() {
    let sim = sim().await;
    let p = anthropic(&sim, timeouts());
    let req = EmbedRequest {
        inputs: vec!["x".into()],
        dimensions: None,
    };
    assert_eq!(
        *p.embed("m", &req).await.unwrap_err().kind(),
        ErrorKind::BadRequest
    );
    assert_eq!(sim.request_count(Vendor::Anthropic), 0);
}

#[tokio::test]
async fn every_error_class() {
    let sim = sim().await;
    let p = anthropic(&sim, timeouts());
    check_unary_errors(&sim, Vendor::Anthropic, &p, "claude").await;
    check_stream_errors(&sim, Vendor::Anthropic, &p, "claude", "status=529", |k| {
        *k == ErrorKind::Overloaded
    })
    .await;
}

#[tokio::test]
async fn hang_times_out() {
    let sim = sim().await;
    let p = anthropic(&sim, short_timeouts());
    check_hang(&sim, Vendor::Anthropic, &p, "claude").await;
}

#[tokio::test]
async fn the_optional_parameters_it_declares_travel() {
    let sim = sim().await;
    let p = anthropic(&sim, timeouts());
    let (support, body) =
        send_supported_options(&sim, Vendor::Anthropic, &p, "claude-haiku-4-5").await;
    // The Messages API has no seed or penalties: requests with them must go elsewhere.
    assert!(
        support.user && !support.seed && !support.presence_penalty && !support.frequency_penalty
    );
    assert_eq!(body["metadata"], json!({"user_id": "learner-7"}));
    // Its temperatures end at 1: a higher one must go elsewhere, not be clamped.
    let mut hot = chat("Hi");
    hot.temperature = Some(1.5);
    assert_eq!(hot.unsupported(p.chat_support()), Some("temperature"));
    hot.temperature = Some(1.0);
    assert_eq!(hot.unsupported(p.chat_support()), None);
}
