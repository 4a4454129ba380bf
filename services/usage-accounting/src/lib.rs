//! usage-accounting: the ledger of every LLM call (tokens, cost, outcome).

mod api;
mod config;

pub use config::Config;

use fluentedge_proto::usage::v1::usage_ledger_server::UsageLedgerServer;
use service_kit::bootstrap::{BoxError, Shutdown};
use service_kit::grpc_server::GrpcServer;
use tokio::net::TcpListener;

pub const SERVICE: &str = "usage-accounting";
pub const GRPC_SERVICES: &[&str] = &["fluentedge.usage.v1.UsageLedger"];

/// Serves the ledger on `listener` until `shutdown`, then drains.
pub async fn run(config: Config, listener: TcpListener, shutdown: Shutdown) -> Result<(), BoxError> {
    let mut server = GrpcServer::new(SERVICE, config.server.clone(), GRPC_SERVICES).await;
    let max = config.server.max_message_bytes;
    server.add_service(
        UsageLedgerServer::new(api::UsageLedgerApi)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    server.health().set_serving().await;
    server.serve(listener, shutdown).await?;
    Ok(())
}
