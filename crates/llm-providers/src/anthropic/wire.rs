//! The Anthropic Messages wire format: request bodies, responses, errors and
//! the SSE events of a streamed message.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::tools::{Turn, tool_choice_json, tools_json, turns};
use crate::tools::ToolBlocks;
use crate::transport::http::{ErrorAnswer, FrameDecoder, parse_json};
use crate::transport::sse::{SseEvent, SseParser};
use crate::{
    ChatRequest, ChatResponse, ErrorKind, FinishReason, ProviderError, StreamFrame, TokenUsage,
    ToolCall, ToolCallDelta,
};

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Turn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

/// Where the Messages API takes the end user.
#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

/// The Messages API body: system messages become the top-level `system`,
/// consecutive same-role turns are merged (the API wants them alternating),
/// tool results travel in user turns. Call arguments that are no JSON object
/// are refused before (`check_call_arguments`).
pub fn request_body(model: &str, request: &ChatRequest, stream: bool) -> Vec<u8> {
    let body = Body {
        model,
        max_tokens: request.max_tokens,
        system: request.system_prompt(),
        messages: turns(request),
        // Anthropic accepts 0..=1: higher ones never reach it (chat_support).
        temperature: request.temperature,
        top_p: request.top_p,
        stop_sequences: &request.stop,
        metadata: request.user.as_deref().map(|user_id| Metadata { user_id }),
        tools: tools_json(&request.tools),
        tool_choice: tool_choice_json(request),
        stream,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Cached prompt tokens are input tokens too (billed at their own rate,
    /// which the price table does not distinguish).
    fn input(&self) -> Option<u64> {
        let parts = [
            self.input_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_input_tokens,
        ];
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum())
    }
}

#[derive(Deserialize)]
struct MessageResponse {
    #[serde(default)]
    content: Vec<Block>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// A `tool_use` block's arguments.
    #[serde(default)]
    input: Option<serde_json::Value>,
}

impl Block {
    fn tool_call(&self) -> Option<ToolCall> {
        (self.kind == "tool_use").then(|| ToolCall {
            id: self.id.clone().unwrap_or_default(),
            name: self.name.clone().unwrap_or_default(),
            arguments: self
                .input
                .as_ref()
                .map_or_else(|| "{}".to_owned(), ToString::to_string),
        })
    }
}

pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

pub fn parse_response(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let m: MessageResponse = parse_json(body, "message")?;
    let content = m
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect::<String>();
    let tool_calls: Vec<ToolCall> = m.content.iter().filter_map(Block::tool_call).collect();
    let mut finish = m
        .stop_reason
        .as_deref()
        .map_or(FinishReason::Stop, finish_reason);
    if !tool_calls.is_empty() {
        finish = FinishReason::ToolCalls;
    }
    Ok(ChatResponse {
        content,
        finish_reason: finish,
        usage: TokenUsage::new(
            m.usage.input().unwrap_or(0),
            m.usage.output_tokens.unwrap_or(0),
        ),
        tool_calls,
    })
}

#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ApiError,
}

fn classify_error(
    status: Option<u16>,
    retry_after: Option<Duration>,
    e: &ApiError,
) -> ProviderError {
    let kind = match e.kind.as_str() {
        "overloaded_error" => ErrorKind::Overloaded,
        "rate_limit_error" => ErrorKind::RateLimited { retry_after },
        "authentication_error" | "permission_error" => ErrorKind::Authentication,
        "request_too_large" => ErrorKind::ContextTooLong,
        "invalid_request_error" if e.message.contains("prompt is too long") => {
            ErrorKind::ContextTooLong
        }
        "invalid_request_error" | "not_found_error" => ErrorKind::BadRequest,
        "api_error" => ErrorKind::ServerError(status.unwrap_or(500)),
        _ => status.map_or(ErrorKind::ServerError(500), |s| {
            ErrorKind::from_status(s, retry_after)
        }),
    };
    match status {
        Some(s) => ProviderError::http(kind, s, &e.message),
        None => ProviderError::new(kind, format!("error mid-stream: {}", e.message)),
    }
}

/// [`crate::transport::http::Classify`] for Anthropic.
pub fn classify(answer: &ErrorAnswer<'_>) -> ProviderError {
    classify_body(answer.status, answer.retry_after, answer.body)
}

pub fn classify_body(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ProviderError {
    let e = serde_json::from_slice::<ErrorEnvelope>(body)
        .map(|e| e.error)
        .unwrap_or_default();
    classify_error(Some(status), retry_after, &e)
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        #[serde(default)]
        index: u32,
        content_block: Block,
    },
    ContentBlockDelta {
        #[serde(default)]
        index: u32,
        delta: BlockDelta,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop,
    Error {
        error: ApiError,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct MessageDeltaBody {
    stop_reason: Option<String>,
}

/// The Messages SSE stream.
#[derive(Default)]
pub struct AnthropicStreamDecoder {
    sse: SseParser,
    events: Vec<SseEvent>,
    usage: TokenUsage,
    finish: Option<FinishReason>,
    tool_blocks: ToolBlocks,
    done: bool,
}

impl AnthropicStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn fail(&mut self, out: &mut Vec<StreamFrame>, e: ProviderError) {
        out.push(StreamFrame::Error(e));
        self.done = true;
    }

    fn absorb(&mut self, u: &WireUsage, out: &mut Vec<StreamFrame>) {
        if let Some(input) = u.input() {
            self.usage.input_tokens = self.usage.input_tokens.max(input);
        }
        if let Some(output) = u.output_tokens {
            self.usage.output_tokens = self.usage.output_tokens.max(output);
        }
        out.push(StreamFrame::Usage(self.usage));
    }

    fn event(&mut self, data: &str, out: &mut Vec<StreamFrame>) {
        let event: Event = match serde_json::from_str(data) {
            Ok(e) => e,
            Err(e) => return self.fail(out, ProviderError::malformed(format!("event: {e}"))),
        };
        match event {
            Event::MessageStart { message } => self.absorb(&message.usage, out),
            Event::ContentBlockStart {
                index,
                content_block,
            } if content_block.kind == "tool_use" => {
                out.push(StreamFrame::ToolCall(ToolCallDelta {
                    index: self.tool_blocks.start(index),
                    id: content_block.id,
                    name: content_block.name,
                    arguments: String::new(),
                }));
            }
            Event::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => {
                    out.push(StreamFrame::Text(text));
                }
                BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    let Some(call) = self.tool_blocks.call(index) else {
                        return self.fail(
                            out,
                            ProviderError::malformed(format!(
                                "input_json_delta for block {index}, which is no tool_use block"
                            )),
                        );
                    };
                    out.push(StreamFrame::ToolCall(ToolCallDelta {
                        index: call,
                        id: None,
                        name: None,
                        arguments: partial_json,
                    }));
                }
                _ => {}
            },
            Event::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.finish = Some(finish_reason(&reason));
                }
                self.absorb(&usage, out);
            }
            Event::MessageStop => {
                out.push(StreamFrame::Done {
                    finish_reason: self.finish.unwrap_or(FinishReason::Stop),
                    usage: self.usage,
                });
                self.done = true;
            }
            Event::Error { error } => self.fail(out, classify_error(None, None, &error)),
            Event::ContentBlockStart { .. } | Event::Other => {}
        }
    }
}

impl FrameDecoder for AnthropicStreamDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamFrame>) {
        if self.done {
            return;
        }
        if let Err(e) = self.sse.push(chunk, &mut self.events) {
            return self.fail(out, ProviderError::malformed(e));
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

    fn finish(&mut self, _out: &mut Vec<StreamFrame>) {
        // No `message_stop`: the driver reports the stream as cut.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, Role};
    use proptest::prelude::*;

    #[test]
    fn system_prompt_is_top_level_and_turns_alternate() {
        let req = ChatRequest {
            messages: vec![
                Message::new(Role::System, "Tutor."),
                Message::new(Role::User, "a"),
                Message::new(Role::User, "b"),
                Message::new(Role::Assistant, "c"),
            ],
            max_tokens: 10,
            temperature: Some(0.9),
            top_p: None,
            stop: vec!["END".into()],
            ..Default::default()
        };
        let v: serde_json::Value =
            serde_json::from_slice(&request_body("claude", &req, true)).unwrap();
        assert_eq!(v["system"], "Tutor.");
        assert_eq!(v["messages"].as_array().unwrap().len(), 2);
        assert_eq!(v["messages"][0]["content"], "a\n\nb");
        assert!((v["temperature"].as_f64().unwrap() - 0.9).abs() < 1e-6);
        assert_eq!(v["stop_sequences"][0], "END");
        assert_eq!(v["max_tokens"], 10);
    }

    #[test]
    fn stream_usage_accumulates_to_done() {
        let mut d = AnthropicStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n", &mut out);
        d.feed(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n", &mut out);
        d.feed(b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":4}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", &mut out);
        assert!(matches!(
            out.last(),
            Some(StreamFrame::Done { finish_reason: FinishReason::Length, usage }) if *usage == TokenUsage::new(9, 4)
        ));
    }

    #[test]
    fn tool_use_after_text_streams_as_openai_call_index_zero() {
        let mut d = AnthropicStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(b"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n", &mut out);
        d.feed(b"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me see.\"}}\n\n", &mut out);
        d.feed(b"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n", &mut out);
        d.feed(b"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n", &mut out);
        d.feed(b"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}}\n\n", &mut out);
        d.feed(b"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":4}}\n\ndata: {\"type\":\"message_stop\"}\n\n", &mut out);
        let calls: Vec<&ToolCallDelta> = out
            .iter()
            .filter_map(|f| match f {
                StreamFrame::ToolCall(d) => Some(d),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls.len(),
            2,
            "the empty fragment is not passed on: {calls:?}"
        );
        assert_eq!(calls[0].index, 0);
        assert_eq!(calls[0].id.as_deref(), Some("toolu_1"));
        assert_eq!(calls[0].name.as_deref(), Some("f"));
        assert_eq!(calls[0].arguments, "");
        assert_eq!(
            (calls[1].index, calls[1].arguments.as_str()),
            (0, "{\"a\":1}")
        );
        assert!(matches!(
            out.last(),
            Some(StreamFrame::Done {
                finish_reason: FinishReason::ToolCalls,
                ..
            })
        ));
    }

    #[test]
    fn unary_tool_use_blocks_are_calls() {
        let r = parse_response(br#"{"content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"toolu_9","name":"f","input":{"a":[1]}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":2}}"#).unwrap();
        assert_eq!(r.content, "ok");
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            r.tool_calls,
            vec![ToolCall {
                id: "toolu_9".into(),
                name: "f".into(),
                arguments: r#"{"a":[1]}"#.into()
            }]
        );
    }

    #[test]
    fn overloaded_mid_stream_is_classified() {
        let mut d = AnthropicStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", &mut out);
        assert!(matches!(&out[0], StreamFrame::Error(e) if *e.kind() == ErrorKind::Overloaded));
    }

    proptest! {
        #[test]
        fn json_parsers_never_panic(s in ".{0,400}") {
            let _ = parse_response(s.as_bytes());
            let _ = classify_body(400, None, s.as_bytes());
            let mut d = AnthropicStreamDecoder::new();
            let mut out = Vec::new();
            d.feed(format!("data: {s}\n\n").as_bytes(), &mut out);
        }

        #[test]
        fn event_shaped_garbage_never_panics(
            t in "(message_start|content_block_start|content_block_delta|message_delta|message_stop|error|ping)",
            rest in r#"[\[\]{}",:a-z0-9_]{0,80}"#,
        ) {
            let mut d = AnthropicStreamDecoder::new();
            let mut out = Vec::new();
            d.feed(format!("data: {{\"type\":\"{t}\",{rest}\n\n").as_bytes(), &mut out);
            let _ = parse_response(format!("{{\"content\":{rest}").as_bytes());
        }
    }
}
