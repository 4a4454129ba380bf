//! conversation: learners' sessions and the AI tutor.

mod api;
mod config;

pub use config::Config;

use fluentedge_proto::conversation::v1::conversation_service_server::ConversationServiceServer;
use service_kit::bootstrap::{BoxError, Shutdown};
use service_kit::grpc_server::GrpcServer;
use tokio::net::TcpListener;

pub const SERVICE: &str = "conversation";
pub const GRPC_SERVICES: &[&str] = &["fluentedge.conversation.v1.ConversationService"];

/// Serves conversations on `listener` until `shutdown`, then drains.
pub async fn run(config: Config, listener: TcpListener, shutdown: Shutdown) -> Result<(), BoxError> {
    let mut server = GrpcServer::new(SERVICE, config.server.clone(), GRPC_SERVICES).await;
    let max = config.server.max_message_bytes;
    server.add_service(
        ConversationServiceServer::new(api::ConversationApi)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    server.health().set_serving().await;
    server.serve(listener, shutdown).await?;
    Ok(())
}
