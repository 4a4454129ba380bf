//! `POST /v1/embeddings` → `LlmRouter.Embed`.

use super::dto::*;
use super::failed;
use crate::auth::Principal;
use crate::errors::ApiError;
use crate::http::AppState;
use crate::http::extract::Json;
use axum::extract::State;
use base64::Engine;
use fluentedge_proto::router::v1 as pb;

const MAX_INPUTS: usize = 256;

/// Embeddings for one or more texts.
#[utoipa::path(post, path = "/v1/embeddings", tag = "openai",
    request_body = EmbeddingsRequest,
    responses((status = 200, body = EmbeddingsResponse), (status = 400, description = "OpenAI error shape")),
    security(("bearer" = [])))]
pub(crate) async fn embeddings(
    State(state): State<AppState>,
    caller: Principal,
    Json(body): Json<EmbeddingsRequest>,
) -> Result<axum::Json<EmbeddingsResponse>, ApiError> {
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "encoding_format: {other:?} is not supported (float, base64)"
            )));
        }
    };
    let inputs = match body.input {
        EmbeddingInput::One(s) => vec![s],
        EmbeddingInput::Many(v) => v,
        EmbeddingInput::Unsupported(_) => {
            return Err(ApiError::invalid(
                "input: expected a string or an array of strings (token arrays are not supported)",
            ));
        }
    };
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return Err(ApiError::invalid(format!(
            "input: between 1 and {MAX_INPUTS} texts, got {}",
            inputs.len()
        )));
    }
    let reply = state
        .backends
        .router()
        .embed(state.backends.unary(pb::EmbedRequest {
            call_id: String::new(),
            model: body.model,
            inputs,
            dimensions: body.dimensions.unwrap_or(0),
            caller: Some(caller_context(&caller)),
        }))
        .await
        .map_err(failed)?
        .into_inner();
    let prompt_tokens = reply.usage.as_ref().map_or(0, |u| u.input_tokens);
    let data = reply
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(index, e)| EmbeddingData {
            object: "embedding",
            index,
            embedding: if base64 {
                EmbeddingValue::Base64(encode_f32_le(&e.values))
            } else {
                EmbeddingValue::Float(e.values)
            },
        })
        .collect();
    Ok(axum::Json(EmbeddingsResponse {
        object: "list",
        data,
        model: reply.model,
        usage: EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    }))
}

fn caller_context(caller: &Principal) -> pb::CallerContext {
    super::dto::caller(&caller.subject)
}

/// OpenAI's base64 format: the raw little-endian f32 bytes.
fn encode_f32_le(values: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_is_little_endian_f32() {
        assert_eq!(super::encode_f32_le(&[1.0]), "AACAPw==");
    }
}
