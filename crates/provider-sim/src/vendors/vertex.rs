//! GCP Vertex AI Gemini: `…/publishers/google/models/{model}:{action}` with actions
//! `generateContent`, `streamGenerateContent` (SSE with `alt=sse`, else a streamed JSON array)
//! and `predict` (text embeddings). Requires `Authorization: Bearer`.

use axum::extract::Path;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::app::Ctx;
use crate::respond::{self, JSON, SSE, StreamPlan};
use crate::text::{self, Chat, Finish, Outcome};

/// The `google.rpc.Code` name for an HTTP status.
fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        s if s >= 500 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

fn error_body(status: u16, message: &str) -> Value {
    json!({ "error": { "code": status, "message": message, "status": status_name(status) } })
}

/// `{"error":{"code","message","status"}}`.
pub(crate) fn error(status: u16, message: &str) -> Response {
    respond::json(status, &error_body(status, message))
}

/// The SSE event separator Google uses.
const SSE_END: &str = "\r\n\r\n";

fn parse(model: &str, body: &[u8]) -> Result<Chat, Box<Response>> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Box::new(error(400, &format!("Invalid JSON payload received. {e}"))))?;
    let Some(contents) = v.get("contents").and_then(Value::as_array) else {
        return Err(Box::new(error(
            400,
            "Invalid JSON payload received. Required field \"contents\" is missing.",
        )));
    };
    let config = v
        .get("generationConfig")
        .or_else(|| v.get("generation_config"));
    let max_tokens = config
        .and_then(|c| {
            c.get("maxOutputTokens")
                .or_else(|| c.get("max_output_tokens"))
        })
        .and_then(Value::as_u64);
    let system = v
        .get("systemInstruction")
        .or_else(|| v.get("system_instruction"))
        .and_then(|s| s.get("parts"))
        .map(text::text_of)
        .unwrap_or_default();
    let mut chat = Chat {
        model: model.to_owned(),
        system,
        max_tokens,
        ..Chat::default()
    };
    for c in contents {
        let role = c.get("role").and_then(Value::as_str).unwrap_or("user");
        if role != "user" && role != "model" {
            return Err(Box::new(error(
                400,
                &format!("Please use a valid role: user, model. Got \"{role}\"."),
            )));
        }
        let text = c.get("parts").map(text::text_of).unwrap_or_default();
        chat.messages.push((role.to_owned(), text));
    }
    Ok(chat)
}

/// POST …/models/{model}:{action}.
pub(crate) async fn model_action(
    ctx: Ctx,
    Path((_project, _location, model_action)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    if ctx.require_auth() && ctx.bearer().is_none() {
        return error(
            401,
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
    }
    let Some((model, action)) = model_action.rsplit_once(':') else {
        return error(404, &format!("Unknown model action `{model_action}`."));
    };
    match action {
        "generateContent" => generate(&ctx, model, &body, false),
        "streamGenerateContent" => generate(&ctx, model, &body, true),
        "predict" => predict(&ctx, &body),
        _ => error(404, &format!("Method `{action}` not found.")),
    }
}

fn generate(ctx: &Ctx, model: &str, body: &[u8], stream: bool) -> Response {
    let mut chat = match parse(model, body) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    chat.stream = stream;
    if let Some(status) = ctx.fault.upfront_error(stream) {
        return crate::Vendor::Vertex.fault_error(status);
    }
    let input = chat.input_tokens();
    let (words, finish) = match chat.outcome() {
        Outcome::ContextLength => {
            return error(
                400,
                &format!(
                    "The input token count ({}) exceeds the maximum number of tokens allowed (1048576).",
                    input.max(1_048_577)
                ),
            );
        }
        Outcome::Reply { words, finish } => (words, finish),
    };
    let output = words.len() as u64;
    let usage = json!({
        "promptTokenCount": input, "candidatesTokenCount": output, "totalTokenCount": input + output,
    });
    let response_id = format!("sim-{}", ctx.next_id());
    let finish_name = match finish {
        Finish::Stop => "STOP",
        Finish::Length => "MAX_TOKENS",
        Finish::ContentFilter => "SAFETY",
    };
    let final_candidate = |text: String| -> Value {
        if finish == Finish::ContentFilter {
            json!({
                "finishReason": finish_name,
                "safetyRatings": [{ "category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": true }],
            })
        } else {
            json!({ "content": { "role": "model", "parts": [{ "text": text }] }, "finishReason": finish_name })
        }
    };
    if !stream {
        return respond::unary(
            &ctx.fault,
            &json!({
                "candidates": [final_candidate(text::join(&words))],
                "usageMetadata": usage, "modelVersion": chat.model, "responseId": response_id,
            }),
        );
    }

    let chunks: Vec<Value> = text::pieces(&words)
        .into_iter()
        .map(|piece| {
            json!({
                "candidates": [{ "content": { "role": "model", "parts": [{ "text": piece }] } }],
                "modelVersion": chat.model, "responseId": response_id,
            })
        })
        .collect();
    let last = json!({
        "candidates": [final_candidate(String::new())],
        "usageMetadata": usage, "modelVersion": chat.model, "responseId": response_id,
    });
    let mid_error = ctx
        .fault
        .error_status()
        .map(|s| error_body(s, crate::Vendor::Vertex.fault_message(s)));
    if ctx.query("alt") == Some("sse") {
        let frame = |v: &Value| Bytes::from(format!("data: {v}{SSE_END}"));
        let mut plan = StreamPlan::new(SSE);
        plan.chunks = chunks.iter().map(frame).collect();
        plan.tail.push(frame(&last));
        plan.mid_error = mid_error.as_ref().map(frame);
        plan.garbage = Bytes::from(format!(
            "data: {{\"candidates\": [{{\"content\": {{\"role\": \"mod{SSE_END}"
        ));
        return plan.into_response(&ctx.fault, ctx.chunk_delay());
    }
    // Without alt=sse the REST API streams one JSON array, element by element.
    let mut plan = StreamPlan::new(JSON);
    plan.head.push(Bytes::from_static(b"["));
    for (i, c) in chunks.iter().enumerate() {
        let sep = if i == 0 { "" } else { ",\r\n" };
        plan.chunks.push(Bytes::from(format!("{sep}{c}")));
    }
    let sep = if chunks.is_empty() { "" } else { ",\r\n" };
    plan.tail.push(Bytes::from(format!("{sep}{last}]")));
    plan.mid_error = mid_error.map(|e| Bytes::from(format!("{sep}{e}]")));
    plan.garbage = Bytes::from_static(b"{\"candidates\": [{\"content\": {\"ro");
    plan.into_response(&ctx.fault, ctx.chunk_delay())
}

/// `:predict` for text-embedding models: `{"instances":[{"content"}], "parameters":{"outputDimensionality"}}`.
fn predict(ctx: &Ctx, body: &[u8]) -> Response {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("Invalid JSON payload received. {e}")),
    };
    let Some(instances) = v
        .get("instances")
        .and_then(Value::as_array)
        .filter(|i| !i.is_empty())
    else {
        return error(
            400,
            "Invalid JSON payload received. Required field \"instances\" is missing or empty.",
        );
    };
    let dims = match v
        .pointer("/parameters/outputDimensionality")
        .map(Value::as_u64)
    {
        None => ctx.state.config.embedding_dims,
        Some(Some(d)) if (1..=8192).contains(&d) => d as usize,
        Some(_) => return error(400, "outputDimensionality must be a positive integer."),
    };
    if let Some(status) = ctx.fault.upfront_error(false) {
        return crate::Vendor::Vertex.fault_error(status);
    }
    let mut chars = 0usize;
    let predictions: Vec<Value> = instances
        .iter()
        .map(|inst| {
            let content = inst
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or_default();
            chars += content.chars().count();
            json!({ "embeddings": {
                "values": text::embedding(content, dims),
                "statistics": { "token_count": text::approx_tokens(content), "truncated": false },
            }})
        })
        .collect();
    respond::unary(
        &ctx.fault,
        &json!({
            "predictions": predictions,
            "metadata": { "billableCharacterCount": chars },
        }),
    )
}
