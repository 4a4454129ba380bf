//! Ollama's native API: `/api/chat` (NDJSON streaming by default), `/api/embed`, `/api/tags`,
//! `/api/version`. No authentication, like a local Ollama. Ollama has no content filter, so the
//! `[[content_filter]]` trigger is answered normally.

use std::time::Instant;

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::app::Ctx;
use crate::respond::{self, NDJSON, StreamPlan};
use crate::text::{self, Chat, Finish, Outcome};

/// `{"error": "…"}`.
pub(crate) fn error(status: u16, message: &str) -> Response {
    respond::json(status, &json!({ "error": message }))
}

fn created_at() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn nanos(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn parse(body: &[u8]) -> Result<Chat, Box<Response>> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Box::new(error(400, &format!("invalid JSON: {e}"))))?;
    let Some(model) = v
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    else {
        return Err(Box::new(error(400, "model is required")));
    };
    let mut chat = Chat {
        model: model.to_owned(),
        max_tokens: v
            .pointer("/options/num_predict")
            .and_then(Value::as_i64)
            .and_then(|n| u64::try_from(n).ok()),
        // Ollama streams unless told otherwise.
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(true),
        ..Chat::default()
    };
    for m in v
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        let content = m.get("content").and_then(Value::as_str).unwrap_or_default();
        if role == "system" {
            chat.system.push_str(content);
        } else {
            chat.messages.push((role.to_owned(), content.to_owned()));
        }
    }
    Ok(chat)
}

/// POST /api/chat.
pub(crate) async fn chat(ctx: Ctx, body: Bytes) -> Response {
    let started = Instant::now();
    let chat = match parse(&body) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    if let Some(status) = ctx.fault.upfront_error(chat.stream) {
        return crate::Vendor::Ollama.fault_error(status);
    }
    let (words, finish) = match chat.outcome_with(false) {
        Outcome::ContextLength => return error(400, "the input length exceeds the context length"),
        Outcome::Reply { words, finish } => (words, finish),
    };
    let done_reason = if finish == Finish::Length {
        "length"
    } else {
        "stop"
    };
    let prompt = chat.input_tokens();
    let output = words.len() as u64;
    let done = |content: String| -> Value {
        let total = nanos(started);
        json!({
            "model": chat.model, "created_at": created_at(),
            "message": { "role": "assistant", "content": content },
            "done_reason": done_reason, "done": true,
            "total_duration": total, "load_duration": 0,
            "prompt_eval_count": prompt, "prompt_eval_duration": total / 2,
            "eval_count": output, "eval_duration": total / 2,
        })
    };
    if !chat.stream {
        return respond::unary(&ctx.fault, &done(text::join(&words)));
    }
    let line = |v: &Value| Bytes::from(format!("{v}\n"));
    let mut plan = StreamPlan::new(NDJSON);
    for piece in text::pieces(&words) {
        plan.chunks.push(line(&json!({
            "model": chat.model, "created_at": created_at(),
            "message": { "role": "assistant", "content": piece }, "done": false,
        })));
    }
    plan.tail.push(line(&done(String::new())));
    if let Some(status) = ctx.fault.error_status() {
        plan.mid_error = Some(line(
            &json!({ "error": crate::Vendor::Ollama.fault_message(status) }),
        ));
    }
    plan.garbage = Bytes::from(format!(
        "{{\"model\":\"{}\",\"message\":{{\"role\":\"assist\n",
        chat.model.replace('"', "")
    ));
    plan.into_response(&ctx.fault, ctx.chunk_delay())
}

/// POST /api/embed: `{"model", "input": string | [string], "dimensions"?}`.
pub(crate) async fn embed(ctx: Ctx, body: Bytes) -> Response {
    let started = Instant::now();
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("invalid JSON: {e}")),
    };
    let Some(model) = v.get("model").and_then(Value::as_str) else {
        return error(400, "model is required");
    };
    let inputs: Vec<&str> = match v.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if inputs.is_empty() {
        return error(400, "input is required");
    }
    let dims = match v.get("dimensions").map(Value::as_u64) {
        None => ctx.state.config.embedding_dims,
        Some(Some(d)) if (1..=8192).contains(&d) => d as usize,
        Some(_) => return error(400, "dimensions must be a positive integer"),
    };
    if let Some(status) = ctx.fault.upfront_error(false) {
        return crate::Vendor::Ollama.fault_error(status);
    }
    let embeddings: Vec<Vec<f32>> = inputs.iter().map(|i| text::embedding(i, dims)).collect();
    let tokens: u64 = inputs.iter().map(|i| text::approx_tokens(i)).sum();
    respond::unary(
        &ctx.fault,
        &json!({
            "model": model, "embeddings": embeddings,
            "total_duration": nanos(started), "load_duration": 0, "prompt_eval_count": tokens,
        }),
    )
}

/// GET /api/tags.
pub(crate) async fn tags(ctx: Ctx) -> Response {
    if let Some(status) = ctx.fault.upfront_error(false) {
        return crate::Vendor::Ollama.fault_error(status);
    }
    let model = |name: &str, family: &str, size: &str| {
        json!({
            "name": name, "model": name, "modified_at": "2025-01-01T00:00:00Z",
            "size": 2_019_393_189u64, "digest": format!("sha256:{:064x}", name.len()),
            "details": {
                "parent_model": "", "format": "gguf", "family": family, "families": [family],
                "parameter_size": size, "quantization_level": "Q4_K_M",
            }
        })
    };
    respond::unary(
        &ctx.fault,
        &json!({ "models": [
            model("llama3.2:latest", "llama", "3.2B"),
            model("nomic-embed-text:latest", "nomic-bert", "137M"),
        ]}),
    )
}

/// GET /api/version.
pub(crate) async fn version(ctx: Ctx) -> Response {
    respond::unary(&ctx.fault, &json!({ "version": "0.12.0" }))
}
