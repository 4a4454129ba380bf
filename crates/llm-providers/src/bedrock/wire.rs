//! The Bedrock Runtime wire format: Converse bodies and responses, the
//! ConverseStream events (inside AWS event-stream frames), exceptions, and
//! Titan embeddings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::tools::{messages, tool_config};
use crate::tools::ToolBlocks;
use crate::transport::eventstream::{EventMessage, EventStreamDecoder};
use crate::transport::http::{ErrorAnswer, FrameDecoder, parse_json};
use crate::{
    ChatRequest, ChatResponse, ErrorKind, FinishReason, ProviderError, StreamFrame, TokenUsage,
    ToolCall, ToolCallDelta,
};

#[derive(Serialize)]
struct TextBlock {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig<'a> {
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    messages: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<TextBlock>,
    inference_config: InferenceConfig<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<serde_json::Value>,
}

/// The Converse body (the same for ConverseStream).
pub fn request_body(request: &ChatRequest) -> Vec<u8> {
    let body = Body {
        messages: messages(request),
        system: request
            .system_prompt()
            .map(|text| vec![TextBlock { text }])
            .unwrap_or_default(),
        inference_config: InferenceConfig {
            max_tokens: request.max_tokens,
            // Bedrock's models take 0..=1.
            temperature: request.temperature.map(|t| t.clamp(0.0, 1.0)),
            top_p: request.top_p,
            stop_sequences: &request.stop,
        },
        tool_config: tool_config(request),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse {
    output: Output,
    #[serde(default)]
    stop_reason: String,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct Output {
    message: Option<OutMessage>,
}

#[derive(Deserialize)]
struct OutMessage {
    #[serde(default)]
    content: Vec<OutBlock>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutBlock {
    text: Option<String>,
    tool_use: Option<OutToolUse>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutToolUse {
    #[serde(default)]
    tool_use_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    input: serde_json::Value,
}

impl From<OutToolUse> for ToolCall {
    fn from(t: OutToolUse) -> Self {
        ToolCall {
            id: t.tool_use_id,
            name: t.name,
            arguments: t.input.to_string(),
        }
    }
}

pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

pub fn parse_response(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let r: ConverseResponse = parse_json(body, "converse response")?;
    let blocks = r.output.message.map(|m| m.content).unwrap_or_default();
    let mut finish = finish_reason(&r.stop_reason);
    if blocks.iter().any(|b| b.tool_use.is_some()) {
        finish = FinishReason::ToolCalls;
    }
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    for b in blocks {
        content.extend(b.text);
        tool_calls.extend(b.tool_use.map(ToolCall::from));
    }
    Ok(ChatResponse {
        content,
        finish_reason: finish,
        usage: TokenUsage::new(r.usage.input_tokens, r.usage.output_tokens),
        tool_calls,
    })
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(alias = "Message", default)]
    message: String,
    #[serde(rename = "__type", default)]
    kind: Option<String>,
}

/// Classifies an exception by name (header `x-amzn-ErrorType`, body `__type`,
/// or an in-stream `:exception-type`, whose names start lowercase).
fn classify_exception(
    name: &str,
    status: Option<u16>,
    retry_after: Option<Duration>,
    message: &str,
) -> ProviderError {
    let long = message.contains("too long") || message.contains("too many input tokens");
    let lower = name.to_ascii_lowercase();
    let kind = match lower.trim_end_matches("exception") {
        // 529 means "overloaded" whatever the body says.
        _ if status == Some(529) => ErrorKind::Overloaded,
        "throttling" | "servicequotaexceeded" => ErrorKind::RateLimited { retry_after },
        "serviceunavailable" => ErrorKind::ServerError(503),
        "internalserver" => ErrorKind::ServerError(status.unwrap_or(500)),
        "modelnotready" => ErrorKind::ServerError(status.unwrap_or(503)),
        "modelstreamerror" | "modelerror" => ErrorKind::ServerError(424),
        "modeltimeout" => ErrorKind::Timeout,
        "accessdenied"
        | "unrecognizedclient"
        | "invalidsignature"
        | "incompletesignature"
        | "missingauthenticationtoken"
        | "expiredtoken" => ErrorKind::Authentication,
        "validation" if long => ErrorKind::ContextTooLong,
        "validation" | "resourcenotfound" => ErrorKind::BadRequest,
        _ => status.map_or(ErrorKind::ServerError(500), |s| {
            ErrorKind::from_status(s, retry_after)
        }),
    };
    match status {
        Some(s) => ProviderError::http(kind, s, &format!("{name}: {message}")),
        None => ProviderError::new(kind, format!("{name} mid-stream: {message}")),
    }
}

/// [`crate::transport::http::Classify`] for Bedrock.
pub fn classify(answer: &ErrorAnswer<'_>) -> ProviderError {
    let body: ErrorBody = serde_json::from_slice(answer.body).unwrap_or_default();
    // `x-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/...`
    let name = answer
        .headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_owned())
        .or_else(|| {
            body.kind
                .map(|k| k.rsplit('#').next().unwrap_or(&k).to_owned())
        })
        .unwrap_or_default();
    classify_exception(
        &name,
        Some(answer.status),
        answer.retry_after,
        &body.message,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart {
    #[serde(default)]
    content_block_index: u32,
    #[serde(default)]
    start: Option<StartBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    tool_use: Option<ToolUseStart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseStart {
    tool_use_id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta {
    #[serde(default)]
    content_block_index: u32,
    delta: DeltaBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaBody {
    text: Option<String>,
    tool_use: Option<ToolUseDelta>,
}

#[derive(Deserialize)]
struct ToolUseDelta {
    #[serde(default)]
    input: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    #[serde(default)]
    stop_reason: String,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// ConverseStream events over AWS event-stream frames.
#[derive(Default)]
pub struct BedrockStreamDecoder {
    frames: EventStreamDecoder,
    messages: Vec<EventMessage>,
    usage: Option<TokenUsage>,
    finish: Option<FinishReason>,
    tool_blocks: ToolBlocks,
    done: bool,
}

fn payload<'a, T: Deserialize<'a>>(m: &'a EventMessage, what: &str) -> Result<T, ProviderError> {
    parse_json(&m.payload, what)
}

impl BedrockStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn done_frame(&self) -> StreamFrame {
        StreamFrame::Done {
            finish_reason: self.finish.unwrap_or(FinishReason::Stop),
            usage: self.usage.unwrap_or_default(),
        }
    }

    fn message(
        &mut self,
        m: &EventMessage,
        out: &mut Vec<StreamFrame>,
    ) -> Result<(), ProviderError> {
        match m.message_type.as_str() {
            "event" => {}
            "exception" => {
                #[derive(Deserialize, Default)]
                struct Ex {
                    #[serde(alias = "Message", default)]
                    message: String,
                }
                let ex: Ex = serde_json::from_slice(&m.payload).unwrap_or_default();
                let name = m.exception_type.as_deref().unwrap_or("unknownException");
                return Err(classify_exception(name, None, None, &ex.message));
            }
            "error" => {
                let code = m.error_code.as_deref().unwrap_or("unknownError");
                let text = m.error_message.as_deref().unwrap_or_default();
                return Err(classify_exception(code, None, None, text));
            }
            other => {
                return Err(ProviderError::malformed(format!(
                    "event-stream message type {other:?}"
                )));
            }
        }
        match m.event_type.as_deref().unwrap_or_default() {
            "contentBlockStart" => {
                let s: BlockStart = payload(m, "contentBlockStart")?;
                if let Some(tool) = s.start.and_then(|s| s.tool_use) {
                    out.push(StreamFrame::ToolCall(ToolCallDelta {
                        index: self.tool_blocks.start(s.content_block_index),
                        id: tool.tool_use_id,
                        name: tool.name,
                        arguments: String::new(),
                    }));
                }
            }
            "contentBlockDelta" => {
                let d: BlockDelta = payload(m, "contentBlockDelta")?;
                if let Some(text) = d.delta.text.filter(|t| !t.is_empty()) {
                    out.push(StreamFrame::Text(text));
                }
                if let Some(tool) = d.delta.tool_use.filter(|t| !t.input.is_empty()) {
                    let index = self
                        .tool_blocks
                        .call(d.content_block_index)
                        .ok_or_else(|| {
                            ProviderError::malformed(format!(
                                "toolUse delta for block {}, which is no toolUse block",
                                d.content_block_index
                            ))
                        })?;
                    out.push(StreamFrame::ToolCall(ToolCallDelta {
                        index,
                        id: None,
                        name: None,
                        arguments: tool.input,
                    }));
                }
            }
            "messageStop" => {
                let s: MessageStop = payload(m, "messageStop")?;
                self.finish = Some(finish_reason(&s.stop_reason));
            }
            "metadata" => {
                let meta: Metadata = payload(m, "metadata")?;
                if let Some(u) = meta.usage {
                    let usage = TokenUsage::new(u.input_tokens, u.output_tokens);
                    self.usage = Some(usage);
                    out.push(StreamFrame::Usage(usage));
                }
                // The metadata event is the last one Bedrock sends.
                if self.finish.is_some() {
                    out.push(self.done_frame());
                    self.done = true;
                }
            }
            _ => {} // messageStart, contentBlockStop and future events
        }
        Ok(())
    }
}

impl FrameDecoder for BedrockStreamDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamFrame>) {
        if self.done {
            return;
        }
        if let Err(e) = self.frames.push(chunk, &mut self.messages) {
            out.push(StreamFrame::Error(ProviderError::malformed(e)));
            self.done = true;
            return;
        }
        let messages = std::mem::take(&mut self.messages);
        for m in &messages {
            if self.done {
                break;
            }
            if let Err(e) = self.message(m, out) {
                out.push(StreamFrame::Error(e));
                self.done = true;
            }
        }
        self.messages = messages;
        self.messages.clear();
    }

    fn finish(&mut self, out: &mut Vec<StreamFrame>) {
        if !self.done && self.finish.is_some() && !self.frames.has_pending() {
            out.push(self.done_frame());
            self.done = true;
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TitanBody<'a> {
    input_text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
}

/// The InvokeModel body of a Titan text embedding.
pub fn titan_body(input: &str, dimensions: Option<u32>) -> Vec<u8> {
    serde_json::to_vec(&TitanBody {
        input_text: input,
        dimensions,
    })
    .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanResponse {
    embedding: Vec<f32>,
    #[serde(default)]
    input_text_token_count: u64,
}

pub fn parse_titan(body: &[u8]) -> Result<(Vec<f32>, u64), ProviderError> {
    let r: TitanResponse = parse_json(body, "titan embedding")?;
    Ok((r.embedding, r.input_text_token_count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, Role};
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message as EsMessage};
    use aws_smithy_types::str_bytes::StrBytes;
    use proptest::prelude::*;

    pub(crate) fn frame(kind: &'static str, event: &'static str, payload: &str) -> Vec<u8> {
        let type_header = if kind == "event" {
            ":event-type"
        } else {
            ":exception-type"
        };
        let message = EsMessage::new_from_parts(
            vec![
                Header::new(":message-type", HeaderValue::String(StrBytes::from(kind))),
                Header::new(type_header, HeaderValue::String(StrBytes::from(event))),
            ],
            bytes::Bytes::from(payload.to_owned()),
        );
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    #[test]
    fn converse_body_has_the_documented_shape() {
        let req = ChatRequest {
            messages: vec![
                Message::new(Role::System, "Tutor."),
                Message::new(Role::User, "Hi"),
            ],
            max_tokens: 64,
            temperature: None,
            top_p: Some(0.9),
            stop: vec![],
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_slice(&request_body(&req)).unwrap();
        assert_eq!(v["system"][0]["text"], "Tutor.");
        assert_eq!(v["messages"][0]["role"], "user");
        assert_eq!(v["messages"][0]["content"][0]["text"], "Hi");
        assert_eq!(v["inferenceConfig"]["maxTokens"], 64);
        assert!((v["inferenceConfig"]["topP"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    }

    #[test]
    fn stream_ends_on_metadata_after_stop() {
        let mut bytes = frame("event", "messageStart", r#"{"role":"assistant"}"#);
        bytes.extend(frame(
            "event",
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
        ));
        bytes.extend(frame(
            "event",
            "messageStop",
            r#"{"stopReason":"end_turn"}"#,
        ));
        bytes.extend(frame(
            "event",
            "metadata",
            r#"{"usage":{"inputTokens":5,"outputTokens":1,"totalTokens":6}}"#,
        ));
        let mut d = BedrockStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(&bytes, &mut out);
        assert!(matches!(&out[0], StreamFrame::Text(t) if t == "Hi"));
        assert!(matches!(
            out.last(),
            Some(StreamFrame::Done { usage, .. }) if *usage == TokenUsage::new(5, 1)
        ));
    }

    #[test]
    fn tool_use_after_text_streams_as_openai_call_index_zero() {
        let mut d = BedrockStreamDecoder::new();
        let mut out = Vec::new();
        for (event, payload) in [
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"I will."}}"#,
            ),
            ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            (
                "contentBlockStart",
                r#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"tooluse_1","name":"f"}}}"#,
            ),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":"}}}"#,
            ),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"1}"}}}"#,
            ),
            ("messageStop", r#"{"stopReason":"tool_use"}"#),
            (
                "metadata",
                r#"{"usage":{"inputTokens":3,"outputTokens":5}}"#,
            ),
        ] {
            d.feed(&frame("event", event, payload), &mut out);
        }
        let calls: Vec<&ToolCallDelta> = out
            .iter()
            .filter_map(|f| match f {
                StreamFrame::ToolCall(d) => Some(d),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert!(calls.iter().all(|c| c.index == 0));
        assert_eq!(calls[0].id.as_deref(), Some("tooluse_1"));
        let args: String = calls.iter().map(|c| c.arguments.as_str()).collect();
        assert_eq!(args, r#"{"a":1}"#);
        assert!(matches!(
            out.last(),
            Some(StreamFrame::Done {
                finish_reason: FinishReason::ToolCalls,
                ..
            })
        ));
    }

    #[test]
    fn stream_exceptions_are_classified() {
        let bytes = frame(
            "exception",
            "throttlingException",
            r#"{"message":"slow down"}"#,
        );
        let mut d = BedrockStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(&bytes, &mut out);
        assert!(matches!(
            &out[0],
            StreamFrame::Error(e) if matches!(e.kind(), ErrorKind::RateLimited { .. })
        ));
    }

    proptest! {
        #[test]
        fn json_parsers_never_panic(s in ".{0,400}") {
            let _ = parse_response(s.as_bytes());
            let _ = parse_titan(s.as_bytes());
            let headers = http::HeaderMap::new();
            let _ = classify(&ErrorAnswer { status: 400, retry_after: None, headers: &headers, body: s.as_bytes() });
        }

        #[test]
        fn event_payload_garbage_never_panics(
            event in "(contentBlockStart|contentBlockDelta|messageStop|metadata|messageStart)",
            payload in r#"[\[\]{}",:a-zA-Z0-9]{0,80}"#,
        ) {
            let event: &'static str = Box::leak(event.into_boxed_str());
            let mut d = BedrockStreamDecoder::new();
            let mut out = Vec::new();
            d.feed(&frame("event", event, &payload), &mut out);
            d.finish(&mut out);
        }
    }
}
