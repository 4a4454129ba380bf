//! gRPC adapters: proto in, domain call, proto or Status out.

use fluentedge_proto::router::v1::llm_router_server::LlmRouter;
use fluentedge_proto::router::v1::router_admin_server::RouterAdmin;

/// RPCs not implemented yet answer UNIMPLEMENTED (the generated defaults).
pub struct RouterApi;

#[tonic::async_trait]
impl LlmRouter for RouterApi {}

pub struct AdminApi;

#[tonic::async_trait]
impl RouterAdmin for AdminApi {}
