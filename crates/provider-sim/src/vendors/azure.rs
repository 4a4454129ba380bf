//! Azure OpenAI: deployment-scoped routes with `api-version`, `api-key` or Entra ID bearer auth.
//! Bodies are OpenAI's ([`super::openai`]) plus Azure's content-filter annotations.

use axum::extract::Path;
use axum::response::Response;
use bytes::Bytes;

use super::openai::{self, Flavor};
use super::openai_embeddings;
use crate::app::Ctx;

/// Azure's error body: OpenAI's shape plus `status`.
pub(crate) fn error(status: u16, message: &str) -> Response {
    openai::status_error(Flavor::Azure, status, message)
}

/// Authentication and `api-version` checks shared by every Azure route.
fn check(ctx: &Ctx, need_api_version: bool) -> Option<Response> {
    let has_key = ctx.header("api-key").is_some_and(|k| !k.trim().is_empty());
    if ctx.require_auth() && !has_key && ctx.bearer().is_none() {
        return Some(openai::api_error(
            401,
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            Some("invalid_request_error"),
            None,
            Some("401"),
            true,
        ));
    }
    if need_api_version && ctx.query("api-version").is_none_or(str::is_empty) {
        return Some(openai::api_error(
            400,
            "Missing required query parameter 'api-version'.",
            Some("invalid_request_error"),
            Some("api-version"),
            Some("BadRequest"),
            true,
        ));
    }
    None
}

/// POST /openai/deployments/{deployment}/chat/completions?api-version=…
pub(crate) async fn chat(ctx: Ctx, Path(deployment): Path<String>, body: Bytes) -> Response {
    if let Some(resp) = check(&ctx, true) {
        return resp;
    }
    openai::chat_completion(&ctx, Flavor::Azure, &body, Some(&deployment))
}

/// POST /openai/deployments/{deployment}/embeddings?api-version=…
pub(crate) async fn embeddings(ctx: Ctx, Path(deployment): Path<String>, body: Bytes) -> Response {
    if let Some(resp) = check(&ctx, true) {
        return resp;
    }
    openai_embeddings::embed(&ctx, Flavor::Azure, &body, Some(&deployment))
}

/// POST /openai/v1/chat/completions (the v1 surface: model in the body, api-version optional).
pub(crate) async fn chat_v1(ctx: Ctx, body: Bytes) -> Response {
    if let Some(resp) = check(&ctx, false) {
        return resp;
    }
    openai::chat_completion(&ctx, Flavor::Azure, &body, None)
}

/// POST /openai/v1/embeddings.
pub(crate) async fn embeddings_v1(ctx: Ctx, body: Bytes) -> Response {
    if let Some(resp) = check(&ctx, false) {
        return resp;
    }
    openai_embeddings::embed(&ctx, Flavor::Azure, &body, None)
}
