//! Ollama's native API (`AI_MODE=local`): `POST /api/chat` (NDJSON stream)
//! and `POST /api/embed`. No authentication, like a local Ollama. Other
//! OpenAI-compatible local servers use [`crate::openai`] with a `base_url`.

use std::sync::Arc;

use async_trait::async_trait;
use http::header::CONTENT_TYPE;
use serde::Deserialize;
use service_kit::ConfigError;
use tokio::time::Instant;

use crate::config::{ProviderContext, ProviderSetup, Vendor, check_url};
use crate::limits::{MAX_BODY, MAX_EMBED_BODY};
use crate::transport::http::{self as transport, Timeouts};
use crate::{
    ChatRequest, ChatResponse, ChatSupport, EmbedRequest, EmbedResponse, FrameStream, Provider,
    ProviderError,
};

pub mod wire;

use wire::{OllamaStreamDecoder, classify, embed_body, parse_embed, parse_response, request_body};

pub const VENDOR: Vendor = Vendor {
    kind: "ollama",
    embeddings: true,
    configure,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    /// e.g. `http://localhost:11434`.
    base_url: Option<String>,
    #[serde(default = "env_base")]
    base_url_env: String,
}

fn env_base() -> String {
    "OLLAMA_BASE_URL".into()
}

#[derive(Debug)]
struct Setup {
    base_url: String,
    simulated: bool,
}

fn configure(ctx: &ProviderContext<'_>) -> Result<Option<Arc<dyn ProviderSetup>>, ConfigError> {
    let file: FileSettings = ctx.settings()?;
    let setup = match ctx.var_or(&file.base_url_env, file.base_url.as_ref()) {
        Some(base) => Setup {
            base_url: check_url(ctx, &base)?,
            simulated: false,
        },
        None => match ctx.simulate() {
            Some(sim) => Setup {
                base_url: sim,
                simulated: true,
            },
            None => return Ok(None),
        },
    };
    Ok(Some(Arc::new(setup)))
}

impl ProviderSetup for Setup {
    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn simulated(&self) -> bool {
        self.simulated
    }

    fn connect(&self, name: &str, http: reqwest::Client, timeouts: Timeouts) -> Arc<dyn Provider> {
        Arc::new(Ollama::new(name, http, timeouts, &self.base_url))
    }
}

/// The Ollama client.
pub struct Ollama {
    name: String,
    http: reqwest::Client,
    timeouts: Timeouts,
    chat_url: String,
    embed_url: String,
}

impl Ollama {
    pub fn new(name: &str, http: reqwest::Client, timeouts: Timeouts, base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        Ollama {
            name: name.to_owned(),
            http,
            timeouts,
            chat_url: format!("{base}/api/chat"),
            embed_url: format!("{base}/api/embed"),
        }
    }

    fn post(&self, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
    }
}

#[async_trait]
impl Provider for Ollama {
    fn name(&self) -> &str {
        &self.name
    }

    fn system(&self) -> &'static str {
        "ollama"
    }

    fn chat_support(&self) -> ChatSupport {
        // `options` has no end-user field.
        ChatSupport {
            user: false,
            // No tool translation yet: tool requests go to vendors that have one.
            tools: false,
            ..ChatSupport::ALL
        }
    }

    async fn complete(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let deadline = Instant::now() + self.timeouts.total;
        let body = request_body(model, request, false);
        let resp = transport::send(self.post(&self.chat_url, body), deadline, classify).await?;
        let bytes = transport::read_body(resp, deadline, MAX_BODY).await?;
        parse_response(&bytes)
    }

    async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        let started = Instant::now();
        let deadline = started + self.timeouts.first_token.min(self.timeouts.total);
        let body = request_body(model, request, true);
        let resp = transport::send(self.post(&self.chat_url, body), deadline, classify).await?;
        Ok(transport::drive(
            resp,
            OllamaStreamDecoder::new(),
            started,
            self.timeouts,
        ))
    }

    async fn embed(
        &self,
        model: &str,
        request: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let deadline = Instant::now() + self.timeouts.total;
        let body = embed_body(model, request);
        let resp = transport::send(self.post(&self.embed_url, body), deadline, classify).await?;
        let bytes = transport::read_body(resp, deadline, MAX_EMBED_BODY).await?;
        parse_embed(&bytes, request.inputs.len())
    }
}
