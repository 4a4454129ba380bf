//! Shared helpers: spawning, clients, and decoders for SSE / NDJSON / AWS event-stream.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::Bytes;
use futures::StreamExt;
use provider_sim::{SimConfig, Simulator};
use serde_json::Value;

pub async fn sim() -> Simulator {
    Simulator::spawn(SimConfig::default()).await.unwrap()
}

pub async fn sim_with(config: SimConfig) -> Simulator {
    Simulator::spawn(config).await.unwrap()
}

/// A plain-HTTP client. reqwest is compiled with `rustls-no-provider`, and building any client
/// panics until a process-wide crypto provider is installed, even for `http://` URLs.
pub fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder().build().unwrap()
}

pub fn install_crypto_provider() {
    // Err only means another test installed it first.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// ceil(chars / 4), the simulator's documented token approximation.
pub fn approx_tokens(texts: &[&str]) -> u64 {
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    chars.div_ceil(4) as u64
}

pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// One parsed SSE event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: Option<String>,
    pub data: String,
}

impl Sse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("bad JSON {:?}: {e}", self.data))
    }
}

/// Parse a complete SSE body (LF or CRLF line endings).
pub fn parse_sse(body: &str) -> Vec<Sse> {
    let normalized = body.replace("\r\n", "\n");
    normalized
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.trim_start().to_owned());
                }
            }
            Sse {
                event,
                data: data.join("\n"),
            }
        })
        .collect()
}

/// Read a streaming body to its end or first error; returns the bytes and whether it errored.
pub async fn read_until_error(resp: reqwest::Response) -> (Vec<u8>, bool) {
    let mut stream = resp.bytes_stream();
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

/// Decode every AWS event-stream frame of a body (CRCs are checked by the decoder).
pub fn decode_frames(body: &[u8]) -> Result<Vec<Message>, String> {
    let mut decoder = MessageFrameDecoder::new();
    let mut buf = Bytes::copy_from_slice(body);
    let mut out = Vec::new();
    while let DecodedFrame::Complete(m) =
        decoder.decode_frame(&mut buf).map_err(|e| e.to_string())?
    {
        out.push(m);
    }
    if !buf.is_empty() {
        return Err(format!("{} trailing bytes", buf.len()));
    }
    Ok(out)
}

pub fn frame_header(m: &Message, name: &str) -> String {
    let h = m
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .unwrap_or_else(|| panic!("no header {name}"));
    match h.value() {
        HeaderValue::String(s) => s.as_str().to_owned(),
        other => panic!("header {name} is not a string: {other:?}"),
    }
}

pub fn frame_json(m: &Message) -> Value {
    serde_json::from_slice(m.payload()).unwrap()
}

/// A structurally valid SigV4 Authorization header (signature not verifiable by the sim).
pub fn sigv4(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.header(
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature={}",
            "0a1b".repeat(16)
        ),
    )
    .header("x-amz-date", "20250101T000000Z")
}

pub fn vertex_url(sim: &Simulator, model: &str, action: &str) -> String {
    format!(
        "{}/v1/projects/demo/locations/us-central1/publishers/google/models/{model}:{action}",
        sim.base_url()
    )
}
