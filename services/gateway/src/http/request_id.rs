//! Every request gets an `X-Request-ID` (a caller's valid one is kept), a span
//! continuing the caller's W3C trace, the request context for downstream gRPC
//! calls, the id on its response, and one `request_completed` log line.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use service_kit::RequestContext;
use service_kit::context::{self, REQUEST_ID_HEADER};
use std::time::Instant;
use tracing::Instrument;

pub async fn request_context(req: Request, next: Next) -> Response {
    let started = Instant::now();
    // The subject comes from authentication, never from a client header.
    let mut ctx = RequestContext::from_headers(req.headers());
    ctx.subject = None;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        request_id = %ctx.request_id,
        trace_id = tracing::field::Empty,
    );
    context::set_parent_from_headers(&span, req.headers());
    if let Some(trace_id) = context::trace_id_of(&span) {
        span.record("trace_id", trace_id);
    }
    let request_id = ctx.request_id.clone();
    let mut req = req;
    req.extensions_mut().insert(ctx.clone());
    let mut response = ctx.scope(next.run(req)).instrument(span.clone()).await;
    if let Ok(v) = request_id.parse() {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            path = %path,
            status_code = status,
            duration_ms = (duration_ms * 100.0).round() / 100.0,
            "request_completed"
        );
    });
    response
}
