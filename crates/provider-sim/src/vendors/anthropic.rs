//! Anthropic Messages API: `POST /v1/messages`, unary and SSE streaming.

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::anthropic_tools;
use super::tool_model::{self, Reply, ToolTurn, argument_pieces};
use crate::app::Ctx;
use crate::respond::{self, SSE, StreamPlan};
use crate::text::{self, Chat, Finish, Outcome};

/// The documented `error.type` for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

fn error_body(status: u16, message: &str) -> Value {
    json!({ "type": "error", "error": { "type": error_type(status), "message": message } })
}

/// `{"type":"error","error":{"type","message"}}`.
pub(crate) fn error(status: u16, message: &str) -> Response {
    respond::json(status, &error_body(status, message))
}

fn invalid(message: &str) -> Response {
    error(400, message)
}

/// The request as the simulator needs it, with its tool turn and whether the
/// model chose its calls freely.
fn parse(ctx: &Ctx, body: &[u8]) -> Result<(Chat, ToolTurn, bool), Box<Response>> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Box::new(invalid(&format!("Invalid JSON in request body: {e}"))))?;
    let Some(obj) = v.as_object() else {
        return Err(Box::new(invalid("Request body must be a JSON object.")));
    };
    let Some(model) = obj.get("model").and_then(Value::as_str) else {
        return Err(Box::new(invalid("model: Field required")));
    };
    let Some(max_tokens) = obj.get("max_tokens").and_then(Value::as_u64) else {
        return Err(Box::new(invalid("max_tokens: Field required")));
    };
    let Some(messages) = obj.get("messages").and_then(Value::as_array) else {
        return Err(Box::new(invalid("messages: Field required")));
    };
    let mut chat = Chat {
        model: model.to_owned(),
        system: obj.get("system").map(text::text_of).unwrap_or_default(),
        max_tokens: Some(max_tokens),
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
        ..Chat::default()
    };
    for m in messages {
        let Some(role) = m.get("role").and_then(Value::as_str) else {
            return Err(Box::new(invalid("messages: each message needs a `role`")));
        };
        if role != "user" && role != "assistant" {
            return Err(Box::new(invalid(&format!(
                "messages: Unexpected role \"{role}\". Allowed roles are \"user\" or \"assistant\"."
            ))));
        }
        let content = m.get("content").map(text::text_of).unwrap_or_default();
        chat.messages.push((role.to_owned(), content));
    }
    // Ids only for responses that call tools: other answers keep their numbering.
    let mut base = None;
    let (turn, free) = anthropic_tools::turn(obj, messages, chat.last_user(), |i| {
        let base = *base.get_or_insert_with(|| ctx.next_id());
        format!("toolu_sim{base:08}_{i}")
    })
    .map_err(|e| Box::new(invalid(&e)))?;
    Ok((chat, turn, free))
}

/// A block as the unary answer carries it.
fn block(reply: &Reply) -> Value {
    match reply {
        Reply::Text(words) => json!({ "type": "text", "text": text::join(words) }),
        Reply::ToolUse(c) => json!({
            "type": "tool_use", "id": c.id, "name": c.name,
            "input": serde_json::from_str::<Value>(&c.arguments).unwrap_or_default(),
        }),
    }
}

/// `content_block_start` as streamed: the block without its content.
fn start(reply: &Reply, index: usize) -> Bytes {
    let block = match reply {
        Reply::Text(_) => json!({ "type": "text", "text": "" }),
        Reply::ToolUse(c) => {
            json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": {} })
        }
    };
    respond::sse_event(
        "content_block_start",
        &json!({ "type": "content_block_start", "index": index, "content_block": block }),
    )
}

/// The block's deltas; a `tool_use` block's input opens with an empty
/// fragment, as the API streams it.
fn deltas(reply: &Reply, index: usize) -> Vec<Bytes> {
    let deltas: Vec<Value> = match reply {
        Reply::Text(words) => text::pieces(words)
            .into_iter()
            .map(|piece| json!({ "type": "text_delta", "text": piece }))
            .collect(),
        Reply::ToolUse(c) => std::iter::once(String::new())
            .chain(argument_pieces(&c.arguments))
            .map(|piece| json!({ "type": "input_json_delta", "partial_json": piece }))
            .collect(),
    };
    deltas
        .into_iter()
        .map(|delta| {
            respond::sse_event(
                "content_block_delta",
                &json!({ "type": "content_block_delta", "index": index, "delta": delta }),
            )
        })
        .collect()
}

fn stop(index: usize) -> Bytes {
    respond::sse_event(
        "content_block_stop",
        &json!({ "type": "content_block_stop", "index": index }),
    )
}

fn stop_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ContentFilter => "refusal",
    }
}

/// POST /v1/messages.
pub(crate) async fn messages(ctx: Ctx, body: Bytes) -> Response {
    if ctx.require_auth() && ctx.header("x-api-key").is_none_or(|k| k.trim().is_empty()) {
        return error(401, "x-api-key header is required");
    }
    if ctx.header("anthropic-version").is_none_or(str::is_empty) {
        return invalid("anthropic-version: header is required");
    }
    let (chat, turn, free) = match parse(&ctx, &body) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    let request_id = format!("req_sim{:016}", ctx.next_id());
    let resp = answer(&ctx, &chat, turn, free, &request_id);
    respond::with_header(resp, "request-id", &request_id)
}

fn answer(ctx: &Ctx, chat: &Chat, turn: ToolTurn, free: bool, request_id: &str) -> Response {
    if let Some(status) = ctx.fault.upfront_error(chat.stream) {
        return crate::Vendor::Anthropic.fault_error(status);
    }
    let input = chat.input_tokens();
    let (words, finish) = match chat.outcome() {
        Outcome::ContextLength => {
            return invalid(&format!(
                "prompt is too long: {} tokens > 200000 maximum",
                input.max(200_001)
            ));
        }
        Outcome::Reply { words, finish } => (words, finish),
    };
    let (replies, finish) = tool_model::replies(turn, words, finish, free);
    let stop_reason = finish.map_or("tool_use", stop_reason);
    let id = format!("msg_sim{}", request_id.trim_start_matches("req_sim"));
    let output: u64 = replies.iter().map(Reply::output_tokens).sum();
    let usage = |output: u64| {
        json!({
            "input_tokens": input, "output_tokens": output,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        })
    };
    if !chat.stream {
        let content: Vec<Value> = replies.iter().map(block).collect();
        return respond::unary(
            &ctx.fault,
            &json!({
                "id": id, "type": "message", "role": "assistant", "model": chat.model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": null,
                "usage": usage(output),
            }),
        );
    }

    // The first block opens before the ping and the last closes in the tail,
    // so a faulted stream is cut inside the content.
    let mut plan = StreamPlan::new(SSE);
    plan.head.push(respond::sse_event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": id, "type": "message", "role": "assistant", "model": chat.model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(1),
            }
        }),
    ));
    if let Some(first) = replies.first() {
        plan.head.push(start(first, 0));
    }
    plan.head
        .push(respond::sse_event("ping", &json!({ "type": "ping" })));
    for (index, reply) in replies.iter().enumerate() {
        if index > 0 {
            plan.chunks.push(stop(index - 1));
            plan.chunks.push(start(reply, index));
        }
        plan.chunks.extend(deltas(reply, index));
    }
    if !replies.is_empty() {
        plan.tail.push(stop(replies.len() - 1));
    }
    plan.tail.push(respond::sse_event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": { "stop_reason": stop_reason, "stop_sequence": null },
            "usage": { "output_tokens": output }
        }),
    ));
    plan.tail.push(respond::sse_event(
        "message_stop",
        &json!({ "type": "message_stop" }),
    ));
    if let Some(status) = ctx.fault.error_status() {
        let message = crate::Vendor::Anthropic.fault_message(status);
        plan.mid_error = Some(respond::sse_event("error", &error_body(status, message)));
    }
    plan.garbage = Bytes::from_static(
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_del\n\n",
    );
    plan.into_response(&ctx.fault, ctx.chunk_delay())
}
