//! The OpenTelemetry RPC conventions, for both ends of a gRPC call: the
//! server's `grpc.request` span ([`crate::grpc_server`]) and the caller's
//! `grpc.client` span ([`ClientSpans`]), with `rpc.system`, `rpc.service`,
//! `rpc.method` and the integer `rpc.grpc.status_code`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tracing::Instrument;

/// An RPC span named `$name` of kind `$kind` for the call to `$path`, with
/// the conventions' attributes (the status ones empty until [`record_status`])
/// and any more fields after them.
macro_rules! rpc_span {
    ($name:literal, $kind:literal, $path:expr $(, $($field:tt)*)?) => {{
        let path: &str = $path;
        let (service, method) = $crate::rpc_span::rpc_parts(path);
        tracing::info_span!(
            $name,
            otel.kind = $kind,
            otel.name = %path.trim_start_matches('/'),
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            $($($field)*)?
        )
    }};
}
pub(crate) use rpc_span;

/// `/fluentedge.router.v1.LlmRouter/Complete` → (`fluentedge.router.v1.LlmRouter`, `Complete`).
pub fn rpc_parts(path: &str) -> (&str, &str) {
    let path = path.trim_start_matches('/');
    path.split_once('/').unwrap_or((path, ""))
}

/// The call's gRPC status on `span` (from the response headers: known there
/// for unary calls and trailers-only errors; a stream's final status travels
/// in its trailers), and ERROR status for the codes that mean the server failed.
pub fn record_status(span: &tracing::Span, headers: &http::HeaderMap) {
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map_or(Some(0), |v| v.parse::<i64>().ok());
    let Some(code) = code else {
        return;
    };
    span.record("rpc.grpc.status_code", code);
    // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
    if matches!(code, 2 | 4 | 12 | 13 | 14 | 15) {
        span.record("otel.status_code", "ERROR");
    }
}

/// A CLIENT span around every outgoing call, entered while the inner service
/// (the context interceptor) writes `traceparent`, so the server's span is
/// its child.
#[derive(Clone, Debug)]
pub struct ClientSpans<S>(pub S);

impl<S, B> tower::Service<http::Request<tonic::body::Body>> for ClientSpans<S>
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let span = rpc_span!("grpc.client", "client", req.uri().path());
        let call = span.in_scope(|| self.0.call(req));
        Box::pin(async move {
            let result = call.instrument(span.clone()).await;
            match &result {
                Ok(response) => record_status(&span, response.headers()),
                Err(_) => {
                    // The call never got an answer: UNAVAILABLE, as tonic reports it.
                    span.record("rpc.grpc.status_code", 14_i64);
                    span.record("otel.status_code", "ERROR");
                }
            }
            result
        })
    }
}
