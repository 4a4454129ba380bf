//! Provider failures, classified: the class decides retries and fallback.

use std::fmt;
use std::time::Duration;

/// Longest `Retry-After` honoured; a larger value is capped (a buggy or hostile
/// header must not park a request for hours).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What kind of failure a provider call met. A closed set: its
/// [`reason`](ErrorKind::reason) is a metric label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection (refused, DNS, TLS).
    Connect,
    /// A connect, first-token or total timeout.
    Timeout,
    /// HTTP 429 or the vendor's throttling error.
    RateLimited { retry_after: Option<Duration> },
    /// A 5xx answer (the status), or the vendor's internal error.
    ServerError(u16),
    /// The vendor is overloaded (Anthropic 529, `overloaded_error`).
    Overloaded,
    /// Credentials missing, wrong, expired or not allowed (401/403).
    Authentication,
    /// The vendor rejected the request itself (400, 404, 422).
    BadRequest,
    /// The vendor's content filter refused the prompt.
    ContentFiltered,
    /// The prompt does not fit the model's context window.
    ContextTooLong,
    /// A response that does not follow the protocol.
    Malformed,
    /// The stream ended (or the connection dropped) before its terminal event.
    StreamCut,
    /// Not called: this provider's circuit breaker is open (the router's own
    /// verdict, never a vendor's answer).
    CircuitOpen,
}

impl ErrorKind {
    /// Stable snake_case name: metric label, log field, failure messages.
    pub fn reason(&self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::ServerError(_) => "server_error",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Authentication => "authentication",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::ContentFiltered => "content_filtered",
            ErrorKind::ContextTooLong => "context_too_long",
            ErrorKind::Malformed => "malformed",
            ErrorKind::StreamCut => "stream_cut",
            ErrorKind::CircuitOpen => "circuit_open",
        }
    }

    /// Whether the same request may succeed if sent again to the same provider.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::RateLimited { .. }
                | ErrorKind::ServerError(_)
                | ErrorKind::Overloaded
                | ErrorKind::StreamCut
        )
    }

    /// Whether the provider answered and only the request was at fault (a
    /// 400, a prompt too long, a content filter): for its circuit breaker the
    /// provider is up.
    pub fn is_callers_fault(&self) -> bool {
        matches!(
            self,
            ErrorKind::BadRequest | ErrorKind::ContextTooLong | ErrorKind::ContentFiltered
        )
    }

    /// Whether the next candidate should be tried. Everything but a content
    /// filter: another vendor answering a prompt one vendor's filter refused
    /// would make the filter pointless.
    pub fn falls_over(&self) -> bool {
        !matches!(self, ErrorKind::ContentFiltered)
    }

    /// The closest class for an HTTP error status.
    pub fn from_status(status: u16, retry_after: Option<Duration>) -> ErrorKind {
        match status {
            401 | 403 => ErrorKind::Authentication,
            408 => ErrorKind::Timeout,
            413 => ErrorKind::ContextTooLong,
            429 => ErrorKind::RateLimited { retry_after },
            529 => ErrorKind::Overloaded,
            500..=599 => ErrorKind::ServerError(status),
            _ => ErrorKind::BadRequest,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// A classified provider failure with a short message that is safe to log and
/// to show: never a credential, never a whole response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ProviderError {
    kind: ErrorKind,
    message: String,
}

/// Longest vendor message kept (they can echo large parts of a request).
const MAX_MESSAGE_CHARS: usize = 300;

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl AsRef<str>) -> Self {
        Self {
            kind,
            message: sanitize(message.as_ref()),
        }
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            ErrorKind::RateLimited { retry_after } => retry_after,
            _ => None,
        }
    }

    pub fn malformed(what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Malformed, format!("malformed response: {what}"))
    }

    pub fn stream_cut(what: &str) -> Self {
        Self::new(ErrorKind::StreamCut, what)
    }

    /// A failure from an HTTP error status and the vendor's message. The
    /// vendor's text is dropped for authentication failures: some vendors echo
    /// a (masked) key there.
    pub fn http(kind: ErrorKind, status: u16, vendor_message: &str) -> Self {
        if kind == ErrorKind::Authentication {
            return Self::new(kind, format!("HTTP {status}: credentials rejected"));
        }
        if vendor_message.is_empty() {
            Self::new(kind, format!("HTTP {status}"))
        } else {
            Self::new(kind, format!("HTTP {status}: {vendor_message}"))
        }
    }
}

/// One line, bounded, no control characters.
fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS + 3));
    for (i, c) in message.chars().enumerate() {
        if i == MAX_MESSAGE_CHARS {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// `Retry-After` (delta-seconds) or `retry-after-ms` (OpenAI, Azure), capped.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let parsed = text("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_millis(ms.min(MAX_RETRY_AFTER.as_millis() as f64) as u64))
        .or_else(|| {
            text("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        })?;
    Some(parsed.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify() {
        assert_eq!(ErrorKind::from_status(401, None), ErrorKind::Authentication);
        assert_eq!(ErrorKind::from_status(403, None), ErrorKind::Authentication);
        assert_eq!(ErrorKind::from_status(400, None), ErrorKind::BadRequest);
        assert_eq!(ErrorKind::from_status(404, None), ErrorKind::BadRequest);
        assert_eq!(
            ErrorKind::from_status(503, None),
            ErrorKind::ServerError(503)
        );
        assert_eq!(ErrorKind::from_status(529, None), ErrorKind::Overloaded);
        let d = Some(Duration::from_secs(2));
        assert_eq!(
            ErrorKind::from_status(429, d),
            ErrorKind::RateLimited { retry_after: d }
        );
    }

    #[test]
    fn retryable_set_is_the_transient_one() {
        assert!(ErrorKind::Connect.is_retryable());
        assert!(ErrorKind::ServerError(500).is_retryable());
        assert!(ErrorKind::RateLimited { retry_after: None }.is_retryable());
        assert!(!ErrorKind::BadRequest.is_retryable());
        assert!(!ErrorKind::Authentication.is_retryable());
        assert!(!ErrorKind::ContextTooLong.is_retryable());
        assert!(!ErrorKind::ContentFiltered.falls_over());
        assert!(ErrorKind::Authentication.falls_over());
    }

    #[test]
    fn retry_after_headers() {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", http::HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", http::HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", http::HeaderValue::from_static("999999"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(
            "retry-after",
            http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn messages_are_bounded_and_auth_text_dropped() {
        let long = "x".repeat(1000);
        let e = ProviderError::new(ErrorKind::BadRequest, &long);
        assert!(e.message().len() < 310);
        let e = ProviderError::http(ErrorKind::Authentication, 401, "bad key sk-abc");
        assert!(!e.message().contains("sk-abc"));
    }
}
