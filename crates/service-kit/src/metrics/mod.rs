//! Prometheus metrics: one recorder per process, served on a small HTTP port
//! (`METRICS_ADDR`) by the gRPC services and on `/metrics` by the gateway.
//! Labels are a closed, low-cardinality vocabulary: never ids or error text.
//!
//! Every family has HELP text (`promtool check metrics` wants it): each
//! service lists its own families in one table and passes it to
//! [`describe`]; this crate describes its own (`grpc_server_*`, `process_*`).

mod process;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// The exposition format's content type (text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family: its name, type and HELP text.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

impl Family {
    pub const fn new(name: &'static str, kind: Kind, help: &'static str) -> Self {
        Self { name, kind, help }
    }
}

/// This crate's own families.
const KIT_FAMILIES: &[Family] = &[
    Family::new(
        "grpc_server_requests_total",
        Kind::Counter,
        "gRPC requests served, by service, RPC and status code.",
    ),
    Family::new(
        "grpc_server_request_duration_seconds",
        Kind::Histogram,
        "Time to serve a gRPC request, by service and RPC.",
    ),
];

/// Gives each of `families` its HELP text (installing the recorder first).
pub fn describe(families: &[Family]) {
    install();
    describe_now(families);
}

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
            let handle = match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (tests): render an empty one.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            };
            describe_now(KIT_FAMILIES);
            handle
        })
        .clone()
}

/// [`describe`] without `install` (called from inside it).
fn describe_now(families: &[Family]) {
    for f in families {
        match f.kind {
            Kind::Counter => metrics::describe_counter!(f.name, f.help),
            Kind::Gauge => metrics::describe_gauge!(f.name, f.help),
            Kind::Histogram => metrics::describe_histogram!(f.name, f.help),
        }
    }
}

/// The text exposition of every metric, with the process's figures as of now.
pub fn render() -> String {
    let mut text = install().render();
    text.push_str(&process::exposition());
    text
}

/// `GET /metrics`: the exposition with its content type.
pub fn response() -> impl axum::response::IntoResponse {
    ([(http::header::CONTENT_TYPE, CONTENT_TYPE)], render())
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
    let app = axum::Router::new().route("/metrics", get(|| async { response() }));
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(error = %e, "metrics.server_failed");
    }
}

/// The pool gauge both database services export.
pub const DB_POOL_CONNECTIONS: Family = Family::new(
    "db_pool_connections",
    Kind::Gauge,
    "Database pool connections, by state (idle, or in use).",
);

/// Metric names recorded with a string literal for a name (`counter!` and the like) in the
/// Rust sources under `dir` that none of `families` describes: what a test
/// asserts is empty, so a new metric cannot ship without HELP text.
pub fn undescribed_in(dir: &std::path::Path, families: &[Family]) -> Vec<String> {
    let mut missing = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        for name in recorded_names(&source) {
            let described = families.iter().chain(KIT_FAMILIES).any(|f| f.name == name);
            if !described && !missing.contains(&name) {
                missing.push(name);
            }
        }
    }
    missing.sort();
    missing
}

/// For each crate's test: every metric its `src/` records has HELP text.
pub fn assert_described(crate_dir: &str, families: &[Family]) {
    let missing = undescribed_in(&std::path::Path::new(crate_dir).join("src"), families);
    assert!(missing.is_empty(), "no HELP text for {missing:?}");
}

fn recorded_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for macro_name in ["counter!(", "gauge!(", "histogram!("] {
        for (at, _) in source.match_indices(macro_name) {
            let rest = source[at + macro_name.len()..].trim_start();
            if let Some(literal) = rest.strip_prefix('"')
                && let Some(end) = literal.find('"')
                && is_metric_name(&literal[..end])
            {
                names.push(literal[..end].to_owned());
            }
        }
    }
    names
}

fn is_metric_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_metric_names_are_found_across_lines() {
        let source = "metrics::counter!(\n    \"a_total\",\n \"x\" => y);\nmetrics::gauge!(\"b\").set(1.0);\nmetrics::histogram!(name);";
        assert_eq!(recorded_names(source), vec!["a_total", "b"]);
    }

    #[test]
    fn this_crate_describes_what_it_records() {
        assert_described(env!("CARGO_MANIFEST_DIR"), &[]);
    }
}
