//! conversation: learners' sessions and the AI tutor.
//!
//! A request flows `api` (gRPC adapters) → `service` (the logic) → `domain`
//! (pure rules: scenarios, levels, the prompt) and `storage` (PostgreSQL or
//! embedded SQLite) / `clients` (the llm-router).

mod api;
pub mod clients;
pub mod config;
pub mod domain;
mod metrics;
pub mod service;
pub mod storage;

pub use config::Config;

use clients::router::{GrpcRouter, TutorModel};
use config::Database;
use fluentedge_proto::conversation::v1::conversation_service_server::ConversationServiceServer;
use service::{Conversations, SystemClock, TutorSettings};
use service_kit::bootstrap::{BoxError, Shutdown};
use service_kit::grpc_server::{GrpcServer, Health};
use std::sync::Arc;
use std::time::Duration;
use storage::{DynStore, PostgresStore, SqliteStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const SERVICE: &str = "conversation";
pub const GRPC_SERVICES: &[&str] = &["fluentedge.conversation.v1.ConversationService"];

/// How often the pool gauges are sampled.
const POOL_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Opens the configured store (lazily: nothing is connected yet).
pub fn open_store(config: &Config) -> Result<DynStore, BoxError> {
    Ok(match &config.database {
        Database::Postgres { url } => {
            Arc::new(PostgresStore::connect_lazy(url, config.db_max_connections)?)
        }
        Database::Sqlite { path } => {
            tracing::info!(path = %path.display(), "storage.sqlite_embedded");
            Arc::new(SqliteStore::open_lazy(path, config.db_max_connections)?)
        }
    })
}

/// Serves conversations on `listener` until `shutdown`, then drains.
/// Health is NOT_SERVING until the database is migrated.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), BoxError> {
    let cancel = CancellationToken::new();
    service_kit::metrics::describe(metrics::FAMILIES);
    service_kit::bootstrap::spawn_metrics(config.server.metrics_addr.as_deref(), cancel.clone())
        .await?;
    let store = open_store(&config)?;
    let router: Arc<dyn TutorModel> =
        Arc::new(GrpcRouter::new(&config.router_addr, config.router_timeout)?);
    let service = Conversations::new(
        store.clone(),
        router,
        config.scenarios.clone(),
        TutorSettings::from_config(&config),
        Arc::new(SystemClock),
    );

    let mut server = GrpcServer::new(SERVICE, config.server.clone(), GRPC_SERVICES).await;
    server.authorize(api::access::policy);
    let max = config.server.max_message_bytes;
    server.add_service(
        ConversationServiceServer::new(api::ConversationApi::new(service.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    let migrating = tokio::spawn(migrate_then_serve(
        store.clone(),
        service.clone(),
        server.health(),
        cancel.clone(),
    ));
    let sampling = tokio::spawn(sample_pool(store, cancel.clone()));

    let stop = cancel.clone();
    let result = server
        .serve(listener, async move {
            shutdown.await;
            stop.cancel();
        })
        .await;
    cancel.cancel();
    // Replies still being produced finish and are stored before we exit.
    if !service.drain(config.server.shutdown_grace).await {
        tracing::warn!("conversation.drain_incomplete");
    }
    let _ = migrating.await;
    let _ = sampling.await;
    result?;
    Ok(())
}

/// Migrates the database (retrying until it is reachable), then flips health to SERVING.
async fn migrate_then_serve(
    store: DynStore,
    service: Conversations,
    health: Health,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match store.migrate().await {
            Ok(()) => {
                service.set_ready();
                if !cancel.is_cancelled() {
                    health.set_serving().await;
                }
                tracing::info!("storage.migrated");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "storage.migrate_failed");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn sample_pool(store: DynStore, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(POOL_SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => metrics::pool(store.pool_stats()),
        }
    }
}
