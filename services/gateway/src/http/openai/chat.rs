//! `POST /v1/chat/completions` → `LlmRouter.Complete` / `StreamComplete`.
//!
//! Streaming follows OpenAI: a first chunk with `delta.role`, content
//! deltas passed through one by one, a chunk with `finish_reason`, the usage
//! chunk (empty `choices`) when `stream_options.include_usage`, then
//! `data: [DONE]`. A failure before the answer starts is a plain HTTP error;
//! after it, `data: {"error": …}` ends the stream and no `[DONE]` follows, so
//! SDKs raise instead of returning a silently truncated answer.

use super::dto::*;
use super::tools::ToolCallChunk;
use super::{failed, unix_now};
use crate::auth::Principal;
use crate::backends::ROUTER;
use crate::errors::ApiError;
use crate::http::AppState;
use crate::http::extract::Json;
use crate::http::sse::{self, json_event};
use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use fluentedge_proto::router::v1 as pb;
use fluentedge_proto::router::v1::stream_complete_response::Frame;
use service_kit::ErrorCode;

/// A chat completion, streamed or not.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "The completion; with `stream: true` an event stream of `chat.completion.chunk` objects ending with `[DONE]`",
            content((ChatCompletion = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "OpenAI error shape"),
        (status = 429, description = "Rate limited, or the monthly budget is exhausted (`budget_exceeded`)"),
        (status = 503, description = "Every provider failed (the message names them)")),
    security(("bearer" = [])))]
pub(crate) async fn completions(
    State(state): State<AppState>,
    caller: Principal,
    Json(body): Json<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let request = body.to_proto(&caller.subject)?;
    if body.streaming() {
        return stream(state, request, body.include_usage()).await;
    }
    let reply = state
        .backends
        .router()
        .complete(state.backends.unary(request))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(ChatCompletion::from_proto(reply, unix_now())).into_response())
}

async fn stream(
    state: AppState,
    request: pb::CompleteRequest,
    include_usage: bool,
) -> Result<Response, ApiError> {
    let mut frames = state
        .backends
        .router()
        .stream_complete(state.backends.streaming(request))
        .await
        .map_err(failed)?
        .into_inner();
    // Hold the response until the answer starts: the router retries and
    // fails over until then, and a failure here is still an HTTP status.
    let mut start = None;
    let first = loop {
        match frames.message().await.map_err(failed)? {
            Some(pb::StreamCompleteResponse {
                frame: Some(Frame::Start(s)),
            }) => start = Some(s),
            Some(pb::StreamCompleteResponse {
                frame: Some(Frame::Error(e)),
            }) => {
                return Err(ApiError::from_stream_frame(
                    ROUTER,
                    e.grpc_code,
                    &e.reason,
                    &e.message,
                ));
            }
            Some(pb::StreamCompleteResponse { frame: Some(f) }) => break f,
            Some(_) => {}
            None => {
                return Err(ApiError::new(
                    ErrorCode::StreamInterrupted,
                    "the router ended the stream before the answer",
                ));
            }
        }
    };
    let start = start.unwrap_or_default();
    let chunks = Chunks {
        id: format!("chatcmpl-{}", start.call_id),
        model: start.model,
        created: unix_now(),
        include_usage,
    };
    let events = async_stream::stream! {
        yield chunks.delta(Delta { role: Some("assistant"), content: Some(""), tool_calls: None });
        let mut next = Some(first);
        loop {
            let frame = match next.take() {
                Some(f) => f,
                None => match frames.message().await {
                    Ok(Some(pb::StreamCompleteResponse { frame: Some(f) })) => f,
                    Ok(Some(_)) => continue,
                    // No terminal frame: the stream was cut. Say so.
                    Ok(None) => {
                        yield error_event(&ApiError::new(
                            ErrorCode::StreamInterrupted,
                            "the answer was cut off before it finished",
                        ));
                        return;
                    }
                    Err(status) => {
                        yield error_event(&failed(status));
                        return;
                    }
                },
            };
            match frame {
                Frame::Start(_) => {}
                Frame::Delta(d) if d.text.is_empty() => {}
                Frame::Delta(d) => yield chunks.delta(Delta { role: None, content: Some(&d.text), tool_calls: None }),
                Frame::End(end) => {
                    yield chunks.finish(finish_reason(end.finish_reason()));
                    if include_usage {
                        yield chunks.usage(UsageDto::from(end.usage.as_ref()));
                    }
                    yield Event::default().data("[DONE]");
                    return;
                }
                Frame::Error(e) => {
                    yield error_event(&ApiError::from_stream_frame(ROUTER, e.grpc_code, &e.reason, &e.message));
                    return;
                }
                Frame::ToolCall(d) => yield chunks.delta(Delta {
                    tool_calls: Some([ToolCallChunk::from(&d)]),
                    ..Delta::default()
                }),
            }
        }
    };
    Ok(sse::response(events))
}

/// What every chunk of one completion shares.
struct Chunks {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
}

impl Chunks {
    fn chunk(&self, choices: &[ChunkChoice<'_>], usage: Option<UsageDto>) -> Event {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            system_fingerprint: None,
            choices,
            usage: self.include_usage.then_some(usage),
        };
        json_event(None, &chunk)
    }

    fn delta(&self, delta: Delta<'_>) -> Event {
        self.chunk(
            &[ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: None,
            }],
            None,
        )
    }

    fn finish(&self, reason: &'static str) -> Event {
        self.chunk(
            &[ChunkChoice {
                index: 0,
                delta: Delta::default(),
                logprobs: None,
                finish_reason: Some(reason),
            }],
            None,
        )
    }

    fn usage(&self, usage: UsageDto) -> Event {
        self.chunk(&[], Some(usage))
    }
}

/// `data: {"error": {...}}` in OpenAI's shape: the SDKs raise it.
fn error_event(error: &ApiError) -> Event {
    json_event(None, &error.openai_body())
}
