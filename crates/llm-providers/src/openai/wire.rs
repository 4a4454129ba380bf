//! The OpenAI Chat Completions and Embeddings wire format, shared by the
//! OpenAI client (and every OpenAI-compatible server) and Azure OpenAI.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::tools::{WireMessage, WireToolCall, tool_choice_json, tools_json};
use crate::transport::http::{ErrorAnswer, FrameDecoder, parse_json};
use crate::transport::sse::{SseEvent, SseParser};
use crate::transport::trace::{self, StreamResponseId};
use crate::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ErrorKind, FinishReason, ProviderError,
    StreamFrame, TokenUsage, ToolCallDelta,
};

/// Which field bounds the output: OpenAI's current API wants
/// `max_completion_tokens` (reasoning models refuse `max_tokens`); Azure's GA
/// API versions and most OpenAI-compatible servers know only `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    MaxCompletionTokens,
    #[default]
    MaxTokens,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct ChatBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

/// The JSON body of a chat completion. `model` is `None` for Azure deployment
/// URLs (the deployment names the model). Streams ask for the usage chunk.
pub fn chat_body(
    model: Option<&str>,
    request: &ChatRequest,
    stream: bool,
    field: MaxTokensField,
) -> Vec<u8> {
    let body = ChatBody {
        model,
        messages: request.messages.iter().map(WireMessage::from).collect(),
        max_tokens: (field == MaxTokensField::MaxTokens).then_some(request.max_tokens),
        max_completion_tokens: (field == MaxTokensField::MaxCompletionTokens)
            .then_some(request.max_tokens),
        temperature: request.temperature,
        top_p: request.top_p,
        stop: &request.stop,
        seed: request.seed,
        presence_penalty: request.presence_penalty,
        frequency_penalty: request.frequency_penalty,
        user: request.user.as_deref(),
        tools: tools_json(&request.tools),
        tool_choice: request.tool_choice.as_ref().map(tool_choice_json),
        parallel_tool_calls: request.parallel_tool_calls,
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    };
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<WireUsage> for TokenUsage {
    fn from(u: WireUsage) -> Self {
        TokenUsage::new(u.prompt_tokens, u.completion_tokens)
    }
}

#[derive(Deserialize)]
struct Completion {
    id: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: ChoiceMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct ChoiceMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// A unary chat completion response.
pub fn parse_completion(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let c: Completion = parse_json(body, "chat completion")?;
    trace::response_id(c.id.as_deref());
    let choice = c
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ProviderError::malformed("chat completion without choices"))?;
    let mut finish = choice
        .finish_reason
        .as_deref()
        .map_or(FinishReason::Stop, finish_reason);
    if !choice.message.tool_calls.is_empty() {
        finish = FinishReason::ToolCalls;
    }
    Ok(ChatResponse {
        content: choice.message.content.unwrap_or_default(),
        tool_calls: choice
            .message
            .tool_calls
            .into_iter()
            .map(Into::into)
            .collect(),
        finish_reason: finish,
        usage: c.usage.map(TokenUsage::from).unwrap_or_default(),
    })
}

#[derive(Deserialize, Default)]
pub(crate) struct ApiError {
    #[serde(default)]
    message: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    innererror: Option<InnerError>,
}

#[derive(Deserialize, Default)]
struct InnerError {
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ApiError,
}

/// Classifies an OpenAI/Azure error. `status` is `None` for an error that
/// arrives inside a stream.
pub(crate) fn classify_api_error(
    status: Option<u16>,
    retry_after: Option<Duration>,
    err: &ApiError,
) -> ProviderError {
    let code = match &err.code {
        Some(serde_json::Value::String(s)) => s.as_str(),
        _ => "",
    };
    let inner = err
        .innererror
        .as_ref()
        .and_then(|i| i.code.as_deref())
        .unwrap_or("");
    let shown = status.unwrap_or(200);
    let kind = if code == "content_filter" || inner == "ResponsibleAIPolicyViolation" {
        ErrorKind::ContentFiltered
    } else if code == "context_length_exceeded" || err.message.contains("maximum context length") {
        ErrorKind::ContextTooLong
    } else if code == "insufficient_quota" {
        return ProviderError::new(
            ErrorKind::Authentication,
            format!("HTTP {shown}: insufficient_quota (the account's quota is exhausted)"),
        );
    } else if let Some(s) = status {
        ErrorKind::from_status(s, retry_after)
    } else {
        match (err.kind.as_deref(), code) {
            (_, "rate_limit_exceeded") | (Some("requests" | "tokens"), _) => {
                ErrorKind::RateLimited { retry_after }
            }
            (Some("invalid_request_error"), _) => ErrorKind::BadRequest,
            _ => ErrorKind::ServerError(500),
        }
    };
    match status {
        Some(s) => ProviderError::http(kind, s, &err.message),
        None => ProviderError::new(kind, format!("error mid-stream: {}", err.message)),
    }
}

/// [`crate::transport::http::Classify`] for OpenAI and Azure.
pub fn classify(answer: &ErrorAnswer<'_>) -> ProviderError {
    classify_body(answer.status, answer.retry_after, answer.body)
}

pub fn classify_body(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ProviderError {
    let err = serde_json::from_slice::<ErrorEnvelope>(body)
        .map(|e| e.error)
        .unwrap_or_default();
    classify_api_error(Some(status), retry_after, &err)
}

#[derive(Deserialize)]
struct Chunk {
    id: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<WireUsage>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallChunk>,
}

#[derive(Deserialize)]
struct ToolCallChunk {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    #[serde(default)]
    function: FunctionChunk,
}

#[derive(Deserialize, Default)]
struct FunctionChunk {
    name: Option<String>,
    #[serde(default)]
    arguments: String,
}

/// Chat-completion chunks over SSE, ending with `data: [DONE]`.
#[derive(Default)]
pub struct OpenAiStreamDecoder {
    sse: SseParser,
    events: Vec<SseEvent>,
    finish: Option<FinishReason>,
    usage: Option<TokenUsage>,
    response_id: StreamResponseId,
    done: bool,
}

impl OpenAiStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn done_frame(&self) -> StreamFrame {
        StreamFrame::Done {
            finish_reason: self.finish.unwrap_or(FinishReason::Stop),
            usage: self.usage.unwrap_or_default(),
        }
    }

    fn event(&mut self, data: &str, out: &mut Vec<StreamFrame>) {
        if data.trim() == "[DONE]" {
            out.push(self.done_frame());
            self.done = true;
            return;
        }
        let chunk: Chunk = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(e) => {
                out.push(StreamFrame::Error(ProviderError::malformed(format!(
                    "stream chunk: {e}"
                ))));
                self.done = true;
                return;
            }
        };
        self.response_id.see(chunk.id.as_deref());
        if let Some(err) = chunk.error {
            out.push(StreamFrame::Error(classify_api_error(None, None, &err)));
            self.done = true;
            return;
        }
        // Only the first choice is relayed: we never ask for n > 1.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                out.push(StreamFrame::Text(text));
            }
            for call in choice.delta.tool_calls {
                out.push(StreamFrame::ToolCall(ToolCallDelta {
                    index: call.index,
                    id: call.id,
                    name: call.function.name,
                    arguments: call.function.arguments,
                }));
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_reason(&reason));
            }
        }
        if let Some(usage) = chunk.usage {
            let usage = TokenUsage::from(usage);
            self.usage = Some(usage);
            out.push(StreamFrame::Usage(usage));
        }
    }
}

impl FrameDecoder for OpenAiStreamDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamFrame>) {
        if self.done {
            return;
        }
        if let Err(e) = self.sse.push(chunk, &mut self.events) {
            out.push(StreamFrame::Error(ProviderError::malformed(e)));
            self.done = true;
            return;
        }
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            if self.done {
                break;
            }
            self.event(&ev.data, out);
        }
        self.events = events;
        self.events.clear();
    }

    fn finish(&mut self, out: &mut Vec<StreamFrame>) {
        // Some OpenAI-compatible servers end without `[DONE]`; a finish reason
        // already seen means the answer is whole.
        if !self.done && self.finish.is_some() {
            out.push(self.done_frame());
            self.done = true;
        }
    }
}

#[derive(Serialize)]
struct EmbedBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    encoding_format: &'static str,
}

pub fn embed_body(model: Option<&str>, request: &EmbedRequest) -> Vec<u8> {
    serde_json::to_vec(&EmbedBody {
        model,
        input: &request.inputs,
        dimensions: request.dimensions,
        encoding_format: "float",
    })
    .unwrap_or_default()
}

#[derive(Deserialize)]
struct Embeddings {
    data: Vec<EmbeddingItem>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

/// An embeddings response, vectors put back in input order.
pub fn parse_embeddings(body: &[u8], inputs: usize) -> Result<EmbedResponse, ProviderError> {
    let e: Embeddings = parse_json(body, "embeddings")?;
    if e.data.len() != inputs {
        return Err(ProviderError::malformed(format!(
            "{} embeddings for {inputs} inputs",
            e.data.len()
        )));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; inputs];
    for item in e.data {
        match slots.get_mut(item.index) {
            Some(slot @ None) => *slot = Some(item.embedding),
            _ => return Err(ProviderError::malformed("embedding index out of range")),
        }
    }
    let embeddings = slots.into_iter().flatten().collect();
    Ok(EmbedResponse {
        embeddings,
        usage: TokenUsage::new(e.usage.prompt_tokens, 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, Role};
    use proptest::prelude::*;

    fn request() -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message::new(Role::System, "Be kind."),
                Message::new(Role::User, "Hi"),
            ],
            max_tokens: 50,
            temperature: Some(0.5),
            top_p: None,
            stop: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn builds_the_documented_body() {
        let v: serde_json::Value = serde_json::from_slice(&chat_body(
            Some("gpt-4o"),
            &request(),
            true,
            MaxTokensField::MaxCompletionTokens,
        ))
        .unwrap();
        assert_eq!(v["model"], "gpt-4o");
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["max_completion_tokens"], 50);
        assert!(v.get("max_tokens").is_none());
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert!(v.get("stop").is_none() && v.get("top_p").is_none());
    }

    #[test]
    fn streams_text_usage_and_done() {
        let mut d = OpenAiStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n", &mut out);
        d.feed(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n", &mut out);
        assert!(matches!(&out[0], StreamFrame::Text(t) if t == "Hi"));
        assert!(matches!(
            out.last(),
            Some(StreamFrame::Done { finish_reason: FinishReason::Length, usage }) if *usage == TokenUsage::new(3, 1)
        ));
    }

    #[test]
    fn classifies_documented_errors() {
        let cf = br#"{"error":{"message":"filtered","code":"content_filter","status":400}}"#;
        assert_eq!(
            *classify_body(400, None, cf).kind(),
            ErrorKind::ContentFiltered
        );
        let cl = br#"{"error":{"message":"too long","code":"context_length_exceeded"}}"#;
        assert_eq!(
            *classify_body(400, None, cl).kind(),
            ErrorKind::ContextTooLong
        );
        assert_eq!(
            *classify_body(500, None, b"not json").kind(),
            ErrorKind::ServerError(500)
        );
    }

    proptest! {
        #[test]
        fn json_parsers_never_panic(s in ".{0,400}") {
            let _ = parse_completion(s.as_bytes());
            let _ = parse_embeddings(s.as_bytes(), 2);
            let _ = classify_body(400, None, s.as_bytes());
            let mut d = OpenAiStreamDecoder::new();
            let mut out = Vec::new();
            d.feed(format!("data: {s}\n\n").as_bytes(), &mut out);
            d.finish(&mut out);
        }

        #[test]
        fn json_shaped_garbage_never_panics(s in r#"\{"(choices|usage|error|data)":(\[|\{|null|1|"x")[\[\]{}",:a-z0-9]{0,60}"#) {
            let _ = parse_completion(s.as_bytes());
            let _ = parse_embeddings(s.as_bytes(), 1);
            let mut d = OpenAiStreamDecoder::new();
            let mut out = Vec::new();
            d.feed(format!("data: {s}\n\n").as_bytes(), &mut out);
        }
    }
}
