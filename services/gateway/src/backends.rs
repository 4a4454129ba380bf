//! The gRPC backends: one channel each, built once at start-up (lazy,
//! balanced over every address given, TCP_NODELAY), with clients cloned per
//! request. Every call carries the request context (request id, subject,
//! traceparent) through the interceptor and a deadline.

use crate::Config;
use fluentedge_proto::conversation::v1::conversation_service_client::ConversationServiceClient;
use fluentedge_proto::router::v1::llm_router_client::LlmRouterClient;
use fluentedge_proto::router::v1::router_admin_client::RouterAdminClient;
use fluentedge_proto::usage::v1::usage_ledger_client::UsageLedgerClient;
use service_kit::grpc_client::{self, ChannelError, InterceptedChannel};
use std::time::Duration;
use tonic::transport::Channel;

pub const CONVERSATION: &str = "conversation";
pub const ROUTER: &str = "llm-router";
pub const USAGE: &str = "usage-accounting";

/// Embeddings of many inputs are large; 32 MiB leaves room for 256 × 3072 floats.
const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone)]
pub struct Backends {
    conversation: ConversationServiceClient<InterceptedChannel>,
    router: LlmRouterClient<InterceptedChannel>,
    router_admin: RouterAdminClient<InterceptedChannel>,
    usage: UsageLedgerClient<InterceptedChannel>,
    /// Raw channels, for `grpc.health.v1` checks.
    channels: [(&'static str, Channel); 3],
    unary_timeout: Duration,
    stream_timeout: Duration,
}

impl Backends {
    pub fn new(config: &Config) -> Result<Self, ChannelError> {
        let conversation = grpc_client::channel(&config.conversation_addr)?;
        let router = grpc_client::channel(&config.router_addr)?;
        let usage = grpc_client::channel(&config.usage_addr)?;
        let ic = |c: &Channel| grpc_client::intercepted(c.clone());
        Ok(Self {
            conversation: ConversationServiceClient::new(ic(&conversation))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            router: LlmRouterClient::new(ic(&router))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            router_admin: RouterAdminClient::new(ic(&router)),
            usage: UsageLedgerClient::new(ic(&usage)).max_decoding_message_size(MAX_MESSAGE_BYTES),
            channels: [
                (CONVERSATION, conversation),
                (ROUTER, router),
                (USAGE, usage),
            ],
            unary_timeout: config.request_timeout,
            stream_timeout: config.stream_timeout,
        })
    }

    pub fn conversation(&self) -> ConversationServiceClient<InterceptedChannel> {
        self.conversation.clone()
    }

    pub fn router(&self) -> LlmRouterClient<InterceptedChannel> {
        self.router.clone()
    }

    pub fn router_admin(&self) -> RouterAdminClient<InterceptedChannel> {
        self.router_admin.clone()
    }

    pub fn usage(&self) -> UsageLedgerClient<InterceptedChannel> {
        self.usage.clone()
    }

    pub fn channels(&self) -> &[(&'static str, Channel)] {
        &self.channels
    }

    /// A unary call's request, with its deadline.
    pub fn unary<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(self.unary_timeout);
        req
    }

    /// A streaming call's request: the deadline covers the whole stream.
    pub fn streaming<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(self.stream_timeout);
        req
    }
}
