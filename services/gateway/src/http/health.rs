//! Liveness and metrics: no authentication, no backend calls.

use axum::response::IntoResponse;
use http::header;

/// Byte for byte what operators' monitors match.
const HEALTHY: &str = r#"{"status":"healthy","service":"fluentedge-api"}"#;

/// The process is up (`{"status":"healthy","service":"fluentedge-api"}`).
/// Dependencies are `/ready`'s business.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "Alive", body = Object)))]
pub(super) async fn health() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], HEALTHY)
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(super) async fn metrics() -> impl IntoResponse {
    service_kit::metrics::response()
}
