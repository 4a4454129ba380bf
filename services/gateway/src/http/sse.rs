//! Server-sent events: the response for a stream of events, kept alive.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;

pub fn response<S>(events: S) -> Response
where
    S: Stream<Item = Event> + Send + 'static,
{
    let mut response = Sse::new(events.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Proxies such as nginx would otherwise hold the chunks back.
    response
        .headers_mut()
        .insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    response
}

/// An event whose data is `value` as JSON.
pub fn json_event(name: Option<&'static str>, value: &impl serde::Serialize) -> Event {
    let data = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let event = Event::default().data(data);
    match name {
        Some(name) => event.event(name),
        None => event,
    }
}

/// Whether the client asked for an event stream.
pub fn wants_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}
