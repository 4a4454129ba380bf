//! The edges every request passes: CORS, body size, timeout, unknown routes.

use crate::errors::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, header};
use service_kit::ErrorCode;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// CORS for exactly the configured origins; none configured, no CORS at all
/// (browsers then refuse cross-origin calls, which is the safe default).
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("traceparent"),
                HeaderName::from_static("x-admin-key"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
}

/// 413 before reading a body whose declared length is too large. Bodies
/// without a length are cut by `DefaultBodyLimit` while they are read.
pub async fn body_limit(State(max): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than the {max} bytes this server accepts"),
        )
        .into_response();
    }
    next.run(req).await
}

/// 504 when the response has not started within the request timeout.
/// Streams are bounded by their gRPC deadline once they have started.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::DeadlineExceeded,
            format!("the request took longer than {} ms", limit.as_millis()),
        )
        .into_response(),
    }
}

pub async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

pub async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::http(
        http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}
