//! The gRPC server bootstrap every service uses.
//!
//! [`GrpcServer`] adds `grpc.health.v1.Health` (starting `NOT_SERVING` until
//! the service says its dependencies are ready), server reflection v1 and
//! v1alpha, the request-context layer (request id, trace parent, span,
//! metrics), a request timeout and a per-connection concurrency limit, and a
//! graceful drain: on shutdown health flips to `NOT_SERVING` first, in-flight
//! calls get `shutdown_grace` to finish, then the server returns.
//!
//! Every call except health checks and reflection must carry a verified
//! service token allowed by the server's [`Policy`] ([`crate::auth`]);
//! a server that declares no policy refuses every call.

use crate::auth::{self, Caller, Policy, Role, policy};
use crate::config::ServerSettings;
use crate::context::{self, REQUEST_ID_HEADER, RequestContext};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// The server's health as orchestrators see it: the overall `""` service and
/// each named service move together.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    services: Vec<&'static str>,
}

impl Health {
    async fn set_all(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        for s in &self.services {
            self.reporter.set_service_status(*s, status).await;
        }
    }

    /// Dependencies are ready: accept traffic.
    pub async fn set_serving(&self) {
        self.set_all(ServingStatus::Serving).await;
    }

    /// Not ready (starting, a dependency is down, or draining).
    pub async fn set_not_serving(&self) {
        self.set_all(ServingStatus::NotServing).await;
    }
}

/// A gRPC server under construction. See the module docs.
pub struct GrpcServer {
    service: &'static str,
    settings: ServerSettings,
    health: Health,
    health_service:
        tonic_health::pb::health_server::HealthServer<crate::grpc_health::DrainingHealth>,
    /// Cancelled when draining starts: ends open health `Watch` streams.
    draining: CancellationToken,
    routes: RoutesBuilder,
    policy: Policy,
}

impl GrpcServer {
    /// `service` names the process in logs; `grpc_services` are the fully
    /// qualified gRPC service names it serves (listed by reflection, and each
    /// given a health status).
    pub async fn new(
        service: &'static str,
        settings: ServerSettings,
        grpc_services: &[&'static str],
    ) -> Self {
        let reporter = HealthReporter::new();
        let draining = CancellationToken::new();
        let health_service = crate::grpc_health::server(&reporter, draining.clone());
        let health = Health {
            reporter,
            services: grpc_services.to_vec(),
        };
        // Not ready until the service says so (its dependencies are up).
        health.set_not_serving().await;
        Self {
            service,
            settings,
            health,
            health_service,
            draining,
            routes: RoutesBuilder::default(),
            policy: policy::deny_all,
        }
    }

    /// Who may call which RPC (see [`crate::auth::policy`]).
    pub fn authorize(&mut self, policy: Policy) -> &mut Self {
        self.policy = policy;
        self
    }

    /// The health handle; every status starts `NOT_SERVING`.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    pub fn add_service<S>(&mut self, svc: S) -> &mut Self
    where
        S: tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.routes.add_service(svc);
        self
    }

    fn reflection_names(&self) -> Vec<&'static str> {
        let mut names = self.health.services.clone();
        names.extend([HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA]);
        names
    }

    /// Serves until `shutdown` resolves, then drains (see the module docs).
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let names = self.reflection_names();
        let reflection = || {
            let mut builder = tonic_reflection::server::Builder::configure()
                .include_reflection_service(false)
                .register_encoded_file_descriptor_set(fluentedge_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                );
            for name in &names {
                builder = builder.with_service_name(*name);
            }
            builder
        };
        // The descriptor sets are compiled in; failing to load them is a build defect.
        #[allow(clippy::expect_used)]
        {
            self.routes.add_service(
                reflection()
                    .build_v1()
                    .expect("reflection descriptors are valid"),
            );
            self.routes.add_service(
                reflection()
                    .build_v1alpha()
                    .expect("reflection descriptors are valid"),
            );
        }
        self.routes.add_service(self.health_service.clone());

        let addr = listener.local_addr().ok();
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let draining = self.draining.clone();
        let signal = {
            let health = self.health.clone();
            let draining = draining.clone();
            let service = self.service;
            async move {
                shutdown.await;
                health.set_not_serving().await;
                tracing::info!(service, "server.draining");
                draining.cancel();
            }
        };
        tracing::info!(
            service = self.service,
            addr = %addr.map(|a| a.to_string()).unwrap_or_default(),
            version = env!("CARGO_PKG_VERSION"),
            "server.started"
        );
        let server = tonic::transport::Server::builder()
            .timeout(self.settings.request_timeout)
            .concurrency_limit_per_connection(self.settings.concurrency_limit)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .layer(RequestContextLayer {
                service: self.service,
                policy: self.policy,
            })
            .add_routes(self.routes.routes())
            .serve_with_incoming_shutdown(incoming, signal);
        tokio::pin!(server);
        let grace = self.settings.shutdown_grace;
        tokio::select! {
            result = &mut server => result?,
            _ = async { draining.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(service = self.service, grace_ms = grace.as_millis() as u64, "server.grace_expired");
            }
        }
        tracing::info!(service = self.service, "server.stopped");
        Ok(())
    }
}

/// Per request: adopt or make the request id, continue the caller's trace,
/// open the request span, scope the [`RequestContext`] for the handler, echo
/// the request id in the response headers, and count the call.
#[derive(Clone)]
pub struct RequestContextLayer {
    service: &'static str,
    policy: Policy,
}

impl<S> tower::Layer<S> for RequestContextLayer {
    type Service = RequestContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContextService {
            inner,
            service: self.service,
            policy: self.policy,
        }
    }
}

#[derive(Clone)]
pub struct RequestContextService<S> {
    inner: S,
    service: &'static str,
    policy: Policy,
}

/// Health checks (orchestrators' probes) and reflection (`grpcurl list`)
/// answer without credentials; they reveal no data.
fn is_public(method: &str) -> bool {
    [HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA]
        .iter()
        .any(|svc| {
            method
                .strip_prefix('/')
                .and_then(|m| m.strip_prefix(svc))
                .is_some_and(|r| r.starts_with('/'))
        })
}

/// The verified caller of `method`, or the status refusing it.
fn authenticate(
    policy: Policy,
    method: &str,
    headers: &http::HeaderMap,
) -> Result<Caller, tonic::Status> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer)
        .ok_or_else(|| {
            tonic::Status::unauthenticated(
                "missing service token: send `authorization: Bearer <token>` (operators: `make token ROLE=admin INTERNAL=1`)",
            )
        })?;
    let credentials = auth::current().ok_or_else(|| {
        tonic::Status::unauthenticated("this server has no trusted keys installed")
    })?;
    let caller = credentials
        .verifier
        .verify(token)
        .map_err(|e| tonic::Status::unauthenticated(e.to_string()))?;
    policy::check(policy, method, &caller)
        .map_err(|e| tonic::Status::permission_denied(e.to_string()))?;
    Ok(caller)
}

impl<S, B, RB> tower::Service<http::Request<B>> for RequestContextService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let mut ctx = RequestContext::from_headers(req.headers());
        let rpc = req.uri().path().to_owned();
        if !is_public(&rpc) {
            match authenticate(self.policy, &rpc, req.headers()) {
                Ok(caller) => {
                    ctx.subject = caller.subject.clone();
                    ctx.admin = caller.role == Role::Admin;
                    req.extensions_mut().insert(caller);
                }
                Err(status) => {
                    tracing::warn!(
                        service = self.service,
                        rpc = %rpc,
                        request_id = %ctx.request_id,
                        code = ?status.code(),
                        reason = status.message(),
                        "grpc.auth_refused"
                    );
                    let code = (status.code() as i32).to_string();
                    crate::metrics::record_grpc_request(self.service, &rpc, &code, Duration::ZERO);
                    let mut res = status.into_http::<RB>();
                    if let Ok(v) = ctx.request_id.parse() {
                        res.headers_mut().insert(REQUEST_ID_HEADER, v);
                    }
                    return Box::pin(std::future::ready(Ok(res)));
                }
            }
        }
        let span = crate::rpc_span::rpc_span!(
            "grpc.request",
            "server",
            &rpc,
            rpc = %rpc,
            request_id = %ctx.request_id,
            trace_id = tracing::field::Empty,
        );
        context::set_parent_from_headers(&span, req.headers());
        if let Some(trace_id) = context::trace_id_of(&span) {
            span.record("trace_id", trace_id);
        }
        req.extensions_mut().insert(ctx.clone());
        let request_id = ctx.request_id.clone();
        let service = self.service;
        let started = Instant::now();
        let fut = tracing::Instrument::instrument(ctx.scope(self.inner.call(req)), span.clone());
        Box::pin(async move {
            let mut res = fut.await?;
            if let Ok(v) = request_id.parse() {
                res.headers_mut().insert(REQUEST_ID_HEADER, v);
            }
            refuse_undecodable_as_invalid(res.headers_mut());
            // tonic answers errors "trailers-only": their status is in the headers.
            let code = res
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0")
                .to_owned();
            crate::metrics::record_grpc_request(service, &rpc, &code, started.elapsed());
            crate::rpc_span::record_status(&span, res.headers());
            Ok(res)
        })
    }
}

/// A request body that is not the method's protobuf message is the caller's
/// mistake: tonic reports it as INTERNAL ("failed to decode Protobuf
/// message"), which reads as our fault and is alerted on, so it becomes
/// INVALID_ARGUMENT with the same message.
fn refuse_undecodable_as_invalid(headers: &mut http::HeaderMap) {
    let internal = headers.get("grpc-status").is_some_and(|v| v == "13");
    let undecodable = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| {
            m.starts_with("failed%20to%20decode%20Protobuf")
                || m.starts_with("failed to decode Protobuf")
        });
    if internal && undecodable {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
}
