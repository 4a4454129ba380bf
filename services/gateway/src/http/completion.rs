//! The end of an HTTP request: its metrics and its `request_completed` line,
//! logged at the level an operator alerts on (ERROR for a 5xx, a fault of ours
//! or of the providers; WARNING for a 429, a budget or rate-limit refusal;
//! INFO otherwise). A streamed answer (SSE) is complete when its body ends or
//! the client goes away, not when its headers go out, so its duration is the
//! stream's and its line comes after everything the request caused.

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::response::Response;
use futures::StreamExt;
use http::{Method, header};
use std::time::Instant;

/// What `request_completed` says about one request; logged when dropped,
/// which also ends the request's span (this holds its last handle), so the
/// span of a stream lasts as long as the stream.
pub struct Completion {
    pub started: Instant,
    pub method: Method,
    pub path: String,
    pub route: Option<MatchedPath>,
    pub status: u16,
    /// The error code of an error response (`budget_exceeded`, `rate_limited`, ...).
    pub reason: Option<&'static str>,
    /// The request's span, so the line carries its request id and trace.
    pub span: tracing::Span,
}

impl Completion {
    /// `response`, completed now, or when its body ends if it is a stream.
    pub fn when_body_ends(self, response: Response) -> Response {
        let streamed = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if !streamed {
            return response;
        }
        let (parts, body) = response.into_parts();
        // The stream owns the completion: it is dropped (and logged) when
        // hyper drops the body, after its last frame or on a disconnect.
        let chunks = body.into_data_stream().map(move |chunk| {
            let _completion = &self;
            chunk
        });
        Response::from_parts(parts, Body::from_stream(chunks))
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        record_metrics(
            &self.method,
            self.route.as_ref(),
            self.status,
            elapsed.as_secs_f64(),
        );
        let duration_ms = (elapsed.as_secs_f64() * 100_000.0).round() / 100.0;
        self.span
            .record("http.response.status_code", i64::from(self.status));
        if self.status >= 500 {
            self.span.record("otel.status_code", "ERROR");
        }
        self.span.in_scope(|| {
            log_completed(
                &self.method,
                &self.path,
                self.status,
                duration_ms,
                self.reason,
            )
        });
    }
}

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
