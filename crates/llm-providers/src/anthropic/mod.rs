//! Anthropic Messages API: `POST {base}/v1/messages` with `x-api-key` and
//! `anthropic-version`; the system prompt travels apart from the turns;
//! streams are SSE (`message_start`, `content_block_*`, `message_delta`,
//! `message_stop`, `ping`, `error`).

use std::sync::Arc;

use async_trait::async_trait;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use service_kit::ConfigError;
use tokio::time::Instant;

mod tools;
pub mod wire;

use crate::config::{ProviderContext, ProviderSetup, Vendor, check_url};
use crate::limits::MAX_BODY;
use crate::transport::http::{self as transport, Timeouts};
use crate::{
    ChatRequest, ChatResponse, ChatSupport, FrameStream, Provider, ProviderError,
    check_call_arguments,
};
pub use wire::{
    AnthropicStreamDecoder, classify, classify_body, finish_reason, parse_response, request_body,
};

pub const VENDOR: Vendor = Vendor {
    kind: "anthropic",
    embeddings: false,
    configure,
};

const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_VERSION: &str = "2023-06-01";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    base_url: Option<String>,
    #[serde(default = "env_base")]
    base_url_env: String,
    #[serde(default = "env_key")]
    api_key_env: String,
    /// The `anthropic-version` header.
    version: Option<String>,
}

fn env_base() -> String {
    "ANTHROPIC_BASE_URL".into()
}
fn env_key() -> String {
    "ANTHROPIC_API_KEY".into()
}

#[derive(Debug)]
struct Setup {
    base_url: String,
    api_key: SecretString,
    version: String,
    simulated: bool,
}

fn configure(ctx: &ProviderContext<'_>) -> Result<Option<Arc<dyn ProviderSetup>>, ConfigError> {
    let file: FileSettings = ctx.settings()?;
    let version = file.version.unwrap_or_else(|| DEFAULT_VERSION.to_owned());
    let setup = match ctx.secret(&file.api_key_env) {
        Some(api_key) => {
            let base = ctx.var_or(&file.base_url_env, file.base_url.as_ref());
            Setup {
                base_url: check_url(ctx, base.as_deref().unwrap_or(DEFAULT_BASE_URL))?,
                api_key,
                version,
                simulated: false,
            }
        }
        None => match ctx.simulate() {
            Some(sim) => Setup {
                base_url: sim,
                api_key: SecretString::from("sim-anthropic-key"),
                version,
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
        Arc::new(Anthropic::new(
            name,
            http,
            timeouts,
            &self.base_url,
            &self.api_key,
            &self.version,
        ))
    }
}

/// The Anthropic client.
pub struct Anthropic {
    name: String,
    http: reqwest::Client,
    timeouts: Timeouts,
    url: String,
    api_key: HeaderValue,
    version: HeaderValue,
}

impl Anthropic {
    pub fn new(
        name: &str,
        http: reqwest::Client,
        timeouts: Timeouts,
        base_url: &str,
        api_key: &SecretString,
        version: &str,
    ) -> Self {
        let mut api_key = HeaderValue::from_str(api_key.expose_secret())
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-key"));
        api_key.set_sensitive(true);
        Anthropic {
            name: name.to_owned(),
            http,
            timeouts,
            url: format!("{}/v1/messages", base_url.trim_end_matches('/')),
            api_key,
            version: HeaderValue::from_str(version)
                .unwrap_or_else(|_| HeaderValue::from_static(DEFAULT_VERSION)),
        }
    }

    fn post(&self, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.http
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(HeaderName::from_static("x-api-key"), self.api_key.clone())
            .header(
                HeaderName::from_static("anthropic-version"),
                self.version.clone(),
            )
            .body(body)
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        &self.name
    }

    fn system(&self) -> &'static str {
        "anthropic"
    }

    fn chat_support(&self) -> ChatSupport {
        // `user` travels as `metadata.user_id`; no seed or penalties; tools
        // as `tool_use` / `tool_result` blocks. Temperatures end at 1.
        ChatSupport {
            user: true,
            tools: true,
            tool_choice_none: true,
            single_tool_call: true,
            strict_tools: true,
            ..ChatSupport::default()
        }
    }

    async fn complete(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        check_call_arguments(request)?;
        let deadline = Instant::now() + self.timeouts.total;
        let body = request_body(model, request, false);
        let resp = transport::send(self.post(body), deadline, classify).await?;
        let bytes = transport::read_body(resp, deadline, MAX_BODY).await?;
        parse_response(&bytes)
    }

    async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        check_call_arguments(request)?;
        let started = Instant::now();
        let deadline = started + self.timeouts.first_token.min(self.timeouts.total);
        let body = request_body(model, request, true);
        let resp = transport::send(self.post(body), deadline, classify).await?;
        Ok(transport::drive(
            resp,
            AnthropicStreamDecoder::new(),
            started,
            self.timeouts,
        ))
    }
}
