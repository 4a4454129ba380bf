//! gateway: the HTTP face of FluentEdge (app API, admin API, OpenAI-compatible API).

pub mod auth;
mod backends;
pub mod cli;
mod config;
mod errors;
mod http;
mod rate_limit;
pub mod web_config;

pub use config::{AuthConfig, Config, DEVELOPMENT_JWT_SECRET};

use auth::Authenticator;
use axum::serve::ListenerExt;
use backends::Backends;
use rate_limit::RateLimiter;
use service_kit::bootstrap::{BoxError, Shutdown};
use std::sync::Arc;
use tokio::net::TcpListener;

pub const SERVICE: &str = "gateway";

/// The OpenAPI document the gateway serves at `/openapi.json`.
pub fn openapi_json() -> String {
    String::from_utf8_lossy(&http::openapi::document_json()).into_owned()
}

/// Serves HTTP on `listener` until `shutdown`, then drains in-flight requests.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), BoxError> {
    service_kit::metrics::install();
    let authenticator = Arc::new(Authenticator::from_config(&config.auth)?);
    if config.auth.development() {
        tracing::warn!(
            audience = %config.auth.audience,
            "auth.development_secret"
        );
    }
    let backends = Backends::new(&config)?;
    let limiter = RateLimiter::per_minute(config.rate_limit_per_minute).map(Arc::new);
    let app = http::router(&config, backends, authenticator, limiter);
    let addr = listener.local_addr()?;
    tracing::info!(service = SERVICE, addr = %addr, version = env!("CARGO_PKG_VERSION"), "server.started");
    let listener = listener.tap_io(|tcp| {
        // Nagle + delayed ACK would add ~40 ms to small responses.
        let _ = tcp.set_nodelay(true);
    });
    let drained = tokio_util::sync::CancellationToken::new();
    let signal = {
        let drained = drained.clone();
        async move {
            shutdown.await;
            tracing::info!(service = SERVICE, "server.draining");
            drained.cancel();
        }
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let grace = config.shutdown_grace;
    tokio::select! {
        result = server => result?,
        _ = async { drained.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(service = SERVICE, "server.grace_expired");
        }
    }
    tracing::info!(service = SERVICE, "server.stopped");
    Ok(())
}
