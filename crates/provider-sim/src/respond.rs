//! Response building shared by every vendor: JSON bodies, malformed bodies, and the streaming
//! driver that applies `cut-after` / `malformed` / `chunk_delay` to a vendor's frames.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

use crate::faults::Fault;

pub(crate) const JSON: &str = "application/json";
pub(crate) const SSE: &str = "text/event-stream";
pub(crate) const NDJSON: &str = "application/x-ndjson";
pub(crate) const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// A JSON response with `status`.
pub(crate) fn json(status: u16, value: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(CONTENT_TYPE, JSON)], value.to_string()).into_response()
}

/// A successful unary JSON answer, or — with the `malformed` fault — the same answer cut in
/// half (a strict prefix of a JSON object is never valid JSON).
pub(crate) fn unary(fault: &Fault, value: &Value) -> Response {
    if fault.malformed {
        let text = value.to_string();
        let mut cut = text.len() / 2;
        while cut > 1 && !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let prefix = text.get(..cut.max(1)).unwrap_or("{").to_owned();
        return (StatusCode::OK, [(CONTENT_TYPE, JSON)], prefix).into_response();
    }
    json(200, value)
}

/// Add a header to a response (ignores invalid values, which our callers never produce).
pub(crate) fn with_header(mut resp: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(HeaderName::from_static(name), v);
    }
    resp
}

/// One SSE event with only a `data:` line.
pub(crate) fn sse_data(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// One SSE event with an `event:` line.
pub(crate) fn sse_event(name: &str, value: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {value}\n\n"))
}

/// The frames of a streaming answer, split so faults can be applied uniformly.
#[derive(Debug, Default)]
pub(crate) struct StreamPlan {
    pub content_type: &'static str,
    /// Frames before the first content chunk (e.g. `message_start`).
    pub head: Vec<Bytes>,
    /// One frame per content token.
    pub chunks: Vec<Bytes>,
    /// Terminal frames (finish reason, usage, `[DONE]`, `message_stop`…).
    pub tail: Vec<Bytes>,
    /// The vendor's in-stream error frame, sent instead of the rest when the fault has a status
    /// together with `cut-after`.
    pub mid_error: Option<Bytes>,
    /// A frame that is invalid for the protocol, for the `malformed` fault.
    pub garbage: Bytes,
}

impl StreamPlan {
    pub fn new(content_type: &'static str) -> Self {
        StreamPlan {
            content_type,
            ..StreamPlan::default()
        }
    }

    /// Stream the plan, applying `fault` and `delay` between content chunks.
    pub fn into_response(self, fault: &Fault, delay: Duration) -> Response {
        let StreamPlan {
            content_type,
            head,
            chunks,
            tail,
            mid_error,
            garbage,
        } = self;
        let malformed = fault.malformed;
        let cut = fault
            .cut_after_chunks
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let mid_error = if fault.error_status().is_some() {
            mid_error
        } else {
            None
        };
        let frames = async_stream::stream! {
            for frame in head {
                yield Ok::<Bytes, std::io::Error>(frame);
            }
            if malformed {
                yield Ok(garbage);
                return;
            }
            for (i, frame) in chunks.into_iter().enumerate() {
                if cut == Some(i) {
                    break;
                }
                if i > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                yield Ok(frame);
            }
            if cut.is_some() {
                if let Some(err) = mid_error {
                    yield Ok(err);
                    return;
                }
                // Let hyper flush what was sent (it flushes when the body is pending), then an
                // error from the body makes it abort the connection: no terminal chunk, no
                // terminal event — a truly cut stream.
                tokio::task::yield_now().await;
                yield Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "provider-sim: stream cut by fault",
                ));
                return;
            }
            for frame in tail {
                yield Ok(frame);
            }
        };
        (
            StatusCode::OK,
            [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
            Body::from_stream(frames),
        )
            .into_response()
    }
}
