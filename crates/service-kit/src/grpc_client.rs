//! gRPC client channels to other FluentEdge services.
//!
//! One channel per backend, created at start-up and cloned per call (tonic
//! channels multiplex over HTTP/2). Several addresses are balanced over.
//! [`ContextInterceptor`] forwards the current request context.

use crate::auth::{Role, Signer};
use crate::context::RequestContext;
use crate::rpc_span::ClientSpans;
use std::sync::Arc;
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
    for endpoint in parse_addrs(addrs)? {
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
        1 => Ok(endpoints.remove(0).connect_lazy()),
        _ => Ok(Channel::balance_list(endpoints.into_iter())),
    }
}

/// The endpoints of `addrs` (comma-separated `http(s)://host:port` or
/// `host:port`): at least one, each with an http(s) scheme and a host. Config
/// parsing calls it too, so a typo stops the process before it serves.
pub fn parse_addrs(addrs: &str) -> Result<Vec<Endpoint>, ChannelError> {
    let mut endpoints = Vec::new();
    for addr in addrs.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let invalid = |message: String| ChannelError {
            addr: addr.to_owned(),
            message,
        };
        let uri = if addr.contains("://") {
            addr.to_owned()
        } else {
            format!("http://{addr}")
        };
        let endpoint = Endpoint::from_shared(uri).map_err(|e| invalid(e.to_string()))?;
        let target = endpoint.uri();
        if !matches!(target.scheme_str(), Some("http" | "https")) {
            return Err(invalid("the scheme must be http or https".into()));
        }
        if target.host().is_none_or(str::is_empty) || !matches!(target.path(), "" | "/") {
            return Err(invalid("expected host:port".into()));
        }
        endpoints.push(endpoint);
    }
    if endpoints.is_empty() {
        return Err(ChannelError {
            addr: addrs.to_owned(),
            message: "no address given".into(),
        });
    }
    Ok(endpoints)
}

/// Adds the current request's id and trace context to every call, and the
/// service token that says who calls and for whom ([`crate::auth`]). It signs
/// with the process's installed credentials, or with its own signer (tests that
/// play another service). With no credentials the call fails closed here.
#[derive(Clone, Default)]
pub struct ContextInterceptor {
    signer: Option<Arc<Signer>>,
    /// A fixed person and role instead of the request context's (tools, tests).
    acting: Option<(Option<String>, Role)>,
}

impl tonic::service::Interceptor for ContextInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let ctx = RequestContext::current().unwrap_or_else(RequestContext::generated);
        let (subject, role) = match &self.acting {
            Some((subject, role)) => (subject.as_deref(), *role),
            None => (ctx.subject.as_deref(), ctx.role()),
        };
        let token = match &self.signer {
            Some(signer) => signer.token(subject, role),
            None => match crate::auth::current()
                .as_ref()
                .and_then(|a| a.signer.as_ref())
            {
                Some(signer) => signer.token(subject, role),
                None => {
                    return Err(tonic::Status::unauthenticated(
                        "this process has no service credentials to call other services",
                    ));
                }
            },
        }
        .map_err(|e| tonic::Status::internal(format!("cannot sign the service token: {e}")))?;
        let mut headers = std::mem::take(req.metadata_mut()).into_headers();
        ctx.inject(&mut headers);
        match http::HeaderValue::try_from(format!("Bearer {token}")) {
            Ok(mut value) => {
                value.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, value);
            }
            Err(_) => return Err(tonic::Status::internal("unprintable service token")),
        }
        *req.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(req)
    }
}

/// The channel type every generated client is built on: a CLIENT span per
/// call around the interceptor, so the `traceparent` it sends is the span's.
pub type InterceptedChannel =
    ClientSpans<tonic::service::interceptor::InterceptedService<Channel, ContextInterceptor>>;

fn with_interceptor(channel: Channel, interceptor: ContextInterceptor) -> InterceptedChannel {
    ClientSpans(tonic::service::interceptor::InterceptedService::new(
        channel,
        interceptor,
    ))
}

/// A channel signing with the process's credentials: `FooClient::new(intercepted(channel))`.
pub fn intercepted(channel: Channel) -> InterceptedChannel {
    with_interceptor(channel, ContextInterceptor::default())
}

/// A channel signing with `signer` (a test playing another service, a CLI).
pub fn intercepted_with(channel: Channel, signer: Arc<Signer>) -> InterceptedChannel {
    with_interceptor(
        channel,
        ContextInterceptor {
            signer: Some(signer),
            acting: None,
        },
    )
}

/// A channel that always calls as `subject` in `role`, signed by `signer`
/// (an operator's tool, a test playing the gateway for one person).
pub fn intercepted_as(
    channel: Channel,
    signer: Arc<Signer>,
    subject: Option<&str>,
    role: Role,
) -> InterceptedChannel {
    with_interceptor(
        channel,
        ContextInterceptor {
            signer: Some(signer),
            acting: Some((subject.map(str::to_owned), role)),
        },
    )
}

/// A channel to `addr` calling as an operator with administrator rights, with
/// the public development key: what `make token ROLE=admin INTERNAL=1` gives a
/// person with grpcurl, for tests of services in development mode.
pub fn development_operator(addr: &str) -> Result<InterceptedChannel, ChannelError> {
    Ok(intercepted_as(
        channel(addr)?,
        Arc::new(crate::auth::development_signer(
            crate::auth::Issuer::Operator,
        )),
        Some("test-operator"),
        Role::Admin,
    ))
}

/// A channel to `addr` for tests and development tools that call RPCs of
/// several owners: each call is signed (development key) by the caller the
/// suite's policies admit for it: the router for ledger writes and spend, the
/// gateway for a learner (`dev-learner`) on conversation, an operator with the
/// admin role for everything else. Worthless outside `FLUENTEDGE_DEV=1`.
pub fn development_as_admitted(addr: &str) -> Result<DevelopmentAsAdmitted, ChannelError> {
    Ok(DevelopmentAsAdmitted(channel(addr)?))
}

#[derive(Clone)]
pub struct DevelopmentAsAdmitted(Channel);

impl tower::Service<http::Request<tonic::body::Body>> for DevelopmentAsAdmitted {
    type Response = <Channel as tower::Service<http::Request<tonic::body::Body>>>::Response;
    type Error = <Channel as tower::Service<http::Request<tonic::body::Body>>>::Error;
    type Future = <Channel as tower::Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        use crate::auth::{Issuer, development_signer};
        let path = req.uri().path();
        let ledger_write = [
            "RecordUsage",
            "RecordUsageBatch",
            "RecordBudgetReset",
            "GetSpend",
        ]
        .iter()
        .any(|m| path == format!("/fluentedge.usage.v1.UsageLedger/{m}"));
        let token = if ledger_write {
            development_signer(Issuer::Router).token(None, Role::Service)
        } else if path.starts_with("/fluentedge.conversation.v1.") {
            development_signer(Issuer::Gateway).token(Some("dev-learner"), Role::User)
        } else {
            development_signer(Issuer::Operator).token(Some("test-operator"), Role::Admin)
        };
        if let Ok(Ok(mut value)) = token.map(|t| http::HeaderValue::try_from(format!("Bearer {t}")))
        {
            value.set_sensitive(true);
            req.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        tower::Service::call(&mut self.0, req)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_addrs;

    #[test]
    fn backend_addresses_are_checked() {
        for good in [
            "127.0.0.1:50052",
            "http://a:1, https://b:2",
            "http://[::1]:3",
        ] {
            assert!(parse_addrs(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            " , ",
            "not a uri",
            "http://[::1",
            "ftp://x:1",
            "http://x:1/api",
        ] {
            assert!(parse_addrs(bad).is_err(), "{bad:?}");
        }
    }
}
