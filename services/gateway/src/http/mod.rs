//! HTTP routes and the middleware stack, declared in order in one place.

mod health;
mod request_id;

use crate::Config;
use axum::Router;
use axum::routing::get;

pub fn router(_config: &Config) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .layer(axum::middleware::from_fn(request_id::request_context))
}
