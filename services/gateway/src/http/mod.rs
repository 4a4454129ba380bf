//! HTTP routes and the middleware stack, declared in order in one place.
//!
//! Outermost first: request id, trace span, metrics and `request_completed`
//! (and OpenAI-shaped errors on `/v1/*`) → CORS → body size limit (413) →
//! request timeout (504) → authentication per route group → per-subject rate
//! limit (429) → handlers.

mod admin;
mod completion;
mod contract;
mod dto;
mod edges;
mod extract;
mod health;
mod openai;
pub(crate) mod openapi;
mod ready;
mod request_id;
mod sign_in;
mod sse;
mod talk;
mod web;

use crate::Config;
use crate::auth::{self, Access, Authenticator};
use crate::backends::Backends;
use crate::rate_limit::{self, RateLimiter};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;

/// What handlers share: cloned per request, so only `Arc`s (a `Backends`
/// clone is seven channel clones, each with its own drop work).
#[derive(Clone)]
pub struct AppState {
    pub backends: Arc<Backends>,
    pub ready_timeout: Duration,
}

pub fn router(
    config: &Config,
    backends: Backends,
    authenticator: Arc<Authenticator>,
    limiter: Option<Arc<RateLimiter>>,
) -> Router {
    let state = AppState {
        backends: Arc::new(backends),
        ready_timeout: config.ready_timeout,
    };
    let guarded = |routes: Router<AppState>, access: Access| {
        let routes = match &limiter {
            Some(l) => routes.route_layer(from_fn_with_state(l.clone(), rate_limit::limit)),
            None => routes,
        };
        routes.route_layer(from_fn_with_state(
            (authenticator.clone(), access),
            auth::require,
        ))
    };
    let openapi_json = openapi::document_json();
    let web_app = load_web_app(config);
    let development = config.auth.development();
    let dev_sign_in = development.then(|| sign_in::dev_routes(authenticator.clone()));
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(ready::ready))
        .route("/metrics", get(health::metrics))
        .route(
            "/openapi.json",
            get(move || std::future::ready(openapi::response(&openapi_json))),
        )
        .merge(guarded(talk::routes(), Access::User))
        .merge(guarded(openai::routes(), Access::User))
        .merge(guarded(admin::routes(), Access::Admin))
        .merge(sign_in::config_route(&config.web, development))
        .merge(dev_sign_in.unwrap_or_default())
        .fallback_service(get_service_fallback(web_app))
        .method_not_allowed_fallback(edges::method_not_allowed)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(request_id::request_context))
                .option_layer(edges::cors(&config.cors_allow_origins))
                .layer(from_fn_with_state(config.max_body_bytes, edges::body_limit))
                .layer(DefaultBodyLimit::max(config.max_body_bytes))
                .layer(from_fn_with_state(config.request_timeout, edges::timeout)),
        )
}

/// The web app, or `None` with one log line saying the gateway serves the API alone.
fn load_web_app(config: &Config) -> Option<Arc<web::WebApp>> {
    match web::WebApp::load(&config.web) {
        Ok(Some(app)) => {
            tracing::info!(files = app.file_count(), dir = ?config.web.dir, "web.serving");
            Some(Arc::new(app))
        }
        Ok(None) => {
            tracing::info!("web.absent: no built web app (WEB_DIR), serving the API alone");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, dir = ?config.web.dir, "web.unreadable: serving the API alone");
            None
        }
    }
}

fn get_service_fallback(web_app: Option<Arc<web::WebApp>>) -> Router {
    Router::new().fallback(web::fallback).with_state(web_app)
}
