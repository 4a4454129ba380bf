//! Azure OpenAI / AI Foundry: deployment-scoped URLs
//! (`{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`),
//! authenticated with the `api-key` header or an Entra ID bearer token.
//! Bodies are OpenAI's ([`crate::openai::wire`]); the model is the deployment.

use std::sync::Arc;

use async_trait::async_trait;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderName, HeaderValue};
use percent_encoding::utf8_percent_encode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use service_kit::ConfigError;
use tokio::time::Instant;

use crate::config::{ProviderContext, ProviderSetup, Vendor, check_url};
use crate::limits::{MAX_BODY, MAX_EMBED_BODY};
use crate::openai::wire::{self as openai_wire, MaxTokensField, OpenAiStreamDecoder};
use crate::transport::http::{self as transport, Timeouts};
use crate::transport::http::{PATH_SEGMENT, bearer};
use crate::{
    ChatRequest, ChatResponse, ChatSupport, EmbedRequest, EmbedResponse, FrameStream, Provider,
    ProviderError,
};

pub const VENDOR: Vendor = Vendor {
    kind: "azure",
    embeddings: true,
    configure,
};

/// The latest GA data-plane API version when this was written.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    /// The resource endpoint, e.g. `https://my-resource.openai.azure.com`.
    base_url: Option<String>,
    #[serde(default = "env_endpoint")]
    base_url_env: String,
    #[serde(default = "env_key")]
    api_key_env: String,
    /// An Entra ID access token (`Authorization: Bearer`) instead of a key.
    #[serde(default = "env_ad_token")]
    ad_token_env: String,
    api_version: Option<String>,
    #[serde(default = "env_api_version")]
    api_version_env: String,
}

fn env_endpoint() -> String {
    "AZURE_OPENAI_ENDPOINT".into()
}
fn env_key() -> String {
    "AZURE_OPENAI_API_KEY".into()
}
fn env_ad_token() -> String {
    "AZURE_OPENAI_AD_TOKEN".into()
}
fn env_api_version() -> String {
    "AZURE_OPENAI_API_VERSION".into()
}

#[derive(Debug, Clone)]
pub enum AzureAuth {
    ApiKey(SecretString),
    EntraToken(SecretString),
}

#[derive(Debug)]
struct Setup {
    endpoint: String,
    api_version: String,
    auth: AzureAuth,
    simulated: bool,
}

fn configure(ctx: &ProviderContext<'_>) -> Result<Option<Arc<dyn ProviderSetup>>, ConfigError> {
    let file: FileSettings = ctx.settings()?;
    let api_version = ctx
        .var_or(&file.api_version_env, file.api_version.as_ref())
        .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
    let auth = match (
        ctx.secret(&file.api_key_env),
        ctx.secret(&file.ad_token_env),
    ) {
        (Some(key), _) => Some(AzureAuth::ApiKey(key)),
        (None, Some(token)) => Some(AzureAuth::EntraToken(token)),
        (None, None) => None,
    };
    let setup = match auth {
        Some(auth) => {
            let endpoint = ctx
                .var_or(&file.base_url_env, file.base_url.as_ref())
                .ok_or_else(|| {
                    ctx.error(format!(
                        "{} is required when Azure credentials are set",
                        file.base_url_env
                    ))
                })?;
            Setup {
                endpoint: check_url(ctx, &endpoint)?,
                api_version,
                auth,
                simulated: false,
            }
        }
        None => match ctx.simulate() {
            Some(sim) => Setup {
                endpoint: sim,
                api_version,
                auth: AzureAuth::ApiKey(SecretString::from("sim-azure-key")),
                simulated: true,
            },
            None => return Ok(None),
        },
    };
    Ok(Some(Arc::new(setup)))
}

impl ProviderSetup for Setup {
    fn base_url(&self) -> &str {
        &self.endpoint
    }

    fn simulated(&self) -> bool {
        self.simulated
    }

    fn connect(&self, name: &str, http: reqwest::Client, timeouts: Timeouts) -> Arc<dyn Provider> {
        Arc::new(Azure::new(
            name,
            http,
            timeouts,
            &self.endpoint,
            &self.api_version,
            &self.auth,
        ))
    }
}

/// The Azure OpenAI client.
pub struct Azure {
    name: String,
    http: reqwest::Client,
    timeouts: Timeouts,
    endpoint: String,
    api_version: String,
    auth: (HeaderName, HeaderValue),
}

impl Azure {
    pub fn new(
        name: &str,
        http: reqwest::Client,
        timeouts: Timeouts,
        endpoint: &str,
        api_version: &str,
        auth: &AzureAuth,
    ) -> Self {
        let auth = match auth {
            AzureAuth::ApiKey(key) => {
                let mut v = HeaderValue::from_str(key.expose_secret())
                    .unwrap_or_else(|_| HeaderValue::from_static("invalid-key"));
                v.set_sensitive(true);
                (HeaderName::from_static("api-key"), v)
            }
            AzureAuth::EntraToken(token) => (
                AUTHORIZATION,
                bearer(token).unwrap_or_else(|| HeaderValue::from_static("invalid-token")),
            ),
        };
        Azure {
            name: name.to_owned(),
            http,
            timeouts,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            api_version: utf8_percent_encode(api_version, PATH_SEGMENT).to_string(),
            auth,
        }
    }

    /// `{endpoint}/openai/deployments/{deployment}/{operation}?api-version=…`
    pub fn url(&self, deployment: &str, operation: &str) -> String {
        format!(
            "{}/openai/deployments/{}/{operation}?api-version={}",
            self.endpoint,
            utf8_percent_encode(deployment, PATH_SEGMENT),
            self.api_version
        )
    }

    fn post(&self, url: String, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(self.auth.0.clone(), self.auth.1.clone())
            .body(body)
    }
}

#[async_trait]
impl Provider for Azure {
    fn name(&self) -> &str {
        &self.name
    }

    fn system(&self) -> &'static str {
        "az.ai.openai"
    }

    fn chat_support(&self) -> ChatSupport {
        ChatSupport::ALL
    }

    async fn complete(
        &self,
        deployment: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let deadline = Instant::now() + self.timeouts.total;
        let body = openai_wire::chat_body(None, request, false, MaxTokensField::MaxTokens);
        let url = self.url(deployment, "chat/completions");
        let resp = transport::send(self.post(url, body), deadline, openai_wire::classify).await?;
        let bytes = transport::read_body(resp, deadline, MAX_BODY).await?;
        openai_wire::parse_completion(&bytes)
    }

    async fn stream(
        &self,
        deployment: &str,
        request: &ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        let started = Instant::now();
        let deadline = started + self.timeouts.first_token.min(self.timeouts.total);
        let body = openai_wire::chat_body(None, request, true, MaxTokensField::MaxTokens);
        let url = self.url(deployment, "chat/completions");
        let resp = transport::send(self.post(url, body), deadline, openai_wire::classify).await?;
        Ok(transport::drive(
            resp,
            OpenAiStreamDecoder::new(),
            started,
            self.timeouts,
        ))
    }

    async fn embed(
        &self,
        deployment: &str,
        request: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let deadline = Instant::now() + self.timeouts.total;
        let body = openai_wire::embed_body(None, request);
        let url = self.url(deployment, "embeddings");
        let resp = transport::send(self.post(url, body), deadline, openai_wire::classify).await?;
        let bytes = transport::read_body(resp, deadline, MAX_EMBED_BODY).await?;
        openai_wire::parse_embeddings(&bytes, request.inputs.len())
    }
}
