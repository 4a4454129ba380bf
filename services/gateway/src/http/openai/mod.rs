//! The OpenAI-compatible API (`/v1/*`) over the llm-router, so existing SDKs
//! and tools work unchanged. Errors here take OpenAI's shape (see
//! [`crate::errors`]).

pub(super) mod chat;
pub(crate) mod dto;
pub(super) mod embeddings;
pub(crate) mod tools;

use super::AppState;
use crate::auth::Principal;
use crate::backends::ROUTER;
use crate::errors::ApiError;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use dto::{ModelDto, ModelList};
use fluentedge_proto::router::v1 as pb;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
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
    Ok(axum::Json(ModelList {
        object: "list",
        data: catalogue(&state).await?,
    }))
}

/// One model or tier (`models.retrieve`); 404 `model_not_found` for others.
#[utoipa::path(get, path = "/v1/models/{id}", tag = "openai",
    params(("id" = String, Path, description = "A model id from `GET /v1/models`")),
    responses((status = 200, body = ModelDto), (status = 401, description = "OpenAI error shape"),
        (status = 404, description = "No such model (OpenAI error shape, code `model_not_found`)")),
    security(("bearer" = [])))]
pub(super) async fn model(
    State(state): State<AppState>,
    _caller: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<ModelDto>, ApiError> {
    catalogue(&state)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .map(axum::Json)
        .ok_or_else(|| {
            ApiError::http(
                axum::http::StatusCode::NOT_FOUND,
                "model_not_found",
                format!("model: {id:?} does not exist (GET /v1/models lists the models)"),
            )
        })
}

async fn catalogue(state: &AppState) -> Result<Vec<ModelDto>, ApiError> {
    let reply = state
        .backends
        .router()
        .list_models(state.backends.unary(pb::ListModelsRequest {}))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(reply
        .models
        .into_iter()
        .map(|m| ModelDto {
            id: m.id,
            object: "model",
            created: m.created,
            owned_by: "fluentedge",
        })
        .collect())
}
