//! The request context that travels with a request across every hop.
//!
//! The gateway (or the first gRPC server a request reaches) decides the
//! request id; W3C `traceparent` carries the OpenTelemetry trace. The subject
//! (the person a call is made for) is never read from a bare header: the
//! gateway sets it from a verified JWT, and gRPC servers from the verified
//! service token ([`crate::auth`]), which the next hop's token carries on. Servers scope
//! the context as a task-local around the handler, so the gRPC client
//! interceptor ([`crate::grpc_client::ContextInterceptor`]) can forward it
//! downstream without every call site threading it by hand.

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const TRACEPARENT_HEADER: &str = "traceparent";

tokio::task_local! {
    static CURRENT: RequestContext;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub request_id: String,
    /// The verified person the request is made for, if any.
    pub subject: Option<String>,
    /// Whether that person is an administrator or operator.
    pub admin: bool,
}

impl RequestContext {
    pub fn new(request_id: String, subject: Option<String>) -> Self {
        Self {
            request_id,
            subject,
            admin: false,
        }
    }

    /// The role the next hop's service token states for this request.
    pub fn role(&self) -> crate::auth::Role {
        match (&self.subject, self.admin) {
            (None, _) => crate::auth::Role::Service,
            (Some(_), true) => crate::auth::Role::Admin,
            (Some(_), false) => crate::auth::Role::User,
        }
    }

    /// A context with a fresh request id (a caller sent none, or an invalid one).
    pub fn generated() -> Self {
        Self::new(new_request_id(), None)
    }

    /// The caller's request id when it is valid, else a new one (no subject:
    /// that comes only from a verified credential).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let request_id = headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_valid_request_id(v))
            .map(str::to_owned)
            .unwrap_or_else(new_request_id);
        Self::new(request_id, None)
    }

    /// The context of the request being served on this task, if any.
    pub fn current() -> Option<RequestContext> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `fut` with this context as the current one.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// Writes the request id and the current span's trace context.
    pub fn inject(&self, headers: &mut HeaderMap) {
        if let Ok(v) = self.request_id.parse() {
            headers.insert(REQUEST_ID_HEADER, v);
        }
        inject_trace_context(headers);
    }
}

pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Ids we accept from callers: 1 to 128 characters of `[A-Za-z0-9._:-]`, so an
/// id can never break a log line or a header.
pub fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Makes `span` a child of the trace context in `headers` (W3C traceparent).
pub fn set_parent_from_headers(span: &tracing::Span, headers: &HeaderMap) {
    if !headers.contains_key(TRACEPARENT_HEADER) {
        return;
    }
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    let _ = span.set_parent(parent);
}

/// Writes the current span's trace context into `headers`.
pub fn inject_trace_context(headers: &mut HeaderMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers))
    });
}

/// The current span's W3C `traceparent`, to carry a trace across a queue
/// (the router's usage outbox); `None` outside any trace.
pub fn current_traceparent() -> Option<String> {
    let mut headers = HeaderMap::new();
    inject_trace_context(&mut headers);
    headers
        .get(TRACEPARENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Links `span` to the trace a [`current_traceparent`] came from: work done
/// later for many requests at once (a usage batch) points back at each.
pub fn link_to_traceparent(span: &tracing::Span, traceparent: &str) {
    use opentelemetry::trace::TraceContextExt;
    let mut headers = HeaderMap::new();
    let Ok(value) = traceparent.parse() else {
        return;
    };
    headers.insert(TRACEPARENT_HEADER, value);
    let cx =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(&headers)));
    let linked = cx.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// The trace id of `span` as 32 hex digits, when it has one.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_valid_ids_and_replaces_bad_ones() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID_HEADER, "abc-123".parse().unwrap());
        assert_eq!(RequestContext::from_headers(&h).request_id, "abc-123");
        h.insert(REQUEST_ID_HEADER, "has space".parse().unwrap());
        let id = RequestContext::from_headers(&h).request_id;
        assert_ne!(id, "has space");
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        assert!(!is_valid_request_id(&"a".repeat(129)));
    }

    #[tokio::test]
    async fn scope_makes_the_context_current() {
        assert!(RequestContext::current().is_none());
        let ctx = RequestContext::new("r1".into(), Some("alice".into()));
        let seen = ctx.clone().scope(async { RequestContext::current() }).await;
        assert_eq!(seen, Some(ctx));
    }

    #[test]
    fn inject_writes_the_id_and_never_the_subject() {
        let mut h = HeaderMap::new();
        RequestContext::new("r2".into(), Some("bob".into())).inject(&mut h);
        assert_eq!(h.get(REQUEST_ID_HEADER).unwrap(), "r2");
        assert_eq!(h.len(), 1, "{h:?}");
    }

    #[test]
    fn a_subject_header_is_not_trusted() {
        let mut h = HeaderMap::new();
        h.insert("x-fluentedge-subject", "mallory".parse().unwrap());
        assert_eq!(RequestContext::from_headers(&h).subject, None);
    }
}
