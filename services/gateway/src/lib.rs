//! gateway: the HTTP face of FluentEdge (app API, admin API, OpenAI-compatible API).

mod config;
mod http;

pub use config::Config;

use axum::serve::ListenerExt;
use service_kit::bootstrap::{BoxError, Shutdown};
use tokio::net::TcpListener;

pub const SERVICE: &str = "gateway";

/// Serves HTTP on `listener` until `shutdown`, then drains in-flight requests.
pub async fn run(config: Config, listener: TcpListener, shutdown: Shutdown) -> Result<(), BoxError> {
    let app = http::router(&config);
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
