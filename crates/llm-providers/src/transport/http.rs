//! HTTP plumbing every vendor client shares: the pooled client, deadlines,
//! bounded body reads, error classification and the streaming driver that
//! turns a response body into normalized frames.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::HeaderValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use tracing::Instrument;

use super::trace;

use crate::limits::MAX_ERROR_BODY;
use crate::{ErrorKind, FrameStream, ProviderError, StreamFrame};

/// Per-provider timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP + TLS connect.
    pub connect: Duration,
    /// From sending a streaming request to its first content (text or tool call).
    pub first_token: Duration,
    /// The whole call: a unary answer, or a stream to its last frame.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            first_token: Duration::from_secs(30),
            total: Duration::from_secs(120),
        }
    }
}

/// Characters escaped in a URL path segment (RFC 3986 unreserved stay).
pub const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `Bearer <token>` as a header value marked sensitive (never printed).
pub fn bearer(token: &SecretString) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The one pooled client of a provider: connections are reused across calls.
pub fn build_client(timeouts: &Timeouts) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build()
}

/// A non-2xx answer, as vendors' classifiers see it.
pub struct ErrorAnswer<'a> {
    pub status: u16,
    /// `Retry-After` / `retry-after-ms`, capped.
    pub retry_after: Option<Duration>,
    pub headers: &'a http::HeaderMap,
    /// The body's first 64 KiB.
    pub body: &'a [u8],
}

/// Maps a vendor's error answer to a classified error.
pub type Classify = fn(&ErrorAnswer<'_>) -> ProviderError;

/// Sends `request` and waits for its headers until `deadline`; a non-2xx
/// answer becomes the error `classify` makes of it. The exchange is a CLIENT
/// span whose context the request carries ([`trace`]); the span ends with the
/// headers (or the error body), a stream's body is the attempt's.
pub async fn send(
    request: reqwest::RequestBuilder,
    deadline: Instant,
    classify: Classify,
) -> Result<reqwest::Response, ProviderError> {
    let (client, request) = request.build_split();
    let mut request = request.map_err(|e| from_reqwest(&e))?;
    let span = trace::client_span(&request);
    trace::inject(&span, request.headers_mut());
    let sent = tokio::time::timeout_at(deadline, client.execute(request))
        .instrument(span.clone())
        .await;
    let response = match sent {
        Err(_) => {
            trace::record_failure(&span, ErrorKind::Timeout.reason());
            return Err(timeout("no response before the deadline"));
        }
        Ok(Err(e)) => {
            let error = from_reqwest(&e);
            trace::record_failure(&span, error.kind().reason());
            return Err(error);
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    trace::record_status(&span, status.as_u16());
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = crate::retry_after(response.headers());
    let headers = response.headers().clone();
    let body = read_limited(response, deadline, MAX_ERROR_BODY, true)
        .await
        .unwrap_or_default();
    Err(classify(&ErrorAnswer {
        status: status.as_u16(),
        retry_after,
        headers: &headers,
        body: &body,
    }))
}

/// The whole body, read until `deadline`, refused beyond `limit` bytes.
pub async fn read_body(
    response: reqwest::Response,
    deadline: Instant,
    limit: usize,
) -> Result<Bytes, ProviderError> {
    read_limited(response, deadline, limit, false).await
}

async fn read_limited(
    mut response: reqwest::Response,
    deadline: Instant,
    limit: usize,
    truncate: bool,
) -> Result<Bytes, ProviderError> {
    let mut buf = BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => return Err(timeout("response body not complete before the deadline")),
            Ok(Err(e)) => return Err(from_reqwest(&e)),
            Ok(Ok(None)) => return Ok(buf.freeze()),
            Ok(Ok(Some(c))) => c,
        };
        if buf.len() + chunk.len() > limit {
            if truncate {
                let room = limit.saturating_sub(buf.len());
                buf.extend_from_slice(chunk.get(..room).unwrap_or_default());
                return Ok(buf.freeze());
            }
            return Err(ProviderError::malformed(format!(
                "response body larger than {limit} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
}

/// Parses a JSON body, naming the vendor shape on failure.
pub fn parse_json<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
    what: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| ProviderError::malformed(format!("{what}: {e}")))
}

pub fn timeout(what: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Timeout, what)
}

/// Classifies a transport error. The URL is left out of the message.
pub fn from_reqwest(e: &reqwest::Error) -> ProviderError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_body() || e.is_decode() {
        ErrorKind::StreamCut
    } else {
        ErrorKind::Connect
    };
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    // The chain says why (refused, reset, TLS); the top line alone rarely does.
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    ProviderError::new(kind, strip_url(&text))
}

/// reqwest messages embed the URL; keep logs free of query strings and hosts.
fn strip_url(text: &str) -> String {
    let Some(start) = text.find(" for url (") else {
        return text.to_owned();
    };
    match text[start..].find(')') {
        Some(len) => format!("{}{}", &text[..start], &text[start + len + 1..]),
        None => text[..start].to_owned(),
    }
}

/// A vendor's stream protocol: bytes in, normalized frames out.
pub trait FrameDecoder: Send + 'static {
    /// Decodes `chunk`, appending frames (a terminal frame ends the stream).
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamFrame>);
    /// The body ended: append `Done` if the protocol's end was seen, else an error.
    fn finish(&mut self, out: &mut Vec<StreamFrame>);
}

/// Streams `response` through `decoder`. Enforces the first-token deadline
/// (from `started`) until content arrives and the total deadline throughout;
/// always ends with exactly one terminal frame.
pub fn drive<D: FrameDecoder>(
    response: reqwest::Response,
    mut decoder: D,
    started: Instant,
    timeouts: Timeouts,
) -> FrameStream {
    let first_deadline = started + timeouts.first_token;
    let total_deadline = started + timeouts.total;
    Box::pin(async_stream::stream! {
        let mut body = response.bytes_stream();
        let mut seen_content = false;
        let mut frames: Vec<StreamFrame> = Vec::new();
        loop {
            let deadline = if seen_content {
                total_deadline
            } else {
                first_deadline.min(total_deadline)
            };
            match tokio::time::timeout_at(deadline, body.next()).await {
                Err(_) => {
                    let what = if seen_content {
                        "stream exceeded the total timeout"
                    } else {
                        "no first token before the first-token timeout"
                    };
                    yield StreamFrame::Error(timeout(what));
                    return;
                }
                Ok(Some(Err(e))) => {
                    let mut err = from_reqwest(&e);
                    if *err.kind() != ErrorKind::Timeout {
                        err = ProviderError::stream_cut(&format!("connection lost mid-stream: {}", err.message()));
                    }
                    yield StreamFrame::Error(err);
                    return;
                }
                Ok(Some(Ok(chunk))) => decoder.feed(&chunk, &mut frames),
                Ok(None) => {
                    decoder.finish(&mut frames);
                    if !frames.iter().any(StreamFrame::is_terminal) {
                        frames.push(StreamFrame::Error(ProviderError::stream_cut("stream ended without its terminal event")));
                    }
                }
            }
            for frame in frames.drain(..) {
                seen_content |= frame.is_content();
                let terminal = frame.is_terminal();
                yield frame;
                if terminal {
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_stripped_from_transport_errors() {
        assert_eq!(
            strip_url("error sending request for url (http://x/y?k=v): refused"),
            "error sending request: refused"
        );
        assert_eq!(strip_url("plain"), "plain");
    }
}
