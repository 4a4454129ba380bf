//! OpenAI Embeddings (`POST /v1/embeddings`, also used by Azure) and `GET /v1/models`.

use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::openai::{Flavor, invalid_json, missing, status_error};
use crate::app::Ctx;
use crate::respond;
use crate::text;

/// POST /v1/embeddings.
pub(crate) async fn embeddings(ctx: Ctx, body: Bytes) -> Response {
    if ctx.require_auth() && ctx.bearer().is_none() {
        return Flavor::OpenAi.error(
            401,
            "You didn't provide an API key.",
            Some("invalid_request_error"),
            None,
            None,
        );
    }
    embed(&ctx, Flavor::OpenAi, &body, None)
}

/// Embeddings for OpenAI and Azure, after authentication.
pub(crate) fn embed(ctx: &Ctx, flavor: Flavor, body: &[u8], model: Option<&str>) -> Response {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return invalid_json(flavor, &e),
    };
    let model = match (model, v.get("model").and_then(Value::as_str)) {
        (Some(m), _) | (None, Some(m)) => m.to_owned(),
        (None, None) => return missing(flavor, "model"),
    };
    let Some(inputs) = v.get("input").and_then(embedding_inputs) else {
        return flavor.error(
            400,
            "'input' must be a non-empty string or array of strings or token arrays.",
            Some("invalid_request_error"),
            Some("input"),
            None,
        );
    };
    let dims = match v.get("dimensions").map(Value::as_u64) {
        None => ctx.state.config.embedding_dims,
        Some(Some(d)) if (1..=8192).contains(&d) => d as usize,
        Some(_) => {
            return flavor.error(
                400,
                "'dimensions' must be an integer between 1 and 8192.",
                Some("invalid_request_error"),
                Some("dimensions"),
                None,
            );
        }
    };
    if let Some(status) = ctx.fault.upfront_error(false) {
        return status_error(flavor, status, flavor.vendor().fault_message(status));
    }
    let base64 = v.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let mut tokens = 0u64;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, (input, n))| {
            tokens += n;
            let vector = text::embedding(input, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    let body = json!({
        "object": "list", "data": data, "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    });
    respond::unary(&ctx.fault, &body)
}

/// `input` as (text to embed, token count): a string, strings, a token array, or token arrays.
fn embedding_inputs(input: &Value) -> Option<Vec<(String, u64)>> {
    let tokens_of = |arr: &Vec<Value>| -> Option<(String, u64)> {
        let ids: Option<Vec<u64>> = arr.iter().map(Value::as_u64).collect();
        let ids = ids?;
        let text = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
        Some((text, ids.len() as u64))
    };
    let out: Vec<(String, u64)> = match input {
        Value::String(s) => vec![(s.clone(), text::approx_tokens(s))],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| (s.to_owned(), text::approx_tokens(s)))
            .collect(),
        Value::Array(items) if items.iter().all(Value::is_number) => vec![tokens_of(items)?],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_array().and_then(tokens_of))
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    (!out.is_empty()).then_some(out)
}

/// GET /v1/models.
pub(crate) async fn models(ctx: Ctx) -> Response {
    if ctx.require_auth() && ctx.bearer().is_none() {
        return Flavor::OpenAi.error(
            401,
            "You didn't provide an API key.",
            Some("invalid_request_error"),
            None,
            None,
        );
    }
    if let Some(status) = ctx.fault.upfront_error(false) {
        return crate::Vendor::OpenAi.fault_error(status);
    }
    let data: Vec<Value> = [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "text-embedding-3-small",
        "text-embedding-3-large",
    ]
    .iter()
    .map(|id| {
        let mut m = Map::new();
        m.insert("id".into(), json!(id));
        m.insert("object".into(), json!("model"));
        m.insert("created".into(), json!(1_715_367_049));
        m.insert("owned_by".into(), json!("system"));
        Value::Object(m)
    })
    .collect();
    respond::unary(&ctx.fault, &json!({ "object": "list", "data": data }))
}
