//! GCP Vertex AI Gemini: `…/publishers/google/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` and `:predict` (text embeddings), with
//! OAuth2 bearer tokens from [`crate::transport::google_auth`].

use std::sync::Arc;

use async_trait::async_trait;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use percent_encoding::utf8_percent_encode;
use secrecy::SecretString;
use serde::Deserialize;
use service_kit::ConfigError;
use tokio::time::Instant;

use crate::config::{ProviderContext, ProviderSetup, Vendor, check_url};
use crate::limits::{MAX_BODY, MAX_EMBED_BODY};
use crate::transport::google_auth::{DEFAULT_TOKEN_URL, ServiceAccountKey, TokenSource};
use crate::transport::http::PATH_SEGMENT;
use crate::transport::http::{self as transport, Timeouts};
pub mod wire;

use crate::{
    ChatRequest, ChatResponse, ChatSupport, EmbedRequest, EmbedResponse, FrameStream, Provider,
    ProviderError,
};
pub use wire::{
    VertexStreamDecoder, classify, finish_reason, parse_predict, parse_response, predict_body,
    request_body,
};

pub const VENDOR: Vendor = Vendor {
    kind: "vertex",
    embeddings: true,
    configure,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    project: Option<String>,
    location: Option<String>,
    /// Default `https://{location}-aiplatform.googleapis.com`.
    base_url: Option<String>,
    /// Default: the key file's `token_uri`, else Google's.
    token_url: Option<String>,
}

#[derive(Debug, Clone)]
enum Auth {
    Static(SecretString),
    ServiceAccount {
        key: Arc<ServiceAccountKey>,
        token_url: String,
    },
}

#[derive(Debug)]
struct Setup {
    base_url: String,
    project: String,
    location: String,
    auth: Auth,
    simulated: bool,
}

fn read_key(path: &str) -> Result<ServiceAccountKey, ConfigError> {
    let var = "GOOGLE_APPLICATION_CREDENTIALS";
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(var, format!("cannot read {path}: {e}")))?;
    ServiceAccountKey::from_json(&bytes).map_err(|e| ConfigError::new(var, format!("{path}: {e}")))
}

fn configure(ctx: &ProviderContext<'_>) -> Result<Option<Arc<dyn ProviderSetup>>, ConfigError> {
    let file: FileSettings = ctx.settings()?;
    let location = ctx
        .var_or("VERTEX_LOCATION", file.location.as_ref())
        .unwrap_or_else(|| "us-central1".to_owned());
    if location.is_empty()
        || !location
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ConfigError::new(
            "VERTEX_LOCATION",
            format!("{location:?} is not a location"),
        ));
    }
    let key = match ctx.var("GOOGLE_APPLICATION_CREDENTIALS") {
        Some(path) if ctx.var("VERTEX_ACCESS_TOKEN").is_none() => Some(read_key(&path)?),
        _ => None,
    };
    let auth = match (ctx.secret("VERTEX_ACCESS_TOKEN"), key) {
        (Some(token), _) => Some((Auth::Static(token), None)),
        (None, Some(key)) => {
            let token_url = ctx
                .var_or("GOOGLE_TOKEN_URL", file.token_url.as_ref())
                .or_else(|| key.token_uri.clone())
                .unwrap_or_else(|| DEFAULT_TOKEN_URL.to_owned());
            let token_url = check_url(ctx, &token_url)?;
            let project = key.project_id.clone();
            Some((
                Auth::ServiceAccount {
                    key: Arc::new(key),
                    token_url,
                },
                project,
            ))
        }
        (None, None) => None,
    };
    let setup = match auth {
        Some((auth, key_project)) => {
            let project = ctx
                .var_or("VERTEX_PROJECT", file.project.as_ref())
                .or(key_project)
                .ok_or_else(|| {
                    ConfigError::new(
                        "VERTEX_PROJECT",
                        "required for Vertex AI (or a key file with project_id)",
                    )
                })?;
            let default_base = if location == "global" {
                "https://aiplatform.googleapis.com".to_owned()
            } else {
                format!("https://{location}-aiplatform.googleapis.com")
            };
            let base = ctx
                .var_or("VERTEX_BASE_URL", file.base_url.as_ref())
                .unwrap_or(default_base);
            Setup {
                base_url: check_url(ctx, &base)?,
                project,
                location,
                auth,
                simulated: false,
            }
        }
        None => match ctx.simulate() {
            Some(sim) => Setup {
                base_url: sim,
                project: "sim-project".into(),
                location,
                auth: Auth::Static(SecretString::from("sim-vertex-token")),
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
        let tokens = match &self.auth {
            Auth::Static(token) => TokenSource::fixed(token),
            Auth::ServiceAccount { key, token_url } => {
                // The key was checked when the config was read.
                TokenSource::service_account(Arc::clone(key), token_url, http.clone())
                    .unwrap_or_else(|_| TokenSource::fixed(&SecretString::from("invalid-key")))
            }
        };
        Arc::new(Vertex::new(
            name,
            http,
            timeouts,
            &self.base_url,
            &self.project,
            &self.location,
            tokens,
        ))
    }
}

/// The Vertex AI client.
pub struct Vertex {
    name: String,
    http: reqwest::Client,
    timeouts: Timeouts,
    /// `{base}/v1/projects/{project}/locations/{location}/publishers/google/models`
    models_url: String,
    tokens: TokenSource,
}

impl Vertex {
    pub fn new(
        name: &str,
        http: reqwest::Client,
        timeouts: Timeouts,
        base_url: &str,
        project: &str,
        location: &str,
        tokens: TokenSource,
    ) -> Self {
        Vertex {
            name: name.to_owned(),
            http,
            timeouts,
            models_url: format!(
                "{}/v1/projects/{}/locations/{}/publishers/google/models",
                base_url.trim_end_matches('/'),
                utf8_percent_encode(project, PATH_SEGMENT),
                utf8_percent_encode(location, PATH_SEGMENT),
            ),
            tokens,
        }
    }

    pub fn url(&self, model: &str, action: &str) -> String {
        format!(
            "{}/{}:{action}",
            self.models_url,
            utf8_percent_encode(model, PATH_SEGMENT)
        )
    }

    async fn post(
        &self,
        url: String,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let auth = self.tokens.authorization().await?;
        Ok(self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, auth)
            .body(body))
    }
}

#[async_trait]
impl Provider for Vertex {
    fn name(&self) -> &str {
        &self.name
    }

    fn system(&self) -> &'static str {
        "gcp.vertex_ai"
    }

    fn chat_support(&self) -> ChatSupport {
        // generationConfig has no end-user field.
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
        let rb = self
            .post(self.url(model, "generateContent"), request_body(request))
            .await?;
        let resp = transport::send(rb, deadline, classify).await?;
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
        let url = format!("{}?alt=sse", self.url(model, "streamGenerateContent"));
        let rb = self.post(url, request_body(request)).await?;
        let resp = transport::send(rb, deadline, classify).await?;
        Ok(transport::drive(
            resp,
            VertexStreamDecoder::new(),
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
        let body = predict_body(request);
        let rb = self.post(self.url(model, "predict"), body).await?;
        let resp = transport::send(rb, deadline, classify).await?;
        let bytes = transport::read_body(resp, deadline, MAX_EMBED_BODY).await?;
        parse_predict(&bytes, request.inputs.len())
    }
}
