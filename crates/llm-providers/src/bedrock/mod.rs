//! AWS Bedrock Runtime: Converse (`POST /model/{id}/converse`),
//! ConverseStream (`/converse-stream`, AWS event-stream frames) and Titan
//! text embeddings (`/invoke`), signed with SigV4 from the standard
//! environment credentials.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use futures::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE};
use percent_encoding::utf8_percent_encode;
use secrecy::SecretString;
use serde::Deserialize;
use service_kit::ConfigError;
use tokio::time::Instant;

use crate::transport::http::PATH_SEGMENT;
mod tools;
pub mod wire;

use crate::config::{ProviderContext, ProviderSetup, Vendor, check_url};
use crate::limits::MAX_BODY;
use crate::transport::http::{self as transport, Timeouts};
use crate::transport::sigv4::{AwsCredentials, Signer};
use crate::{
    ChatRequest, ChatResponse, ChatSupport, EmbedRequest, EmbedResponse, FrameStream, Provider,
    ProviderError, TokenUsage, check_call_arguments,
};
pub use wire::{
    BedrockStreamDecoder, classify, finish_reason, parse_response, parse_titan, request_body,
    titan_body,
};

pub const VENDOR: Vendor = Vendor {
    kind: "bedrock",
    embeddings: true,
    configure,
};

const SERVICE: &str = "bedrock";
/// Titan embeddings take one input per call; this many run at once.
const EMBED_CONCURRENCY: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    /// Default region when `AWS_REGION` / `AWS_DEFAULT_REGION` are unset.
    region: Option<String>,
    /// Endpoint override (default `https://bedrock-runtime.{region}.amazonaws.com`).
    base_url: Option<String>,
    #[serde(default = "env_endpoint")]
    base_url_env: String,
}

fn env_endpoint() -> String {
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME".into()
}

#[derive(Debug)]
struct Setup {
    endpoint: String,
    region: String,
    credentials: AwsCredentials,
    simulated: bool,
}

fn configure(ctx: &ProviderContext<'_>) -> Result<Option<Arc<dyn ProviderSetup>>, ConfigError> {
    let file: FileSettings = ctx.settings()?;
    let region = ctx
        .var("AWS_REGION")
        .or_else(|| ctx.var("AWS_DEFAULT_REGION"))
        .or(file.region)
        .unwrap_or_else(|| "us-east-1".to_owned());
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ctx.error(format!("AWS region {region:?} is not a region name")));
    }
    let endpoint = ctx
        .var_or(&file.base_url_env, file.base_url.as_ref())
        .or_else(|| ctx.var("AWS_ENDPOINT_URL"));
    let setup = match ctx.var("AWS_ACCESS_KEY_ID") {
        Some(access_key_id) => {
            let secret_access_key = ctx.secret("AWS_SECRET_ACCESS_KEY").ok_or_else(|| {
                ConfigError::new(
                    "AWS_SECRET_ACCESS_KEY",
                    "required when AWS_ACCESS_KEY_ID is set",
                )
            })?;
            let endpoint = endpoint
                .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
            Setup {
                endpoint: check_url(ctx, &endpoint)?,
                region,
                credentials: AwsCredentials {
                    access_key_id,
                    secret_access_key,
                    session_token: ctx.secret("AWS_SESSION_TOKEN"),
                },
                simulated: false,
            }
        }
        None => match ctx.simulate() {
            Some(sim) => Setup {
                endpoint: sim,
                region,
                credentials: AwsCredentials {
                    access_key_id: "AKIDSIMULATOR".into(),
                    secret_access_key: SecretString::from("sim-secret-access-key"),
                    session_token: None,
                },
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
        Arc::new(Bedrock::new(
            name,
            http,
            timeouts,
            &self.endpoint,
            Signer::new(&self.credentials, &self.region, SERVICE),
        ))
    }
}

/// The Bedrock client.
pub struct Bedrock {
    name: String,
    http: reqwest::Client,
    timeouts: Timeouts,
    endpoint: String,
    signer: Signer,
}

impl Bedrock {
    pub fn new(
        name: &str,
        http: reqwest::Client,
        timeouts: Timeouts,
        endpoint: &str,
        signer: Signer,
    ) -> Self {
        Bedrock {
            name: name.to_owned(),
            http,
            timeouts,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            signer,
        }
    }

    /// `{endpoint}/model/{modelId}/{operation}`; the id is escaped (`:` → `%3A`).
    pub fn url(&self, model: &str, operation: &str) -> String {
        format!(
            "{}/model/{}/{operation}",
            self.endpoint,
            utf8_percent_encode(model, PATH_SEGMENT)
        )
    }

    fn signed_post(
        &self,
        url: &str,
        accept: &'static str,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let headers = [("content-type", "application/json"), ("accept", accept)];
        let signed = self
            .signer
            .sign("POST", url, &headers, &body, SystemTime::now())?;
        let mut rb = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, accept)
            .body(body);
        for (name, value) in signed {
            rb = rb.header(name, value);
        }
        Ok(rb)
    }

    async fn embed_one(
        &self,
        model: &str,
        input: &str,
        dimensions: Option<u32>,
        deadline: Instant,
    ) -> Result<(Vec<f32>, u64), ProviderError> {
        let body = titan_body(input, dimensions);
        let rb = self.signed_post(&self.url(model, "invoke"), "application/json", body)?;
        let resp = transport::send(rb, deadline, classify).await?;
        parse_titan(&transport::read_body(resp, deadline, MAX_BODY).await?)
    }
}

#[async_trait]
impl Provider for Bedrock {
    fn name(&self) -> &str {
        &self.name
    }

    fn system(&self) -> &'static str {
        "aws.bedrock"
    }

    fn chat_support(&self) -> ChatSupport {
        // Converse's inferenceConfig has none of them; tools through
        // toolConfig, but no `none` choice, no switch for parallel calls and
        // no strict tools. Temperatures up to 2 are the model's to accept or
        // refuse (400).
        ChatSupport {
            tools: true,
            high_temperature: true,
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
        let rb = self.signed_post(
            &self.url(model, "converse"),
            "application/json",
            request_body(request),
        )?;
        let resp = transport::send(rb, deadline, classify).await?;
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
        let rb = self.signed_post(
            &self.url(model, "converse-stream"),
            "application/vnd.amazon.eventstream",
            request_body(request),
        )?;
        let resp = transport::send(rb, deadline, classify).await?;
        Ok(transport::drive(
            resp,
            BedrockStreamDecoder::new(),
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
        let calls: Vec<_> = request
            .inputs
            .iter()
            .map(|input| self.embed_one(model, input, request.dimensions, deadline))
            .collect();
        let results: Vec<Result<(Vec<f32>, u64), ProviderError>> = futures::stream::iter(calls)
            .buffered(EMBED_CONCURRENCY)
            .collect()
            .await;
        let mut embeddings = Vec::with_capacity(results.len());
        let mut tokens = 0u64;
        for r in results {
            let (vector, count) = r?;
            embeddings.push(vector);
            tokens = tokens.saturating_add(count);
        }
        Ok(EmbedResponse {
            embeddings,
            usage: TokenUsage::new(tokens, 0),
        })
    }
}
