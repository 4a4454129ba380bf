//! gRPC adapters: proto in, domain call, proto or Status out.

use fluentedge_proto::conversation::v1::conversation_service_server::ConversationService;

/// RPCs not implemented yet answer UNIMPLEMENTED (the generated defaults).
pub struct ConversationApi;

#[tonic::async_trait]
impl ConversationService for ConversationApi {}
