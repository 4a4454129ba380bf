//! usage-accounting: the ledger of every LLM call (tokens, cost, outcome),
//! and the reports the budget and the bills are checked against.

mod api;
pub mod cli;
pub mod config;
pub mod domain;
pub mod ledger;
mod metrics;
mod readiness;
pub mod retention;
pub mod storage;

pub use config::{Config, Database};
pub use ledger::Ledger;

use fluentedge_proto::usage::v1::usage_ledger_server::UsageLedgerServer;
use service_kit::bootstrap::{BoxError, Shutdown};
use service_kit::grpc_server::GrpcServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const SERVICE: &str = "usage-accounting";
pub const GRPC_SERVICES: &[&str] = &["fluentedge.usage.v1.UsageLedger"];

/// Serves the ledger on `listener` until `shutdown`, then drains. Health is
/// `NOT_SERVING` until the database is reachable and migrated.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), BoxError> {
    service_kit::metrics::describe(metrics::FAMILIES);
    // A bad URL or an uncreatable SQLite directory is a configuration error: fail now.
    let store = storage::open(&config.database, config.db_max_connections)?;
    let metrics_stop = CancellationToken::new();
    service_kit::bootstrap::spawn_metrics(
        config.server.metrics_addr.as_deref(),
        metrics_stop.clone(),
    )
    .await?;

    let mut server = GrpcServer::new(SERVICE, config.server.clone(), GRPC_SERVICES).await;
    server.authorize(api::access::policy);
    let max = config.server.max_message_bytes;
    let ledger = Ledger::pending();
    server.add_service(
        UsageLedgerServer::new(api::UsageLedgerApi::new(ledger.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );

    // Background work stops as soon as shutdown begins; the drain follows.
    let background = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(
        readiness::Supervisor {
            store,
            ledger,
            health: server.health(),
            retention: config.retention,
            cancel: background.clone(),
            tasks: tasks.clone(),
        }
        .run(),
    );
    let stop_background = background.clone();
    let result = server
        .serve(listener, async move {
            shutdown.await;
            stop_background.cancel();
        })
        .await;
    background.cancel();
    tasks.close();
    tasks.wait().await;
    metrics_stop.cancel();
    result?;
    Ok(())
}
