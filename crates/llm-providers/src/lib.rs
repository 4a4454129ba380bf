//! LLM vendor clients behind one trait, with the normalized request, response
//! and stream types the router works in.
//!
//! Layout: [`transport`] is what every vendor shares (HTTP, SSE, AWS
//! event-stream, SigV4, Google service-account auth); each vendor is one
//! folder, its client in `mod.rs` and its wire format in `wire.rs`; size
//! limits live in [`limits`]. Vendors depend on `transport`, `config`,
//! `limits` and the normalized types, never on one another (Azure speaks
//! OpenAI's wire format, so it uses `openai::wire`).
//!
//! Adding a vendor is one folder implementing [`Provider`] (and a
//! [`config::ProviderSetup`] that reads its settings) plus one entry in
//! [`registry::VENDORS`].

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

mod error;
mod labelled;
mod tools;
mod types;

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod config;
pub mod limits;
pub mod ollama;
pub mod openai;
pub mod registry;
pub mod transport;
pub mod vertex;

pub use error::{ErrorKind, MAX_RETRY_AFTER, ProviderError, retry_after};
pub use tools::{Tool, ToolCall, ToolChoice, check_call_arguments};
pub use transport::http::Timeouts;
pub use types::{
    ChatRequest, ChatResponse, ChatSupport, EmbedRequest, EmbedResponse, FinishReason, Message,
    Role, StreamFrame, TokenUsage, ToolCallDelta, estimate_tokens,
};

/// A normalized stream: frames until exactly one terminal frame.
pub type FrameStream = Pin<Box<dyn Stream<Item = StreamFrame> + Send>>;

/// One configured LLM vendor endpoint.
///
/// `stream` fails (`Err`) for everything that happens before the response
/// body starts (connect, HTTP error status, timeout); after that, failures
/// arrive as the stream's terminal [`StreamFrame::Error`].
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The registry name this instance was configured under (`azure`, `local`…).
    fn name(&self) -> &str;

    /// The OpenTelemetry `gen_ai.system` value (`az.ai.openai`, `anthropic`…).
    fn system(&self) -> &'static str;

    /// The optional chat parameters this vendor honours; the engine asks it
    /// only for requests it can honour in full.
    fn chat_support(&self) -> ChatSupport;

    async fn complete(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError>;

    async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<FrameStream, ProviderError>;

    /// Embeddings; vendors without an embeddings API keep this default.
    async fn embed(
        &self,
        _model: &str,
        _request: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::BadRequest,
            format!("{} has no embeddings API", self.name()),
        ))
    }
}
