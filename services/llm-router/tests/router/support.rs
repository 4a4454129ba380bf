//! Shared helpers: the simulator, requests and its deterministic replies.

use llm_providers::{ChatRequest, Message, Role, TokenUsage};
use provider_sim::{Fault, SimConfig, Simulator};

pub async fn sim() -> Simulator {
    service_kit::install_crypto_provider();
    Simulator::spawn(SimConfig::default()).await.unwrap()
}

pub const SYSTEM: &str = "You are a friendly English tutor.";

pub fn chat(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::new(Role::System, SYSTEM),
            Message::new(Role::User, text),
        ],
        max_tokens: 100,
        temperature: Some(0.7),
        top_p: None,
        stop: vec![],
        ..Default::default()
    }
}

pub use test_support::expected_reply;

/// The simulator's usage: input ceil(chars / 4), output one token per word.
pub fn expected_usage(request: &ChatRequest, reply: &str) -> TokenUsage {
    TokenUsage::new(
        request.prompt_chars().div_ceil(4) as u64,
        reply.split_whitespace().count() as u64,
    )
}

pub fn fault(s: &str) -> Fault {
    s.parse().unwrap()
}
