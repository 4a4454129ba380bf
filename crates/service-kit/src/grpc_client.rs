//! gRPC client channels to other FluentEdge services.
//!
//! One channel per backend, created at start-up and cloned per call (tonic
//! channels multiplex over HTTP/2). Several addresses are balanced over.
//! [`ContextInterceptor`] forwards the current request context.

use crate::context::RequestContext;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

#[derive(Debug, thiserror::Error)]
#[error("invalid backend address {addr:?}: {message}")]
pub struct ChannelError {
    pub addr: String,
    pub message: String,
}

/// A lazily connecting channel balanced over `addrs` (comma-separated
/// `http://host:port` or `host:port`), with TCP_NODELAY, keepalives and a
/// connect timeout. Lazy, so a service starts even when a backend is not up yet.
pub fn channel(addrs: &str) -> Result<Channel, ChannelError> {
    let mut endpoints = Vec::new();
    for addr in addrs.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let uri = if addr.contains("://") {
            addr.to_owned()
        } else {
            format!("http://{addr}")
        };
        let endpoint = Endpoint::from_shared(uri).map_err(|e| ChannelError {
            addr: addr.to_owned(),
            message: e.to_string(),
        })?;
        endpoints.push(
            endpoint
                .tcp_nodelay(true)
                .connect_timeout(Duration::from_secs(2))
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_timeout(Duration::from_secs(10))
                .keep_alive_while_idle(true),
        );
    }
    match endpoints.len() {
        0 => Err(ChannelError {
            addr: addrs.to_owned(),
            message: "no address given".into(),
        }),
        1 => Ok(endpoints.remove(0).connect_lazy()),
        _ => Ok(Channel::balance_list(endpoints.into_iter())),
    }
}

/// Adds the current request's id, subject and trace context to every call.
#[derive(Clone, Copy, Debug, Default)]
pub struct ContextInterceptor;

impl tonic::service::Interceptor for ContextInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let ctx = RequestContext::current().unwrap_or_else(RequestContext::generated);
        let mut headers = std::mem::take(req.metadata_mut()).into_headers();
        ctx.inject(&mut headers);
        *req.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(req)
    }
}

/// The channel type every generated client is built on.
pub type InterceptedChannel =
    tonic::service::interceptor::InterceptedService<Channel, ContextInterceptor>;

/// A channel with the [`ContextInterceptor`]: `FooClient::new(intercepted(channel))`.
pub fn intercepted(channel: Channel) -> InterceptedChannel {
    tonic::service::interceptor::InterceptedService::new(channel, ContextInterceptor)
}
