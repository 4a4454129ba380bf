//! llm-router: providers, model tiers, retries, breakers, fallback and the budget breaker.

pub mod admin;
mod api;
mod assembly;
pub mod budget;
pub mod clients;
pub mod clock;
mod config;
pub mod delivery;
pub mod engine;
pub mod money;
pub mod pricing;
pub mod resilience;
pub mod routing;

pub use config::Config;

use service_kit::bootstrap::{BoxError, Shutdown};
use service_kit::grpc_server::GrpcServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const SERVICE: &str = "llm-router";
pub const GRPC_SERVICES: &[&str] = &[
    "fluentedge.router.v1.LlmRouter",
    "fluentedge.router.v1.RouterAdmin",
];

/// Serves the router on `listener` until `shutdown`, then drains and
/// flushes usage. Health is `NOT_SERVING` until the budget can be checked
/// (its store answers and the month's state exists or was rebuilt).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), BoxError> {
    // Provider clients speak TLS; idempotent when `main` already did it.
    service_kit::install_crypto_provider();
    service_kit::metrics::install();
    let router = assembly::Router::assemble(&config).await?;
    let mut server = GrpcServer::new(SERVICE, config.server.clone(), GRPC_SERVICES).await;
    server.authorize(api::access::policy);
    router.add_services(&mut server, config.server.max_message_bytes);

    // Background work stops as soon as shutdown begins; the drain follows.
    let background = CancellationToken::new();
    service_kit::bootstrap::spawn_metrics(
        config.server.metrics_addr.as_deref(),
        background.clone(),
    )
    .await?;
    let tasks = TaskTracker::new();
    router.spawn_background(&tasks, server.health(), &background);
    let stop_background = background.clone();
    let served = server
        .serve(listener, async move {
            shutdown.await;
            stop_background.cancel();
        })
        .await;
    background.cancel();
    tasks.close();
    tasks.wait().await;
    router.shutdown().await;
    served?;
    Ok(())
}
