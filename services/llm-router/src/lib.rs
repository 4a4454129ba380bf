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
mod metrics;
pub mod money;
pub mod pricing;
pub mod redis;
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
    service_kit::metrics::describe(metrics::FAMILIES);
    // Every task runs in this tracker (or one the parts wait for at their
    // shutdown): nothing is cut when the process exits.
    let tasks = TaskTracker::new();
    let router = assembly::Router::assemble(&config, &tasks).await?;
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
    router.spawn_background(&tasks, server.health(), &background);
    let stop_background = background.clone();
    let served = server
        .serve(listener, async move {
            shutdown.await;
            stop_background.cancel();
        })
        .await;
    background.cancel();
    // The last calls' settles and records first; the workers (the settle
    // batcher among them) end once the parts they serve are dropped.
    router.shutdown().await;
    tasks.close();
    tasks.wait().await;
    served?;
    Ok(())
}
