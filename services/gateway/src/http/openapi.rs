//! The OpenAPI document, generated from the handlers' annotations and the
//! DTOs' schemas, rendered once at start-up and served at `/openapi.json`.

use super::contract::CommonResponses;
use super::dto::admin::*;
use super::dto::talk::*;
use super::dto::{ErrorBody, ErrorDetail};
use super::openai::dto::*;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FluentEdge API",
        description = "The app API (/api/talk), the admin API (/api/v1/admin) and the OpenAI-compatible API (/v1) of FluentEdge. Errors: `{\"error\":{\"code\",\"message\",\"request_id\"}}`; on /v1 OpenAI's `{\"error\":{\"message\",\"type\",\"param\",\"code\"}}`."
    ),
    paths(
        super::health::health,
        super::ready::ready,
        super::health::metrics,
        super::talk::send_message,
        super::talk::list_scenarios,
        super::talk::create_session,
        super::talk::list_sessions,
        super::talk::get_session,
        super::talk::update_session,
        super::talk::delete_session,
        super::talk::list_messages,
        super::talk::get_profile,
        super::talk::update_profile,
        super::admin::get_budget,
        super::admin::reset_budget,
        super::admin::list_providers,
        super::admin::set_override,
        super::admin::clear_override,
        super::admin::usage_summary,
        super::admin::list_usage,
        super::openai::chat::completions,
        super::openai::embeddings::embeddings,
        super::openai::models,
        super::openai::model,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, Level, MessageDto, SessionDto, ScenarioDto, ProfileDto,
        BudgetDto, ProviderDto, UsageRowDto, UsageRecordDto,
        ChatCompletionRequest, ChatCompletion, EmbeddingsRequest, EmbeddingsResponse, ModelList, ModelDto,
    )),
    modifiers(&Security, &CommonResponses),
    tags(
        (name = "ops", description = "Liveness, readiness, metrics (no authentication)"),
        (name = "talk", description = "The learners' app API (JWT)"),
        (name = "admin", description = "Operators (JWT with the admin role, or the admin API key)"),
        (name = "openai", description = "OpenAI-compatible API (JWT as the API key)"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Admin-Key",
                "The admin API key (also accepted as `Authorization: Bearer fe-admin-…`)",
            ))),
        );
    }
}

/// The document as JSON (rendered once).
pub fn document_json() -> Bytes {
    Bytes::from(ApiDoc::openapi().to_pretty_json().unwrap_or_default())
}

pub fn response(json: &Bytes) -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        json.clone(),
    )
        .into_response()
}
