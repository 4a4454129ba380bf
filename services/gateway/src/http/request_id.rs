//! Every request gets an `X-Request-ID` (a caller's valid one is kept), a span
//! continuing the caller's W3C trace, the request context for downstream gRPC
//! calls, the id on its response, its metrics, and two log lines: `request_accepted`
//! when it arrives and `request_completed` (at ERROR for a 5xx, WARNING for a
//! 429 refusal, so operators alert on what they see) when it is answered. Errors on `/v1/*` are re-rendered in OpenAI's shape here, so
//! every layer below can just return an [`ApiError`](crate::errors::ApiError).

use crate::errors::ErrorExtension;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::{Method, header};
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
    let route = req.extensions().get::<MatchedPath>().cloned();
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
    span.in_scope(|| tracing::info!(method = %method, path = %path, "request_accepted"));
    let mut req = req;
    req.extensions_mut().insert(ctx.clone());
    let mut response = ctx.scope(next.run(req)).instrument(span.clone()).await;
    if path.starts_with("/v1/") {
        response = openai_error_shape(response);
    }
    if let Ok(v) = request_id.parse() {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    record_metrics(&method, route.as_ref(), status, elapsed.as_secs_f64());
    let duration_ms = (elapsed.as_secs_f64() * 100_000.0).round() / 100.0;
    let reason = response
        .extensions()
        .get::<ErrorExtension>()
        .map(|ErrorExtension(e)| e.code());
    span.in_scope(|| log_completed(&method, &path, status, duration_ms, reason));
    response
}

/// `request_completed`, at the level an operator alerts on: ERROR for a 5xx
/// (a fault of ours or of the providers), WARNING for a 429 (budget or rate
/// limit: `reason` says which), INFO otherwise.
fn log_completed(method: &Method, path: &str, status: u16, duration_ms: f64, reason: Option<&str>) {
    macro_rules! completed {
        ($level:ident) => {
            tracing::$level!(
                method = %method,
                path = %path,
                status_code = status,
                duration_ms,
                reason,
                "request_completed"
            )
        };
    }
    match status {
        500.. => completed!(error),
        429 => completed!(warn),
        _ => completed!(info),
    }
}

fn openai_error_shape(response: Response) -> Response {
    let Some(ErrorExtension(error)) = response.extensions().get::<ErrorExtension>().cloned() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&error.openai_body()).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

/// Labels are the method, the route template (never the raw path, whose ids
/// would explode the series) and the status.
fn record_metrics(method: &Method, route: Option<&MatchedPath>, status: u16, seconds: f64) {
    let method = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "OTHER",
    };
    let route = route.map_or_else(|| "unmatched".to_owned(), |r| r.as_str().to_owned());
    metrics::counter!(
        "http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(seconds);
}
