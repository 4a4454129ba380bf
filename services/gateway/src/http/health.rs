//! Liveness, exactly as operators' monitors expect it.

use axum::Json;
use serde_json::{Value, json};

/// `GET /health`: the process is up. Dependencies are `/ready`'s business.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "healthy", "service": "fluentedge-api"}))
}
