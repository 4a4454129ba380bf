//! gateway: the HTTP face of FluentEdge (app API, admin API, OpenAI-compatible API).

pub mod auth;
mod backends;
mod caller_errors;
pub mod cli;
mod config;
mod errors;
mod http;
mod metrics;
mod rate_limit;
mod server;
pub mod web_config;

pub use config::{AuthConfig, Config, DEVELOPMENT_JWT_SECRET};

use auth::Authenticator;
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
    service_kit::metrics::describe(metrics::FAMILIES);
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
    let stop = tokio_util::sync::CancellationToken::new();
    let server = server::serve(listener, app, config.connection_limits, stop.clone());
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {}
        () = shutdown => {
            tracing::info!(service = SERVICE, "server.draining");
            stop.cancel();
            tokio::select! {
                () = server => {}
                () = tokio::time::sleep(config.shutdown_grace) => {
                    tracing::warn!(service = SERVICE, "server.grace_expired");
                }
            }
        }
    }
    tracing::info!(service = SERVICE, "server.stopped");
    Ok(())
}
