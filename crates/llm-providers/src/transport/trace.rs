//! Every request to a vendor is an OpenTelemetry CLIENT span (the HTTP client
//! and GenAI conventions) whose context travels in the request's W3C
//! `traceparent`, next to the caller's `x-request-id`: a vendor's (or the
//! simulator's) logs can then be joined to ours.
//!
//! The GenAI attributes come from [`labelled`], which the registry's providers
//! scope around each call ([`crate::registry::Registry::insert`]), so vendor
//! clients need not thread the model down to the transport.

use std::future::Future;

use http::HeaderMap;
use service_kit::context::{RequestContext, inject_trace_context};
use tracing::Span;
use tracing::field::Empty;

tokio::task_local! {
    static CALL: GenAiCall;
}

/// What the GenAI conventions say about the call a request belongs to.
#[derive(Debug, Clone)]
struct GenAiCall {
    system: &'static str,
    model: String,
}

/// Runs `fut` as a call of `model` on the vendor `system` (`gen_ai.system`).
pub async fn labelled<F: Future>(system: &'static str, model: &str, fut: F) -> F::Output {
    let call = GenAiCall {
        system,
        model: model.to_owned(),
    };
    CALL.scope(call, fut).await
}

/// The CLIENT span of `request`. `url.full` keeps scheme, host, port and
/// path only: query strings may hold keys (Gemini's `?key=`) and user info
/// is a credential.
pub fn client_span(request: &reqwest::Request) -> Span {
    let url = request.url();
    let method = request.method().as_str();
    let port = url.port_or_known_default().map(i64::from);
    let full = format!(
        "{}://{}{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port().map(|p| format!(":{p}")).unwrap_or_default(),
        url.path()
    );
    let span = tracing::info_span!(
        "provider.http",
        otel.kind = "client",
        otel.name = method,
        otel.status_code = Empty,
        http.request.method = method,
        server.address = url.host_str().unwrap_or_default(),
        server.port = port,
        url.full = %full,
        http.response.status_code = Empty,
        error.type = Empty,
        gen_ai.system = Empty,
        gen_ai.request.model = Empty,
    );
    let _ = CALL.try_with(|call| {
        span.record("gen_ai.system", call.system);
        span.record("gen_ai.request.model", call.model.as_str());
    });
    span
}

/// Writes `span`'s `traceparent` and the caller's request id (never the
/// subject: vendors have no business knowing who asked).
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    span.in_scope(|| inject_trace_context(headers));
    if let Some(id) = RequestContext::current().and_then(|c| c.request_id.parse().ok()) {
        headers.insert(service_kit::context::REQUEST_ID_HEADER, id);
    }
}

/// The answer's status; 4xx and 5xx fail the span, as the HTTP client
/// conventions have it.
pub fn record_status(span: &Span, status: u16) {
    span.record("http.response.status_code", i64::from(status));
    if status >= 400 {
        span.record("error.type", status.to_string().as_str());
        span.record("otel.status_code", "ERROR");
    }
}

/// No answer at all (connect, timeout): the error's reason as `error.type`.
pub fn record_failure(span: &Span, reason: &'static str) {
    span.record("error.type", reason);
    span.record("otel.status_code", "ERROR");
}

/// The vendor's id for its answer (`gen_ai.response.id`), recorded on the
/// span the provider is called in: the caller's attempt span declares the
/// field, so the id lands there for unary and streamed calls alike (the
/// CLIENT span has ended by the time a body is parsed).
pub fn response_id(id: Option<&str>) {
    if let Some(id) = id.filter(|id| !id.is_empty()) {
        Span::current().record("gen_ai.response.id", id);
    }
}

/// A stream's response id, recorded once: vendors repeat it on every chunk.
#[derive(Debug, Default)]
pub struct StreamResponseId {
    recorded: bool,
}

impl StreamResponseId {
    pub fn see(&mut self, id: Option<&str>) {
        if !self.recorded && id.is_some_and(|id| !id.is_empty()) {
            response_id(id);
            self.recorded = true;
        }
    }
}
