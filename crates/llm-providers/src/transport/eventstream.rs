//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`)
//! that Bedrock's ConverseStream answers with, decoded incrementally.
//!
//! A frame is: total length (u32), headers length (u32), prelude CRC32,
//! headers, payload, message CRC32. Frames are checked and decoded by
//! `aws-smithy-eventstream`; this module only buffers bytes until a frame is
//! whole, and refuses early what can never become one.

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{Header, Message};
use bytes::{Bytes, BytesMut};

/// The prelude: total length, headers length, prelude CRC.
const PRELUDE: usize = 12;
/// Prelude plus the message CRC: the smallest possible frame.
const MIN_FRAME: usize = 16;

/// One decoded message with the headers that matter for Bedrock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMessage {
    /// `:message-type`: `event`, `exception` or `error`.
    pub message_type: String,
    /// `:event-type` of an event (`messageStart`, `contentBlockDelta`…).
    pub event_type: Option<String>,
    /// `:exception-type` of an exception (`throttlingException`…).
    pub exception_type: Option<String>,
    /// `:error-code` / `:error-message` of an error message.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    #[error("frame length {0} is outside the protocol's bounds")]
    BadLength(u32),
    #[error("frame prelude checksum mismatch")]
    PreludeChecksum,
    #[error("invalid frame: {0}")]
    Frame(String),
}

#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    buf: BytesMut,
}

impl EventStreamDecoder {
    /// Largest frame accepted (the protocol's limit is 16 MiB of payload).
    pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024 + 128 * 1024;

    pub fn new() -> Self {
        Self::default()
    }

    /// Whether part of a frame is buffered (a stream ending here was cut).
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Buffers `chunk` and appends every message it completes to `out`.
    pub fn push(
        &mut self,
        chunk: &[u8],
        out: &mut Vec<EventMessage>,
    ) -> Result<(), EventStreamError> {
        self.buf.extend_from_slice(chunk);
        loop {
            let Some(prelude) = self.buf.get(..PRELUDE) else {
                return Ok(());
            };
            let word = |i: usize| {
                let mut b = [0u8; 4];
                b.copy_from_slice(prelude.get(i..i + 4).unwrap_or(&[0; 4]));
                u32::from_be_bytes(b)
            };
            let total = word(0);
            // Checked before waiting for the rest, so garbage fails now rather
            // than after the provider's timeout.
            if crc32fast::hash(prelude.get(..8).unwrap_or_default()) != word(8) {
                return Err(EventStreamError::PreludeChecksum);
            }
            let len = usize::try_from(total).unwrap_or(usize::MAX);
            if !(MIN_FRAME..=Self::MAX_FRAME_BYTES).contains(&len) {
                return Err(EventStreamError::BadLength(total));
            }
            if self.buf.len() < len {
                return Ok(());
            }
            let frame = self.buf.split_to(len).freeze();
            let message =
                read_message_from(frame).map_err(|e| EventStreamError::Frame(e.to_string()))?;
            out.push(EventMessage::from(&message));
        }
    }
}

impl From<&Message> for EventMessage {
    fn from(message: &Message) -> Self {
        let header = |name: &str| -> Option<String> {
            message
                .headers()
                .iter()
                .find(|h: &&Header| h.name().as_str() == name)
                .and_then(|h| h.value().as_string().ok())
                .map(|s| s.as_str().to_owned())
        };
        EventMessage {
            message_type: header(":message-type").unwrap_or_default(),
            event_type: header(":event-type"),
            exception_type: header(":exception-type"),
            error_code: header(":error-code"),
            error_message: header(":error-message"),
            payload: message.payload().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::HeaderValue;
    use aws_smithy_types::str_bytes::StrBytes;
    use proptest::prelude::*;

    pub(crate) fn frame(kind: &'static str, event: &'static str, payload: &str) -> Vec<u8> {
        let type_header = if kind == "event" {
            ":event-type"
        } else {
            ":exception-type"
        };
        let message = Message::new_from_parts(
            vec![
                Header::new(":message-type", HeaderValue::String(StrBytes::from(kind))),
                Header::new(type_header, HeaderValue::String(StrBytes::from(event))),
            ],
            Bytes::from(payload.to_owned()),
        );
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    #[test]
    fn decodes_frames_split_anywhere() {
        let mut bytes = frame("event", "messageStart", r#"{"role":"assistant"}"#);
        bytes.extend(frame(
            "exception",
            "throttlingException",
            r#"{"message":"slow"}"#,
        ));
        for split in 0..bytes.len() {
            let mut d = EventStreamDecoder::new();
            let mut out = Vec::new();
            d.push(&bytes[..split], &mut out).unwrap();
            d.push(&bytes[split..], &mut out).unwrap();
            assert_eq!(out.len(), 2, "split at {split}");
            assert_eq!(out[0].event_type.as_deref(), Some("messageStart"));
            assert_eq!(out[1].message_type, "exception");
            assert_eq!(
                out[1].exception_type.as_deref(),
                Some("throttlingException")
            );
            assert!(!d.has_pending());
        }
    }

    #[test]
    fn rejects_corruption() {
        let mut bytes = frame("event", "messageStart", "{}");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let mut out = Vec::new();
        assert!(matches!(
            EventStreamDecoder::new().push(&bytes, &mut out),
            Err(EventStreamError::Frame(_))
        ));
        let mut bytes = frame("event", "messageStart", "{}");
        bytes[9] ^= 0xff;
        assert_eq!(
            EventStreamDecoder::new().push(&bytes, &mut out),
            Err(EventStreamError::PreludeChecksum)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), split in any::<usize>()) {
            let mut d = EventStreamDecoder::new();
            let mut out = Vec::new();
            let split = split % (bytes.len() + 1);
            if d.push(&bytes[..split], &mut out).is_ok() {
                let _ = d.push(&bytes[split..], &mut out);
            }
        }

        #[test]
        fn mutated_frames_never_panic(idx in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = frame("event", "contentBlockDelta", r#"{"delta":{"text":"hi"}}"#);
            let i = idx % bytes.len();
            bytes[i] = byte;
            let mut out = Vec::new();
            let _ = EventStreamDecoder::new().push(&bytes, &mut out);
        }
    }
}
