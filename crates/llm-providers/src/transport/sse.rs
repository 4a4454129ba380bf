//! Server-sent events (the WHATWG `text/event-stream` format), parsed
//! incrementally from arbitrary byte chunks: lines may be split anywhere
//! (even between the CR and LF of a CRLF), and end in LF, CRLF or CR.
//! Shared by OpenAI, Azure, Anthropic and Vertex.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, when the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("event larger than {0} bytes")]
    TooLarge(usize),
    #[error("event data is not valid UTF-8")]
    InvalidUtf8,
}

/// The incremental parser. Feed it chunks with [`SseParser::push`].
#[derive(Debug, Default)]
pub struct SseParser {
    /// The current, unfinished line.
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    event: Option<String>,
    /// The previous chunk ended with CR: a leading LF of the next one belongs to it.
    after_cr: bool,
    /// Bytes seen so far, to strip a leading byte-order mark once.
    started: bool,
}

impl SseParser {
    /// Largest event (line plus accumulated data) accepted: a provider that
    /// never ends a line must not grow our memory without bound.
    pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `chunk`, appending every event it completes to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut rest = chunk;
        if !self.started && !rest.is_empty() {
            self.started = true;
            rest = rest.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(rest);
        }
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some(tail) = rest.strip_prefix(b"\n") {
                rest = tail;
            }
        }
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            let (head, tail) = rest.split_at(i);
            let is_cr = tail.first() == Some(&b'\r');
            let mut tail = tail.get(1..).unwrap_or_default();
            if is_cr {
                match tail.first() {
                    Some(b'\n') => tail = tail.get(1..).unwrap_or_default(),
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            if self.line.is_empty() {
                self.line_done(head, out)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                let result = self.line_done(&line, out);
                line.clear();
                self.line = line;
                result?;
            }
            rest = tail;
        }
        if self.line.len() + rest.len() + self.data.len() > Self::MAX_EVENT_BYTES {
            return Err(SseError::TooLarge(Self::MAX_EVENT_BYTES));
        }
        self.line.extend_from_slice(rest);
        Ok(())
    }

    /// Whether a partial event is buffered (a stream ending here was cut mid-event).
    pub fn has_pending(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            return self.dispatch(out);
        }
        if line.first() == Some(&b':') {
            return Ok(()); // a comment (keep-alive)
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let (f, v) = line.split_at(i);
                let v = v.get(1..).unwrap_or_default();
                (f, v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() > Self::MAX_EVENT_BYTES {
                    return Err(SseError::TooLarge(Self::MAX_EVENT_BYTES));
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry and unknown fields do not concern us
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let event = self.event.take();
        if !self.has_data {
            return Ok(());
        }
        self.has_data = false;
        let data = std::mem::take(&mut self.data);
        let data = String::from_utf8(data).map_err(|_| SseError::InvalidUtf8)?;
        out.push(SseEvent { event, data });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out).unwrap();
        }
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn parses_events_with_names_comments_and_multiline_data() {
        let out =
            parse_all(&[b": keep-alive\n\nevent: ping\ndata: {}\n\ndata: a\ndata: b\nid: 7\n\n"]);
        assert_eq!(out, vec![ev(Some("ping"), "{}"), ev(None, "a\nb")]);
    }

    #[test]
    fn handles_crlf_split_between_chunks_and_bare_cr() {
        let out = parse_all(&[
            b"data: one\r",
            b"\n\r",
            b"\ndata: two\r\r",
            b"data:three\n\n",
        ]);
        assert_eq!(
            out,
            vec![ev(None, "one"), ev(None, "two"), ev(None, "three")]
        );
    }

    #[test]
    fn strips_bom_and_one_leading_space_only() {
        let out = parse_all(&[b"\xEF\xBB\xBFdata:  x\n\n"]);
        assert_eq!(out, vec![ev(None, " x")]);
    }

    #[test]
    fn incomplete_event_is_pending_not_dispatched() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.push(b"data: half", &mut out).unwrap();
        assert!(out.is_empty());
        assert!(p.has_pending());
    }

    #[test]
    fn rejects_invalid_utf8_and_oversized_lines() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        assert_eq!(
            p.push(b"data: \xff\xfe\n\n", &mut out),
            Err(SseError::InvalidUtf8)
        );
        let mut p = SseParser::new();
        let big = vec![b'a'; SseParser::MAX_EVENT_BYTES + 1];
        assert!(matches!(p.push(&big, &mut out), Err(SseError::TooLarge(_))));
    }

    fn events_of(bytes: &[u8], cuts: &[usize]) -> Result<Vec<SseEvent>, SseError> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        for c in cuts {
            p.push(&bytes[start..c.max(start)], &mut out)?;
            start = c.max(start);
        }
        p.push(&bytes[start..], &mut out)?;
        Ok(out)
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                       cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
            let _ = events_of(&bytes, &cuts);
        }

        #[test]
        fn splitting_never_changes_the_events(
            datas in proptest::collection::vec("[a-z {}\":,]{0,40}", 1..6),
            crlf in any::<bool>(),
            cuts in proptest::collection::vec(any::<usize>(), 0..10),
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let text: String = datas.iter().map(|d| format!("event: e{eol}data: {d}{eol}{eol}")).collect();
            let whole = events_of(text.as_bytes(), &[]).unwrap();
            let split = events_of(text.as_bytes(), &cuts).unwrap();
            prop_assert_eq!(&whole, &split);
            prop_assert_eq!(whole.len(), datas.len());
        }
    }
}
