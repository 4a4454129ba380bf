//! LLM providers: one client module per vendor behind one trait (with its
//! wire format in a `*_wire` module where it is large).
//!
//! Adding a vendor is one module implementing [`Provider`] (and a
//! [`registry::ProviderSetup`] that reads its settings) plus one entry in
//! [`registry::VENDORS`].

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

mod error;
mod types;

pub mod anthropic;
pub mod anthropic_wire;
pub mod azure;
pub mod bedrock;
pub mod bedrock_wire;
pub mod eventstream;
pub mod google_auth;
pub mod http;
pub mod ollama;
pub mod openai;
pub mod openai_wire;
pub mod registry;
pub mod sigv4;
pub mod sse;
pub mod vertex;
pub mod vertex_wire;

pub use error::{ErrorKind, MAX_RETRY_AFTER, ProviderError, retry_after};
pub use http::Timeouts;
pub use types::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, FinishReason, Message, Role,
    StreamFrame, TokenUsage, ToolCallDelta, estimate_tokens,
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
