//! The Ollama native wire format: `/api/chat` bodies and replies, the NDJSON
//! stream, errors and `/api/embed`.

use serde::{Deserialize, Serialize};

use crate::transport::http::{ErrorAnswer, FrameDecoder, parse_json};
use crate::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ErrorKind, FinishReason, ProviderError,
    StreamFrame, TokenUsage,
};

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Options<'a> {
    num_predict: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f32>,
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    options: Options<'a>,
}

pub fn request_body(model: &str, request: &ChatRequest, stream: bool) -> Vec<u8> {
    let body = Body {
        model,
        messages: request
            .messages
            .iter()
            .map(|m| WireMessage {
                role: m.role.as_str(),
                content: &m.content,
            })
            .collect(),
        stream,
        options: Options {
            num_predict: request.max_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            stop: &request.stop,
            seed: request.seed,
            presence_penalty: request.presence_penalty,
            frequency_penalty: request.frequency_penalty,
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Deserialize, Default)]
struct Line {
    #[serde(default)]
    message: Option<LineMessage>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: u64,
    #[serde(default)]
    eval_count: u64,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct LineMessage {
    #[serde(default)]
    content: String,
}

fn finish(line: &Line) -> FinishReason {
    match line.done_reason.as_deref() {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

fn classify_message(status: Option<u16>, message: &str) -> ProviderError {
    let kind = if message.contains("context length") {
        ErrorKind::ContextTooLong
    } else {
        match status {
            Some(s) => ErrorKind::from_status(s, None),
            None => ErrorKind::ServerError(500),
        }
    };
    match status {
        Some(s) => ProviderError::http(kind, s, message),
        None => ProviderError::new(kind, format!("error mid-stream: {message}")),
    }
}

/// [`crate::transport::http::Classify`] for Ollama (`{"error": "..."}`).
pub fn classify(answer: &ErrorAnswer<'_>) -> ProviderError {
    let line: Line = serde_json::from_slice(answer.body).unwrap_or_default();
    let mut e = classify_message(Some(answer.status), line.error.as_deref().unwrap_or(""));
    if answer.status == 429 {
        e = ProviderError::http(
            ErrorKind::RateLimited {
                retry_after: answer.retry_after,
            },
            429,
            line.error.as_deref().unwrap_or(""),
        );
    }
    e
}

pub fn parse_response(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let line: Line = parse_json(body, "chat response")?;
    if let Some(e) = &line.error {
        return Err(classify_message(None, e));
    }
    Ok(ChatResponse {
        finish_reason: finish(&line),
        usage: TokenUsage::new(line.prompt_eval_count, line.eval_count),
        content: line.message.map(|m| m.content).unwrap_or_default(),
        tool_calls: Vec::new(),
    })
}

/// Newline-delimited JSON objects.
#[derive(Default)]
pub struct OllamaStreamDecoder {
    partial: Vec<u8>,
    done: bool,
}

impl OllamaStreamDecoder {
    /// Longest line accepted.
    pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

    pub fn new() -> Self {
        Self::default()
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<StreamFrame>) -> Result<(), ProviderError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let l: Line = parse_json(line, "stream line")?;
        if let Some(e) = &l.error {
            return Err(classify_message(None, e));
        }
        if let Some(m) = l.message.as_ref().filter(|m| !m.content.is_empty()) {
            out.push(StreamFrame::Text(m.content.clone()));
        }
        if l.done {
            out.push(StreamFrame::Done {
                finish_reason: finish(&l),
                usage: TokenUsage::new(l.prompt_eval_count, l.eval_count),
            });
            self.done = true;
        }
        Ok(())
    }
}

impl FrameDecoder for OllamaStreamDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamFrame>) {
        let mut rest = chunk;
        while !self.done {
            let Some(i) = memchr::memchr(b'\n', rest) else {
                break;
            };
            let (head, tail) = rest.split_at(i);
            rest = tail.get(1..).unwrap_or_default();
            let result = if self.partial.is_empty() {
                self.line(head, out)
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                self.line(&line, out)
            };
            if let Err(e) = result {
                out.push(StreamFrame::Error(e));
                self.done = true;
            }
        }
        if self.done {
            return;
        }
        if self.partial.len() + rest.len() > Self::MAX_LINE_BYTES {
            out.push(StreamFrame::Error(ProviderError::malformed(
                "stream line too long",
            )));
            self.done = true;
            return;
        }
        self.partial.extend_from_slice(rest);
    }

    fn finish(&mut self, out: &mut Vec<StreamFrame>) {
        // A last line without its newline still counts.
        if !self.done && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            if let Err(e) = self.line(&line, out) {
                out.push(StreamFrame::Error(e));
                self.done = true;
            }
        }
    }
}

#[derive(Serialize)]
struct EmbedBody<'a> {
    model: &'a str,
    input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
}

#[derive(Deserialize)]
struct EmbedReply {
    embeddings: Vec<Vec<f32>>,
    #[serde(default)]
    prompt_eval_count: u64,
}

pub fn embed_body(model: &str, request: &EmbedRequest) -> Vec<u8> {
    serde_json::to_vec(&EmbedBody {
        model,
        input: &request.inputs,
        dimensions: request.dimensions,
    })
    .unwrap_or_default()
}

pub fn parse_embed(body: &[u8], inputs: usize) -> Result<EmbedResponse, ProviderError> {
    let r: EmbedReply = parse_json(body, "embed response")?;
    if r.embeddings.len() != inputs {
        return Err(ProviderError::malformed(format!(
            "{} embeddings for {inputs} inputs",
            r.embeddings.len()
        )));
    }
    Ok(EmbedResponse {
        embeddings: r.embeddings,
        usage: TokenUsage::new(r.prompt_eval_count, 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ndjson_split_anywhere_gives_the_same_frames() {
        let text = b"{\"message\":{\"content\":\"Hi\"},\"done\":false}\n{\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"length\",\"prompt_eval_count\":3,\"eval_count\":1}\n";
        for split in 0..text.len() {
            let mut d = OllamaStreamDecoder::new();
            let mut out = Vec::new();
            d.feed(&text[..split], &mut out);
            d.feed(&text[split..], &mut out);
            assert_eq!(out.len(), 2, "split {split}");
            assert!(matches!(
                &out[1],
                StreamFrame::Done { finish_reason: FinishReason::Length, usage } if *usage == TokenUsage::new(3, 1)
            ));
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_response(s.as_bytes());
            let _ = parse_embed(s.as_bytes(), 1);
            let mut d = OllamaStreamDecoder::new();
            let mut out = Vec::new();
            d.feed(&bytes, &mut out);
            d.feed(format!("{s}\n").as_bytes(), &mut out);
            d.finish(&mut out);
        }
    }
}
