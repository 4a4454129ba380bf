//! gRPC adapters: proto in, domain call, proto or Status out.

use fluentedge_proto::usage::v1::usage_ledger_server::UsageLedger;

/// RPCs not implemented yet answer UNIMPLEMENTED (the generated defaults).
pub struct UsageLedgerApi;

#[tonic::async_trait]
impl UsageLedger for UsageLedgerApi {}
