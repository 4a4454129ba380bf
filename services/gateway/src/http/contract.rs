//! The statuses every operation can answer because of what stands in front of
//! its handler (the middleware stack in `http/mod.rs`), added to the OpenAPI
//! document in one place so no operation's annotation can forget one:
//!
//! - a body (413 too large, 415 not JSON, 400 unparsable or invalid),
//! - parameters (400 invalid),
//! - authentication (401) and the per-subject rate limit (429); admin
//!   routes also 403 for a caller without the admin role,
//! - a backend call (503 unavailable, 504 timed out, 500 a backend's
//!   internal error, 409 a conflicting change).
//!
//! Handlers keep documenting their own statuses (201, 404, the budget's 429,
//! ...) with their specific descriptions; this only fills the gaps.

use super::dto::ErrorBody;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, PartialSchema};

pub struct CommonResponses;

/// Tags whose operations call a backend over gRPC.
const BACKED_TAGS: &[&str] = &["talk", "admin", "openai"];

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add_common(operation);
            }
        }
    }
}

fn add_common(op: &mut Operation) {
    let tagged = |tag: &str| op.tags.iter().flatten().any(|t| t == tag);
    let has_body = op.request_body.is_some();
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let guarded = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let backed = BACKED_TAGS.iter().any(|t| tagged(t));
    let admin = tagged("admin");
    // `/v1/*` answers errors in OpenAI's shape (see `errors.rs`).
    let body = if tagged("openai") {
        openai_error_body()
    } else {
        ErrorBody::schema()
    };

    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(description, body.clone())));
    };
    if has_body {
        add(
            "400",
            "The body is not valid JSON, or a field breaks a rule (the message names it)",
        );
        add("413", "The body is larger than GATEWAY_MAX_BODY_BYTES");
        add("415", "The body is not `Content-Type: application/json`");
    } else if has_params {
        add("400", "A parameter breaks a rule (the message names it)");
    }
    if guarded {
        add("401", "No valid token or admin key");
        add("429", "Rate limited (`Retry-After` says when to retry)");
    }
    if admin {
        add("403", "The caller does not have the admin role");
    }
    if backed {
        add("500", "A backend failed with an internal error");
        add("503", "A backend is unavailable (the message names it)");
        add(
            "504",
            "The backend did not answer within GATEWAY_REQUEST_TIMEOUT_MS",
        );
    }
}

fn error_response(description: &str, body: RefOr<Schema>) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(body)).build(),
        )
        .build()
}

/// `{"error":{"message","type","param","code"}}`, what the `openai` SDKs read.
fn openai_error_body() -> RefOr<Schema> {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let nullable = || {
        ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
    };
    let detail = ObjectBuilder::new()
        .property("message", string())
        .required("message")
        .property("type", string())
        .required("type")
        .property("param", nullable())
        .property("code", nullable());
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .property("error", detail)
            .required("error")
            .build(),
    ))
}
