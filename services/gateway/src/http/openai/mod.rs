//! The OpenAI-compatible API (`/v1/*`) over the llm-router, so existing SDKs
//! and tools work unchanged. Errors here take OpenAI's shape (see
//! [`crate::errors`]).

pub(super) mod chat;
pub(crate) mod dto;
pub(super) mod embeddings;

use super::AppState;
use crate::auth::Principal;
use crate::backends::ROUTER;
use crate::errors::ApiError;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use dto::{ModelDto, ModelList};
use fluentedge_proto::router::v1 as pb;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models))
}

pub(super) fn failed(status: tonic::Status) -> ApiError {
    ApiError::from_status(ROUTER, &status)
}

pub(super) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The models and tiers callers can name.
#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses((status = 200, body = ModelList), (status = 401, description = "OpenAI error shape")),
    security(("bearer" = [])))]
pub(super) async fn models(
    State(state): State<AppState>,
    _caller: Principal,
) -> Result<axum::Json<ModelList>, ApiError> {
    let reply = state
        .backends
        .router()
        .list_models(state.backends.unary(pb::ListModelsRequest {}))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(ModelList {
        object: "list",
        data: reply
            .models
            .into_iter()
            .map(|m| ModelDto {
                id: m.id,
                object: "model",
                created: 0,
                owned_by: "fluentedge",
            })
            .collect(),
    }))
}
