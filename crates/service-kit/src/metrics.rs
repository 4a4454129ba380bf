//! Prometheus metrics: one recorder per process, served on a small HTTP port
//! (`METRICS_ADDR`) by the gRPC services and on `/metrics` by the gateway.
//! Labels are a closed, low-cardinality vocabulary: never ids or error text.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds, from 0.5 ms to 2 min (LLM calls are slow, the gateway is not).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0,
];

/// Installs the global recorder (once per process) and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (tests): render an empty one.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// The text exposition of every metric.
pub fn render() -> String {
    install().render()
}

pub(crate) fn record_grpc_request(service: &'static str, rpc: &str, code: &str, elapsed: Duration) {
    // The method path is a closed set (the proto's RPCs).
    let labels = [
        ("service", service.to_owned()),
        ("rpc", rpc.to_owned()),
        ("code", code.to_owned()),
    ];
    metrics::counter!("grpc_server_requests_total", &labels).increment(1);
    metrics::histogram!("grpc_server_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use axum::routing::get;
    install();
    let app = axum::Router::new().route("/metrics", get(|| async { render() }));
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(error = %e, "metrics.server_failed");
    }
}
