//! A provider whose calls are [`labelled`]: its HTTP client spans carry
//! `gen_ai.system` and `gen_ai.request.model` (see [`crate::transport::trace`]).

use std::sync::Arc;

use async_trait::async_trait;

use crate::transport::trace::labelled;
use crate::{
    ChatRequest, ChatResponse, ChatSupport, EmbedRequest, EmbedResponse, FrameStream, Provider,
    ProviderError,
};

pub(crate) struct Labelled(pub(crate) Arc<dyn Provider>);

#[async_trait]
impl Provider for Labelled {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn system(&self) -> &'static str {
        self.0.system()
    }

    fn chat_support(&self) -> ChatSupport {
        self.0.chat_support()
    }

    async fn complete(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        labelled(self.system(), model, self.0.complete(model, request)).await
    }

    async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        labelled(self.system(), model, self.0.stream(model, request)).await
    }

    async fn embed(
        &self,
        model: &str,
        request: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        labelled(self.system(), model, self.0.embed(model, request)).await
    }
}
