//! OpenAI Chat Completions and Embeddings, and any OpenAI-compatible server
//! (vLLM, llama.cpp, LM Studio, Ollama's `/v1`): `Authorization: Bearer`,
//! `POST {base}/chat/completions`, `POST {base}/embeddings`.

use std::sync::Arc;

use async_trait::async_trait;
use http::HeaderValue;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::SecretString;
use serde::Deserialize;
use service_kit::ConfigError;
use tokio::time::Instant;

use crate::config::{ProviderContext, ProviderSetup, Vendor, check_url};
use crate::limits::{MAX_BODY, MAX_EMBED_BODY};
use crate::transport::http::bearer;
use crate::transport::http::{self as transport, Timeouts};
mod tools;
pub mod wire;

use crate::{
    ChatRequest, ChatResponse, ChatSupport, EmbedRequest, EmbedResponse, FrameStream, Provider,
    ProviderError,
};
use wire::{MaxTokensField, OpenAiStreamDecoder};

pub const VENDOR: Vendor = Vendor {
    kind: "openai",
    embeddings: true,
    configure,
};

const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    /// Base URL including the version (`https://api.openai.com/v1`).
    base_url: Option<String>,
    #[serde(default = "default_base_url_env")]
    base_url_env: String,
    #[serde(default = "default_api_key_env")]
    api_key_env: String,
    /// Which field carries max_tokens; default: `max_completion_tokens` for
    /// api.openai.com, `max_tokens` for compatible servers.
    max_tokens_field: Option<MaxTokensField>,
}

fn default_base_url_env() -> String {
    "OPENAI_BASE_URL".into()
}

fn default_api_key_env() -> String {
    "OPENAI_API_KEY".into()
}

#[derive(Debug)]
struct Setup {
    base_url: String,
    api_key: Option<SecretString>,
    simulated: bool,
    field: MaxTokensField,
}

fn configure(ctx: &ProviderContext<'_>) -> Result<Option<Arc<dyn ProviderSetup>>, ConfigError> {
    let file: FileSettings = ctx.settings()?;
    let key = ctx.secret(&file.api_key_env);
    let base = ctx.var_or(&file.base_url_env, file.base_url.as_ref());
    let (base_url, api_key, simulated) = match (key, base) {
        (key @ Some(_), base) => (
            check_url(ctx, base.as_deref().unwrap_or(DEFAULT_BASE_URL))?,
            key,
            false,
        ),
        // A compatible local server that needs no key.
        (None, Some(base)) => (check_url(ctx, &base)?, None, false),
        (None, None) => match ctx.simulate() {
            Some(sim) => (
                format!("{sim}/v1"),
                Some(SecretString::from("sim-openai-key")),
                true,
            ),
            None => return Ok(None),
        },
    };
    let field = file
        .max_tokens_field
        .unwrap_or(if base_url.contains("api.openai.com") {
            MaxTokensField::MaxCompletionTokens
        } else {
            MaxTokensField::MaxTokens
        });
    Ok(Some(Arc::new(Setup {
        base_url,
        api_key,
        simulated,
        field,
    })))
}

impl ProviderSetup for Setup {
    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn simulated(&self) -> bool {
        self.simulated
    }

    fn connect(&self, name: &str, http: reqwest::Client, timeouts: Timeouts) -> Arc<dyn Provider> {
        Arc::new(OpenAi::new(
            name,
            http,
            timeouts,
            &self.base_url,
            self.api_key.as_ref(),
            self.field,
        ))
    }
}

/// The OpenAI (or compatible) client.
pub struct OpenAi {
    name: String,
    http: reqwest::Client,
    timeouts: Timeouts,
    chat_url: String,
    embed_url: String,
    auth: Option<HeaderValue>,
    field: MaxTokensField,
}

impl OpenAi {
    pub fn new(
        name: &str,
        http: reqwest::Client,
        timeouts: Timeouts,
        base_url: &str,
        api_key: Option<&SecretString>,
        field: MaxTokensField,
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        OpenAi {
            name: name.to_owned(),
            http,
            timeouts,
            chat_url: format!("{base}/chat/completions"),
            embed_url: format!("{base}/embeddings"),
            auth: api_key.and_then(bearer),
            field,
        }
    }

    fn post(&self, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(auth) = &self.auth {
            rb = rb.header(AUTHORIZATION, auth.clone());
        }
        rb
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &str {
        &self.name
    }

    fn system(&self) -> &'static str {
        "openai"
    }

    fn chat_support(&self) -> ChatSupport {
        ChatSupport::ALL
    }

    async fn complete(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let deadline = Instant::now() + self.timeouts.total;
        let body = wire::chat_body(Some(model), request, false, self.field);
        let resp =
            transport::send(self.post(&self.chat_url, body), deadline, wire::classify).await?;
        let bytes = transport::read_body(resp, deadline, MAX_BODY).await?;
        wire::parse_completion(&bytes)
    }

    async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        let started = Instant::now();
        let deadline = started + self.timeouts.first_token.min(self.timeouts.total);
        let body = wire::chat_body(Some(model), request, true, self.field);
        let resp =
            transport::send(self.post(&self.chat_url, body), deadline, wire::classify).await?;
        Ok(transport::drive(
            resp,
            OpenAiStreamDecoder::new(),
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
        let body = wire::embed_body(Some(model), request);
        let resp =
            transport::send(self.post(&self.embed_url, body), deadline, wire::classify).await?;
        let bytes = transport::read_body(resp, deadline, MAX_EMBED_BODY).await?;
        wire::parse_embeddings(&bytes, request.inputs.len())
    }
}
