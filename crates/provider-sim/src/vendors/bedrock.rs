//! AWS Bedrock Runtime: Converse, ConverseStream (AWS event-stream) and InvokeModel for Titan
//! text embeddings. Requests must carry a structurally valid SigV4 `Authorization` header.

use std::time::Instant;

use axum::extract::Path;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::bedrock_tools;
use super::eventstream;
use super::tool_model::{self, Reply, ToolTurn, argument_pieces};
use crate::app::Ctx;
use crate::respond::{self, EVENT_STREAM, StreamPlan};
use crate::text::{self, Chat, Finish, Outcome};

/// The exception name (`x-amzn-ErrorType`) for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        400 => "ValidationException",
        401 | 403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

/// The in-stream exception event name for an HTTP status.
fn stream_exception_type(status: u16) -> &'static str {
    match status {
        400 => "validationException",
        429 => "throttlingException",
        503 => "serviceUnavailableException",
        424 => "modelStreamErrorException",
        _ => "internalServerException",
    }
}

fn typed_error(status: u16, error_type: &str, message: &str) -> Response {
    let resp = respond::json(status, &json!({ "message": message }));
    respond::with_header(resp, "x-amzn-errortype", error_type)
}

/// `{"message": …}` with `x-amzn-ErrorType`.
pub(crate) fn error(status: u16, message: &str) -> Response {
    typed_error(status, error_type(status), message)
}

fn validation(message: &str) -> Response {
    error(400, message)
}

/// Check the SigV4 header's structure (the secret is unknown, so the signature is not verified).
fn check_auth(ctx: &Ctx) -> Option<Response> {
    if !ctx.require_auth() {
        return None;
    }
    let Some(auth) = ctx.header("authorization") else {
        return Some(typed_error(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let unrecognized = |why: &str| {
        Some(typed_error(
            403,
            "UnrecognizedClientException",
            &format!("The security token included in the request is invalid. ({why})"),
        ))
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return unrecognized("Authorization must use AWS4-HMAC-SHA256");
    };
    let field = |name: &str| {
        rest.split(',')
            .map(str::trim)
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
    };
    let scope: Vec<&str> = field("Credential").unwrap_or_default().split('/').collect();
    let scope_ok = matches!(scope.as_slice(),
        [key, date, region, "bedrock", "aws4_request"]
            if !key.is_empty() && date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) && !region.is_empty());
    if !scope_ok {
        return unrecognized("Credential must be KEY/YYYYMMDD/REGION/bedrock/aws4_request");
    }
    let signed = field("SignedHeaders").unwrap_or_default();
    if !signed.split(';').any(|h| h == "host") {
        return unrecognized("SignedHeaders must include host");
    }
    let signature = field("Signature").unwrap_or_default();
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return unrecognized("Signature must be 64 hex digits");
    }
    let date = ctx.header("x-amz-date").unwrap_or_default();
    if date.len() != 16 || !date.ends_with('Z') || date.as_bytes().get(8) != Some(&b'T') {
        return Some(typed_error(
            403,
            "IncompleteSignatureException",
            "x-amz-date header is missing or not in YYYYMMDDTHHMMSSZ form",
        ));
    }
    None
}

/// The request as the simulator needs it, with its tool turn and whether the
/// model chose its calls freely.
fn parse(ctx: &Ctx, model_id: &str, body: &[u8]) -> Result<(Chat, ToolTurn, bool), Box<Response>> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Box::new(validation(&format!("Malformed input request: {e}"))))?;
    let Some(messages) = v.get("messages").and_then(Value::as_array) else {
        return Err(Box::new(validation(
            "1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null",
        )));
    };
    let mut chat = Chat {
        model: model_id.to_owned(),
        system: v.get("system").map(text::text_of).unwrap_or_default(),
        max_tokens: v
            .pointer("/inferenceConfig/maxTokens")
            .and_then(Value::as_u64),
        ..Chat::default()
    };
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(Box::new(validation(
                "Member 'role' must be one of [user, assistant]",
            )));
        }
        let content = m.get("content").map(text::text_of).unwrap_or_default();
        chat.messages.push((role.to_owned(), content));
    }
    // Ids only for responses that call tools: other answers keep their numbering.
    let mut base = None;
    let (turn, free) = bedrock_tools::turn(&v, messages, chat.last_user(), |i| {
        let base = *base.get_or_insert_with(|| ctx.next_id());
        format!("tooluse_sim{base:08}_{i}")
    })
    .map_err(|e| Box::new(validation(&e)))?;
    Ok((chat, turn, free))
}

/// A block as the unary answer carries it.
fn block(reply: &Reply) -> Value {
    match reply {
        Reply::Text(words) => json!({ "text": text::join(words) }),
        Reply::ToolUse(c) => json!({ "toolUse": {
            "toolUseId": c.id, "name": c.name,
            "input": serde_json::from_str::<Value>(&c.arguments).unwrap_or_default(),
        }}),
    }
}

/// A block as streamed: a `toolUse` block opens with `contentBlockStart`
/// (text blocks have none), then its deltas, then `contentBlockStop`.
fn events(reply: &Reply, index: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    let deltas: Vec<Value> = match reply {
        Reply::Text(words) => text::pieces(words)
            .into_iter()
            .map(|piece| json!({ "text": piece }))
            .collect(),
        Reply::ToolUse(c) => {
            out.push(eventstream::event(
                "contentBlockStart",
                &json!({
                    "contentBlockIndex": index,
                    "start": { "toolUse": { "toolUseId": c.id, "name": c.name } }
                }),
            ));
            argument_pieces(&c.arguments)
                .into_iter()
                .map(|piece| json!({ "toolUse": { "input": piece } }))
                .collect()
        }
    };
    out.extend(deltas.into_iter().map(|delta| {
        eventstream::event(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": index, "delta": delta }),
        )
    }));
    out
}

fn block_stop(index: usize) -> Bytes {
    eventstream::event("contentBlockStop", &json!({ "contentBlockIndex": index }))
}

fn stop_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ContentFilter => "content_filtered",
    }
}

/// POST /model/{modelId}/converse.
pub(crate) async fn converse(ctx: Ctx, Path(model_id): Path<String>, body: Bytes) -> Response {
    handle(&ctx, &model_id, &body, false)
}

/// POST /model/{modelId}/converse-stream.
pub(crate) async fn converse_stream(
    ctx: Ctx,
    Path(model_id): Path<String>,
    body: Bytes,
) -> Response {
    handle(&ctx, &model_id, &body, true)
}

fn handle(ctx: &Ctx, model_id: &str, body: &[u8], stream: bool) -> Response {
    let started = Instant::now();
    if let Some(resp) = check_auth(ctx) {
        return resp;
    }
    let (mut chat, turn, free) = match parse(ctx, model_id, body) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    chat.stream = stream;
    let request_id = format!("00000000-0000-4000-8000-{:012}", ctx.next_id());
    let resp = answer(ctx, &chat, turn, free, started);
    respond::with_header(resp, "x-amzn-requestid", &request_id)
}

fn answer(ctx: &Ctx, chat: &Chat, turn: ToolTurn, free: bool, started: Instant) -> Response {
    if let Some(status) = ctx.fault.upfront_error(chat.stream) {
        return crate::Vendor::Bedrock.fault_error(status);
    }
    let (words, finish) = match chat.outcome() {
        Outcome::ContextLength => return validation("Input is too long for requested model."),
        Outcome::Reply { words, finish } => (words, finish),
    };
    let (replies, finish) = tool_model::replies(turn, words, finish, free);
    let stop_reason = finish.map_or("tool_use", stop_reason);
    let input = chat.input_tokens();
    let output: u64 = replies.iter().map(Reply::output_tokens).sum();
    let usage =
        json!({ "inputTokens": input, "outputTokens": output, "totalTokens": input + output });
    let latency_ms = u64::try_from(started.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    if !chat.stream {
        let content: Vec<Value> = replies.iter().map(block).collect();
        return respond::unary(
            &ctx.fault,
            &json!({
                "output": { "message": { "role": "assistant", "content": content } },
                "stopReason": stop_reason,
                "usage": usage,
                "metrics": { "latencyMs": latency_ms },
            }),
        );
    }
    let mut plan = StreamPlan::new(EVENT_STREAM);
    plan.head.push(eventstream::event(
        "messageStart",
        &json!({ "role": "assistant" }),
    ));
    for (index, reply) in replies.iter().enumerate() {
        if index > 0 {
            plan.chunks.push(block_stop(index - 1));
        }
        plan.chunks.extend(events(reply, index));
    }
    if !replies.is_empty() {
        plan.tail.push(block_stop(replies.len() - 1));
    }
    plan.tail.push(eventstream::event(
        "messageStop",
        &json!({ "stopReason": stop_reason }),
    ));
    plan.tail.push(eventstream::event(
        "metadata",
        &json!({
            "usage": usage, "metrics": { "latencyMs": latency_ms }
        }),
    ));
    if let Some(status) = ctx.fault.error_status() {
        plan.mid_error = Some(eventstream::exception(
            stream_exception_type(status),
            &json!({ "message": crate::Vendor::Bedrock.fault_message(status) }),
        ));
    }
    plan.garbage = eventstream::corrupt(
        "contentBlockDelta",
        &json!({
            "contentBlockIndex": 0, "delta": { "text": "garbage" }
        }),
    );
    plan.into_response(&ctx.fault, ctx.chunk_delay())
}

/// POST /model/{modelId}/invoke — Titan text embeddings (`{"inputText", "dimensions"}`).
pub(crate) async fn invoke(ctx: Ctx, Path(model_id): Path<String>, body: Bytes) -> Response {
    if let Some(resp) = check_auth(&ctx) {
        return resp;
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return validation(&format!("Malformed input request: {e}")),
    };
    let Some(input) = v.get("inputText").and_then(Value::as_str) else {
        return validation(&format!(
            "Malformed input request: #: required key [inputText] not found (model {model_id})"
        ));
    };
    let dims = match v.get("dimensions").map(Value::as_u64) {
        None => ctx.state.config.embedding_dims,
        Some(Some(d)) if (1..=8192).contains(&d) => d as usize,
        Some(_) => {
            return validation(
                "Malformed input request: #/dimensions: expected a positive integer",
            );
        }
    };
    if let Some(status) = ctx.fault.upfront_error(false) {
        return crate::Vendor::Bedrock.fault_error(status);
    }
    respond::unary(
        &ctx.fault,
        &json!({
            "embedding": text::embedding(input, dims),
            "inputTextTokenCount": text::approx_tokens(input),
        }),
    )
}
