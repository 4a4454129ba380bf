//! The work the providers do per request and per streamed chunk: building
//! vendor request bodies, parsing SSE and AWS event-stream frames, and
//! extracting usage; and our two framings against the maintained crates that
//! could replace them (`framing/*`).
//!
//! `cargo bench -p llm-providers --bench hot_paths` (add `-- --quick` for a
//! short run).

use std::hint::black_box;
use std::task::{Context, Poll, Waker};

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as EsMessage};
use aws_smithy_types::str_bytes::StrBytes;
use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use llm_providers::anthropic::{self, AnthropicStreamDecoder};
use llm_providers::bedrock::{self, BedrockStreamDecoder};
use llm_providers::openai::wire::{self as openai_wire, MaxTokensField, OpenAiStreamDecoder};
use llm_providers::transport::eventstream::{EventMessage, EventStreamDecoder};
use llm_providers::transport::http::FrameDecoder;
use llm_providers::transport::sse::SseParser;
use llm_providers::vertex;
use llm_providers::{ChatRequest, Message, Role, StreamFrame};

/// A tutoring conversation as the conversation service sends it: a system
/// prompt and ten turns of bounded history.
fn conversation() -> ChatRequest {
    let mut messages = vec![Message::new(
        Role::System,
        "You are a friendly English tutor for a B1 learner. Scenario: ordering at a restaurant. \
         Keep answers short, correct mistakes gently and ask one follow-up question.",
    )];
    for i in 0..10 {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        messages.push(Message::new(
            role,
            format!("Turn {i}: I would like to order the soup of the day and a glass of water, please. \"Thanks\"!"),
        ));
    }
    ChatRequest {
        messages,
        max_tokens: 512,
        temperature: Some(0.7),
        top_p: None,
        stop: vec![],
        ..Default::default()
    }
}

/// Words of a streamed answer.
fn pieces() -> Vec<String> {
    (0..60).map(|i| format!(" word{i}")).collect()
}

/// An OpenAI chat-completion SSE stream (with the usage chunk), as bytes.
fn openai_stream() -> Vec<u8> {
    let mut out = String::new();
    for p in pieces() {
        out.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{p}\"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    out.push_str("data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    out.push_str("data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":200,\"completion_tokens\":60,\"total_tokens\":260}}\n\n");
    out.push_str("data: [DONE]\n\n");
    out.into_bytes()
}

fn anthropic_stream() -> Vec<u8> {
    let mut out = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":200,\"output_tokens\":1}}}\n\n",
    );
    for p in pieces() {
        out.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{p}\"}}}}\n\n"
        ));
    }
    out.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":60}}\n\n");
    out.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    out.into_bytes()
}

fn es_frame(event: &'static str, payload: String) -> Vec<u8> {
    let message = EsMessage::new_from_parts(
        vec![
            Header::new(
                ":message-type",
                HeaderValue::String(StrBytes::from("event")),
            ),
            Header::new(":event-type", HeaderValue::String(StrBytes::from(event))),
            Header::new(
                ":content-type",
                HeaderValue::String(StrBytes::from("application/json")),
            ),
        ],
        Bytes::from(payload),
    );
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap_or_default();
    out
}

fn bedrock_stream() -> Vec<u8> {
    let mut out = es_frame("messageStart", r#"{"role":"assistant"}"#.into());
    for p in pieces() {
        out.extend(es_frame(
            "contentBlockDelta",
            format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"{p}"}}}}"#),
        ));
    }
    out.extend(es_frame(
        "messageStop",
        r#"{"stopReason":"end_turn"}"#.into(),
    ));
    out.extend(es_frame(
        "metadata",
        r#"{"usage":{"inputTokens":200,"outputTokens":60,"totalTokens":260},"metrics":{"latencyMs":900}}"#.into(),
    ));
    out
}

/// Feeds `bytes` in network-sized pieces; returns the frame count.
fn decode<D: FrameDecoder>(mut d: D, bytes: &[u8], chunk: usize) -> usize {
    let mut out: Vec<StreamFrame> = Vec::with_capacity(8);
    let mut n = 0;
    for c in bytes.chunks(chunk) {
        d.feed(c, &mut out);
        n += out.len();
        out.clear();
    }
    d.finish(&mut out);
    n + out.len()
}

fn request_building(c: &mut Criterion) {
    let req = conversation();
    let mut g = c.benchmark_group("request_body");
    g.throughput(Throughput::Elements(1));
    g.bench_function("openai", |b| {
        b.iter(|| {
            openai_wire::chat_body(
                Some("gpt-4o"),
                black_box(&req),
                true,
                MaxTokensField::MaxTokens,
            )
        })
    });
    g.bench_function("anthropic", |b| {
        b.iter(|| anthropic::request_body("claude-sonnet-4-5", black_box(&req), true))
    });
    g.bench_function("bedrock", |b| {
        b.iter(|| bedrock::request_body(black_box(&req)))
    });
    g.bench_function("vertex", |b| {
        b.iter(|| vertex::request_body(black_box(&req)))
    });
    g.finish();
}

fn stream_parsing(c: &mut Criterion) {
    let chunks = pieces().len() as u64 + 3;
    let openai = openai_stream();
    let anthropic = anthropic_stream();
    let bedrock = bedrock_stream();
    let mut g = c.benchmark_group("stream_decode");
    // Per stream of 60 text chunks; throughput in chunks.
    g.throughput(Throughput::Elements(chunks));
    g.bench_function("sse_lines_only", |b| {
        b.iter(|| {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            for c in black_box(&openai).chunks(512) {
                let _ = p.push(c, &mut out);
            }
            out.len()
        })
    });
    g.bench_function("openai_sse", |b| {
        b.iter(|| decode(OpenAiStreamDecoder::new(), black_box(&openai), 512))
    });
    g.bench_function("anthropic_sse", |b| {
        b.iter(|| decode(AnthropicStreamDecoder::new(), black_box(&anthropic), 512))
    });
    g.bench_function("bedrock_eventstream", |b| {
        b.iter(|| decode(BedrockStreamDecoder::new(), black_box(&bedrock), 512))
    });
    g.finish();
}

fn usage(c: &mut Criterion) {
    let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Sure! You said: I would like the soup of the day. Let's keep practising.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":200,"completion_tokens":18,"total_tokens":218}}"#;
    let converse = br#"{"output":{"message":{"role":"assistant","content":[{"text":"Sure! You said: I would like the soup of the day. Let's keep practising."}]}},"stopReason":"end_turn","usage":{"inputTokens":200,"outputTokens":18,"totalTokens":218},"metrics":{"latencyMs":700}}"#;
    let mut g = c.benchmark_group("usage");
    g.throughput(Throughput::Elements(1));
    g.bench_function("openai_unary_response", |b| {
        b.iter(|| openai_wire::parse_completion(black_box(body)).map(|r| r.usage))
    });
    g.bench_function("bedrock_unary_response", |b| {
        b.iter(|| bedrock::parse_response(black_box(converse)).map(|r| r.usage))
    });
    g.finish();
}

/// Our SSE parser and event-stream buffering against the maintained crates
/// that do the same work: `eventsource-stream` (an async `Stream` adapter,
/// polled here without a runtime since its input is always ready) and
/// `aws-smithy-eventstream`'s `MessageFrameDecoder` (buffering by the caller;
/// frames then decoded to the same [`EventMessage`] ours yields).
fn framing_alternatives(c: &mut Criterion) {
    let openai = openai_stream();
    let bedrock = bedrock_stream();
    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Elements(pieces().len() as u64 + 3));
    g.bench_function("sse/ours", |b| {
        b.iter(|| {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            for c in black_box(&openai).chunks(512) {
                let _ = p.push(c, &mut out);
            }
            out.len()
        })
    });
    g.bench_function("sse/eventsource_stream", |b| {
        b.iter(|| {
            let chunks = black_box(&openai)
                .chunks(512)
                .map(|c| Ok::<_, std::convert::Infallible>(Bytes::copy_from_slice(c)));
            let mut events = futures::stream::iter(chunks).eventsource();
            let mut cx = Context::from_waker(Waker::noop());
            let mut n = 0;
            while let Poll::Ready(Some(event)) = events.poll_next_unpin(&mut cx) {
                n += usize::from(event.is_ok());
            }
            n
        })
    });
    g.bench_function("eventstream/ours", |b| {
        b.iter(|| {
            let mut d = EventStreamDecoder::new();
            let mut out = Vec::new();
            for c in black_box(&bedrock).chunks(512) {
                let _ = d.push(c, &mut out);
            }
            out.len()
        })
    });
    g.bench_function("eventstream/message_frame_decoder", |b| {
        b.iter(|| {
            let mut d = MessageFrameDecoder::new();
            let mut buf = BytesMut::new();
            let mut out: Vec<EventMessage> = Vec::new();
            for c in black_box(&bedrock).chunks(512) {
                buf.extend_from_slice(c);
                while let Ok(DecodedFrame::Complete(m)) = d.decode_frame(&mut buf) {
                    out.push(EventMessage::from(&m));
                }
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    request_building,
    stream_parsing,
    usage,
    framing_alternatives
);
criterion_main!(benches);
