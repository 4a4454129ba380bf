//! Every request gets an `X-Request-ID` (a caller's valid one is kept), a span
//! continuing the caller's W3C trace, the request context for downstream gRPC
//! calls, the id on its response, `request_accepted` when it arrives, and its
//! metrics and `request_completed` line when its answer is out
//! ([`Completion`]). Errors on `/v1/*` are re-rendered in OpenAI's shape here, so
//! every layer below can just return an [`ApiError`](crate::errors::ApiError).

use super::completion::Completion;
use crate::errors::ErrorExtension;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::header;
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
    // The OpenTelemetry HTTP conventions; the status is recorded by `Completion`.
    let route_name = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        otel.name = %format!("{method} {route_name}"),
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route_name,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
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
    let completion = Completion {
        started,
        method,
        path,
        route,
        status: response.status().as_u16(),
        reason: response
            .extensions()
            .get::<ErrorExtension>()
            .map(|ErrorExtension(e)| e.code()),
        span,
    };
    completion.when_body_ends(response)
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
