//! OpenAI Chat Completions, Embeddings and Models (also Ollama's OpenAI-compatible `/v1`), and
//! the shared body handling Azure OpenAI reuses. Embeddings and models: [`super::openai_embeddings`].

use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::app::Ctx;
use crate::respond::{self, SSE, StreamPlan};
use crate::text::{self, Chat, Finish, Outcome};

use super::openai_tools;
use super::tool_model::ToolTurn;

/// Which OpenAI-shaped API is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    OpenAi,
    Azure,
}

impl Flavor {
    pub(super) fn vendor(self) -> crate::Vendor {
        match self {
            Flavor::OpenAi => crate::Vendor::OpenAi,
            Flavor::Azure => crate::Vendor::Azure,
        }
    }

    pub(super) fn error(
        self,
        status: u16,
        message: &str,
        kind: Option<&str>,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Response {
        api_error(status, message, kind, param, code, self == Flavor::Azure)
    }
}

/// `{"error":{"message","type","param","code"}}`.
pub(crate) fn api_error(
    status: u16,
    message: &str,
    kind: Option<&str>,
    param: Option<&str>,
    code: Option<&str>,
    azure: bool,
) -> Response {
    let mut body = json!({
        "error": { "message": message, "type": kind, "param": param, "code": code }
    });
    if azure && let Some(err) = body.get_mut("error").and_then(Value::as_object_mut) {
        err.insert("status".into(), json!(status));
    }
    respond::json(status, &body)
}

fn default_kind(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
        ),
        404 => ("invalid_request_error", Some("not_found")),
        429 => ("requests", Some("rate_limit_exceeded")),
        s if s >= 500 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

/// The OpenAI error body for `status`.
pub(crate) fn error(status: u16, message: &str) -> Response {
    let (kind, code) = default_kind(status);
    api_error(status, message, Some(kind), None, code, false)
}

pub(crate) fn status_error(flavor: Flavor, status: u16, message: &str) -> Response {
    let (kind, code) = default_kind(status);
    flavor.error(status, message, Some(kind), None, code)
}

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(super) fn invalid_json(flavor: Flavor, e: &serde_json::Error) -> Response {
    flavor.error(
        400,
        &format!("We could not parse the JSON body of your request. ({e})"),
        Some("invalid_request_error"),
        None,
        None,
    )
}

pub(super) fn missing(flavor: Flavor, param: &str) -> Response {
    flavor.error(
        400,
        &format!("Missing required parameter: '{param}'."),
        Some("invalid_request_error"),
        Some(param),
        Some("missing_required_parameter"),
    )
}

/// The OpenAI chat body as a [`Chat`], plus `stream_options.include_usage`.
fn parse_chat(
    ctx: &Ctx,
    flavor: Flavor,
    body: &[u8],
    model_override: Option<&str>,
) -> Result<(Chat, bool, ToolTurn), Box<Response>> {
    let v: Value = serde_json::from_slice(body).map_err(|e| Box::new(invalid_json(flavor, &e)))?;
    let Some(obj) = v.as_object() else {
        return Err(Box::new(flavor.error(
            400,
            "The request body must be a JSON object.",
            Some("invalid_request_error"),
            None,
            None,
        )));
    };
    let model = match (model_override, obj.get("model").and_then(Value::as_str)) {
        (Some(m), _) | (None, Some(m)) => m.to_owned(),
        (None, None) => return Err(Box::new(missing(flavor, "model"))),
    };
    let Some(messages) = obj.get("messages").and_then(Value::as_array) else {
        return Err(Box::new(missing(flavor, "messages")));
    };
    if messages.is_empty() {
        return Err(Box::new(flavor.error(
            400,
            "[] is too short - 'messages'",
            Some("invalid_request_error"),
            Some("messages"),
            None,
        )));
    }
    let mut chat = Chat {
        model,
        ..Chat::default()
    };
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        let content = m.get("content").map(text::text_of).unwrap_or_default();
        if role == "system" || role == "developer" {
            if !chat.system.is_empty() {
                chat.system.push('\n');
            }
            chat.system.push_str(&content);
        } else {
            chat.messages.push((role.to_owned(), content));
        }
    }
    chat.max_tokens = obj
        .get("max_completion_tokens")
        .or_else(|| obj.get("max_tokens"))
        .and_then(Value::as_u64);
    chat.stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Ids only for responses that call tools: other answers keep their numbering.
    let mut base = None;
    let turn = openai_tools::turn(obj, messages, chat.last_user(), |i| {
        let base = *base.get_or_insert_with(|| ctx.next_id());
        format!("call_sim_{base}_{i}")
    })
    .map_err(|e| {
        Box::new(flavor.error(
            400,
            &e.message,
            Some("invalid_request_error"),
            Some(&e.param),
            None,
        ))
    })?;
    Ok((chat, include_usage, turn))
}

fn finish_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ContentFilter => "content_filter",
    }
}

pub(super) fn usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    })
}

fn filter_results(filtered: bool) -> Value {
    let severity = if filtered { "high" } else { "safe" };
    let cat = json!({ "filtered": filtered, "severity": severity });
    json!({ "hate": cat, "self_harm": cat, "sexual": cat, "violence": cat })
}

fn prompt_filter_results() -> Value {
    json!([{ "prompt_index": 0, "content_filter_results": filter_results(false) }])
}

/// POST /v1/chat/completions.
pub(crate) async fn chat(ctx: Ctx, body: Bytes) -> Response {
    if ctx.require_auth() && ctx.bearer().is_none() {
        return Flavor::OpenAi.error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            Some("invalid_request_error"),
            None,
            None,
        );
    }
    chat_completion(&ctx, Flavor::OpenAi, &body, None)
}

/// Chat completions for OpenAI and Azure, after authentication.
pub(crate) fn chat_completion(
    ctx: &Ctx,
    flavor: Flavor,
    body: &[u8],
    model: Option<&str>,
) -> Response {
    let (chat, include_usage, turn) = match parse_chat(ctx, flavor, body, model) {
        Ok(parsed) => parsed,
        Err(resp) => return *resp,
    };
    if let Some(status) = ctx.fault.upfront_error(chat.stream) {
        return status_error(flavor, status, flavor.vendor().fault_message(status));
    }
    let prompt = chat.input_tokens();
    let (words, finish) = match chat.outcome() {
        Outcome::ContextLength => {
            return flavor.error(
                400,
                &format!("This model's maximum context length is 128000 tokens. However, your messages resulted in {} tokens. Please reduce the length of the messages.", prompt.max(128_001)),
                Some("invalid_request_error"),
                Some("messages"),
                Some("context_length_exceeded"),
            );
        }
        Outcome::Reply {
            finish: Finish::ContentFilter,
            ..
        } => return content_filter(flavor),
        Outcome::Reply { words, finish } => (words, finish),
    };
    let (words, finish) = match turn {
        ToolTurn::Plain => (words, finish),
        ToolTurn::Answer(text) => (
            text.split_whitespace().map(str::to_owned).collect(),
            Finish::Stop,
        ),
        ToolTurn::Calls(calls) => return openai_tools::respond(ctx, &chat, include_usage, &calls),
    };
    let id = format!("chatcmpl-sim-{}", ctx.next_id());
    let created = now();
    let completion = words.len() as u64;
    if !chat.stream {
        let mut choice = json!({
            "index": 0,
            "message": { "role": "assistant", "content": text::join(&words), "refusal": null, "annotations": [] },
            "logprobs": null,
            "finish_reason": finish_reason(finish),
        });
        let mut body = json!({
            "id": id, "object": "chat.completion", "created": created, "model": chat.model,
            "choices": [], "usage": usage(prompt, completion),
            "system_fingerprint": "fp_sim",
        });
        if flavor == Flavor::Azure {
            if let Some(c) = choice.as_object_mut() {
                c.insert("content_filter_results".into(), filter_results(false));
            }
            if let Some(b) = body.as_object_mut() {
                b.insert("prompt_filter_results".into(), prompt_filter_results());
            }
        } else if let Some(b) = body.as_object_mut() {
            b.insert("service_tier".into(), json!("default"));
        }
        body["choices"] = json!([choice]);
        return respond::unary(&ctx.fault, &body);
    }

    let chunk = |choices: Value| -> Value {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
            "system_fingerprint": "fp_sim", "choices": choices,
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let mut plan = StreamPlan::new(SSE);
    if flavor == Flavor::Azure {
        // Azure's first event carries only the prompt filter annotations (empty `choices`).
        plan.head.push(respond::sse_data(&json!({
            "id": "", "object": "", "created": 0, "model": "", "choices": [],
            "prompt_filter_results": prompt_filter_results(),
        })));
    }
    plan.head.push(respond::sse_data(&chunk(json!([{
        "index": 0, "delta": { "role": "assistant", "content": "", "refusal": null },
        "logprobs": null, "finish_reason": null
    }]))));
    for piece in text::pieces(&words) {
        plan.chunks.push(respond::sse_data(&chunk(json!([{
            "index": 0, "delta": { "content": piece }, "logprobs": null, "finish_reason": null
        }]))));
    }
    plan.tail.push(respond::sse_data(&chunk(json!([{
        "index": 0, "delta": {}, "logprobs": null, "finish_reason": finish_reason(finish)
    }]))));
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage(prompt, completion);
        plan.tail.push(respond::sse_data(&last));
    }
    plan.tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
    if let Some(status) = ctx.fault.error_status() {
        let (kind, code) = default_kind(status);
        plan.mid_error = Some(respond::sse_data(&json!({ "error": {
            "message": flavor.vendor().fault_message(status), "type": kind, "param": null, "code": code
        }})));
    }
    plan.garbage = Bytes::from(format!(
        "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":{{\"content\":\n\n"
    ));
    plan.into_response(&ctx.fault, ctx.chunk_delay())
}

fn content_filter(flavor: Flavor) -> Response {
    let message = "The response was filtered due to the prompt triggering the content management policy. Please modify your prompt and retry.";
    let kind = if flavor == Flavor::Azure {
        None
    } else {
        Some("invalid_request_error")
    };
    let mut body = json!({ "error": {
        "message": message, "type": kind, "param": "prompt", "code": "content_filter",
    }});
    if flavor == Flavor::Azure
        && let Some(err) = body.get_mut("error").and_then(Value::as_object_mut)
    {
        err.insert("status".into(), json!(400));
        err.insert(
            "innererror".into(),
            json!({
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": filter_results(true),
            }),
        );
    }
    respond::json(400, &body)
}
