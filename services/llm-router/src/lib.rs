//! llm-router: providers, model tiers, retries, breakers, fallback and the budget breaker.

pub mod admin;
mod api;
pub mod budget;
pub mod clients;
pub mod clock;
mod config;
pub mod delivery;
pub mod engine;
pub mod money;
pub mod pricing;
pub mod providers;
pub mod resilience;
pub mod routing;

pub use config::Config;

use std::sync::Arc;

use fluentedge_proto::router::v1::llm_router_server::LlmRouterServer;
use fluentedge_proto::router::v1::router_admin_server::RouterAdminServer;
use service_kit::bootstrap::{BoxError, Shutdown};
use service_kit::grpc_server::GrpcServer;
use tokio::net::TcpListener;

pub const SERVICE: &str = "llm-router";
pub const GRPC_SERVICES: &[&str] = &[
    "fluentedge.router.v1.LlmRouter",
    "fluentedge.router.v1.RouterAdmin",
];

/// Serves the router on `listener` until `shutdown`, then drains.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), BoxError> {
    // Provider clients speak TLS; idempotent when `main` already did it.
    service_kit::install_crypto_provider();
    let engine = Arc::new(engine::Engine::connect(&config.routing)?);
    let mut server = GrpcServer::new(SERVICE, config.server.clone(), GRPC_SERVICES).await;
    let max = config.server.max_message_bytes;
    server.add_service(
        LlmRouterServer::new(api::RouterApi::new(engine))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    server.add_service(
        RouterAdminServer::new(api::AdminApi)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    server.health().set_serving().await;
    server.serve(listener, shutdown).await?;
    Ok(())
}
