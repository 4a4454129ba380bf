//! AWS event-stream frames (`application/vnd.amazon.eventstream`) for Bedrock ConverseStream.
//!
//! Frame: total length, headers length, prelude CRC32, headers, payload, message CRC32 — written
//! by `aws-smithy-eventstream`.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use aws_smithy_types::str_bytes::StrBytes;
use bytes::Bytes;
use serde_json::Value;

fn string(value: &'static str) -> HeaderValue {
    HeaderValue::String(StrBytes::from(value))
}

fn encode(headers: Vec<Header>, payload: &Value) -> Bytes {
    let message = Message::new_from_parts(headers, Bytes::from(payload.to_string()));
    let mut out: Vec<u8> = Vec::with_capacity(128);
    // Only fails for headers/payloads over the format's size limits, which ours never reach.
    if let Err(e) = write_message_to(&message, &mut out) {
        tracing::error!(error = %e, "event-stream encoding failed");
    }
    Bytes::from(out)
}

/// An `event` frame: `:event-type`, `:content-type: application/json`, `:message-type: event`.
pub(crate) fn event(event_type: &'static str, payload: &Value) -> Bytes {
    encode(
        vec![
            Header::new(":event-type", string(event_type)),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("event")),
        ],
        payload,
    )
}

/// An `exception` frame, as Bedrock sends for errors after the stream has started.
pub(crate) fn exception(exception_type: &'static str, payload: &Value) -> Bytes {
    encode(
        vec![
            Header::new(":exception-type", string(exception_type)),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("exception")),
        ],
        payload,
    )
}

/// A frame whose message CRC is wrong: decoders must reject it.
pub(crate) fn corrupt(event_type: &'static str, payload: &Value) -> Bytes {
    let mut frame = event(event_type, payload).to_vec();
    if let Some(last) = frame.last_mut() {
        *last ^= 0xff;
    }
    Bytes::from(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    #[test]
    fn round_trips_and_corruption_is_detected() {
        let payload = serde_json::json!({ "role": "assistant" });
        let frame = event("messageStart", &payload);
        let msg = read_message_from(frame.clone()).unwrap();
        assert_eq!(msg.payload().as_ref(), payload.to_string().as_bytes());
        assert_eq!(msg.headers().len(), 3);
        assert!(read_message_from(corrupt("messageStart", &payload)).is_err());
    }
}
