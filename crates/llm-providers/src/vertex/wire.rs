//! The Vertex AI Gemini wire format: generateContent bodies and responses,
//! the SSE stream of partial responses, Google API errors, and `:predict`
//! text embeddings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::transport::http::{ErrorAnswer, FrameDecoder, parse_json};
use crate::transport::sse::{SseEvent, SseParser};
use crate::transport::trace::{self, StreamResponseId};
use crate::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ErrorKind, FinishReason, ProviderError,
    Role, StreamFrame, TokenUsage, ToolCallDelta,
};

#[derive(Serialize)]
struct Part {
    text: String,
}

#[derive(Serialize)]
struct Content {
    role: &'static str,
    parts: [Part; 1],
}

#[derive(Serialize)]
struct SystemInstruction {
    parts: [Part; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig<'a> {
    max_output_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction>,
    generation_config: GenerationConfig<'a>,
}

/// The generateContent body: turns as `user`/`model` contents, the system
/// prompt as `systemInstruction`.
pub fn request_body(request: &ChatRequest) -> Vec<u8> {
    let body = Body {
        contents: request
            .turns()
            .into_iter()
            .map(|(role, text)| Content {
                role: if role == Role::Assistant {
                    "model"
                } else {
                    "user"
                },
                parts: [Part { text }],
            })
            .collect(),
        system_instruction: request.system_prompt().map(|text| SystemInstruction {
            parts: [Part { text }],
        }),
        generation_config: GenerationConfig {
            max_output_tokens: request.max_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            stop_sequences: &request.stop,
            seed: request.seed,
            presence_penalty: request.presence_penalty,
            frequency_penalty: request.frequency_penalty,
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    /// Gemini 2.5 "thinking" tokens, billed as output.
    #[serde(default)]
    thoughts_token_count: u64,
}

impl UsageMetadata {
    fn usage(&self) -> TokenUsage {
        TokenUsage::new(
            self.prompt_token_count,
            self.candidates_token_count
                .saturating_add(self.thoughts_token_count),
        )
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GoogleError {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse {
    response_id: Option<String>,
    #[serde(default)]
    candidates: Vec<Candidate>,
    usage_metadata: Option<UsageMetadata>,
    prompt_feedback: Option<PromptFeedback>,
    error: Option<GoogleError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<CandidateContent>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<PartOut>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartOut {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    function_call: Option<serde_json::Value>,
}

pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        _ => FinishReason::Stop,
    }
}

fn classify_error(
    status: Option<u16>,
    retry_after: Option<Duration>,
    e: &GoogleError,
) -> ProviderError {
    let long = e.message.contains("exceeds the maximum number of tokens")
        || e.message.contains("input token count");
    let kind = match e.status.as_str() {
        _ if status == Some(529) => ErrorKind::Overloaded,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited { retry_after },
        "UNAVAILABLE" => ErrorKind::ServerError(503),
        "INTERNAL" | "UNKNOWN" => ErrorKind::ServerError(status.unwrap_or(500)),
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        "UNAUTHENTICATED" | "PERMISSION_DENIED" => ErrorKind::Authentication,
        "INVALID_ARGUMENT" if long => ErrorKind::ContextTooLong,
        "INVALID_ARGUMENT" | "NOT_FOUND" | "FAILED_PRECONDITION" => ErrorKind::BadRequest,
        _ => match status.or((e.code >= 400).then_some(e.code)) {
            Some(s) => ErrorKind::from_status(s, retry_after),
            None => ErrorKind::ServerError(500),
        },
    };
    match status {
        Some(s) => ProviderError::http(kind, s, &e.message),
        None => ProviderError::new(kind, format!("error mid-stream: {}", e.message)),
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GoogleError,
}

/// [`crate::transport::http::Classify`] for Vertex (the body may be an object or a
/// one-element array of one).
pub fn classify(answer: &ErrorAnswer<'_>) -> ProviderError {
    let e = serde_json::from_slice::<ErrorEnvelope>(answer.body)
        .or_else(|_| {
            serde_json::from_slice::<Vec<ErrorEnvelope>>(answer.body)
                .map_err(|e| e.to_string())
                .and_then(|v| v.into_iter().next().ok_or_else(String::new))
        })
        .map(|e| e.error)
        .unwrap_or_default();
    classify_error(Some(answer.status), answer.retry_after, &e)
}

fn blocked(reason: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::ContentFiltered,
        format!("prompt blocked: {reason}"),
    )
}

pub fn parse_response(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let r: GenerateResponse = parse_json(body, "generateContent response")?;
    trace::response_id(r.response_id.as_deref());
    if let Some(e) = r.error {
        return Err(classify_error(None, None, &e));
    }
    let usage = r.usage_metadata.unwrap_or_default().usage();
    let Some(candidate) = r.candidates.into_iter().next() else {
        return match r.prompt_feedback.and_then(|f| f.block_reason) {
            Some(reason) => Err(blocked(&reason)),
            None => Err(ProviderError::malformed("no candidates")),
        };
    };
    let parts = candidate.content.map(|c| c.parts).unwrap_or_default();
    let mut finish = candidate
        .finish_reason
        .as_deref()
        .map_or(FinishReason::Stop, finish_reason);
    if parts.iter().any(|p| p.function_call.is_some()) {
        finish = FinishReason::ToolCalls;
    }
    Ok(ChatResponse {
        content: parts
            .into_iter()
            .filter(|p| !p.thought)
            .filter_map(|p| p.text)
            .collect(),
        finish_reason: finish,
        usage,
        tool_calls: Vec::new(),
    })
}

/// streamGenerateContent with `alt=sse`: each event is a partial response.
#[derive(Default)]
pub struct VertexStreamDecoder {
    sse: SseParser,
    events: Vec<SseEvent>,
    usage: Option<TokenUsage>,
    finish: Option<FinishReason>,
    response_id: StreamResponseId,
    done: bool,
}

impl VertexStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn event(&mut self, data: &str, out: &mut Vec<StreamFrame>) -> Result<(), ProviderError> {
        let r: GenerateResponse = serde_json::from_str(data)
            .map_err(|e| ProviderError::malformed(format!("stream chunk: {e}")))?;
        self.response_id.see(r.response_id.as_deref());
        if let Some(e) = r.error {
            return Err(classify_error(None, None, &e));
        }
        if let Some(reason) = r.prompt_feedback.and_then(|f| f.block_reason) {
            return Err(blocked(&reason));
        }
        if let Some(candidate) = r.candidates.into_iter().next() {
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                if part.thought {
                    continue;
                }
                if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                    out.push(StreamFrame::Text(text));
                }
                if let Some(call) = part.function_call {
                    out.push(StreamFrame::ToolCall(ToolCallDelta {
                        index: 0,
                        id: None,
                        name: call.get("name").and_then(|n| n.as_str()).map(str::to_owned),
                        arguments: call.get("args").map(|a| a.to_string()).unwrap_or_default(),
                    }));
                    self.finish = Some(FinishReason::ToolCalls);
                }
            }
            if let Some(reason) = candidate.finish_reason
                && self.finish != Some(FinishReason::ToolCalls)
            {
                self.finish = Some(finish_reason(&reason));
            }
        }
        if let Some(meta) = r.usage_metadata {
            let usage = meta.usage();
            self.usage = Some(usage);
            out.push(StreamFrame::Usage(usage));
        }
        Ok(())
    }
}

impl FrameDecoder for VertexStreamDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamFrame>) {
        if self.done {
            return;
        }
        if let Err(e) = self.sse.push(chunk, &mut self.events) {
            out.push(StreamFrame::Error(ProviderError::malformed(e)));
            self.done = true;
            return;
        }
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            if let Err(e) = self.event(&ev.data, out) {
                out.push(StreamFrame::Error(e));
                self.done = true;
                break;
            }
        }
        self.events = events;
        self.events.clear();
    }

    /// Gemini has no end event: a finish reason seen and nothing pending is the end.
    fn finish(&mut self, out: &mut Vec<StreamFrame>) {
        if !self.done
            && !self.sse.has_pending()
            && let Some(finish_reason) = self.finish
        {
            out.push(StreamFrame::Done {
                finish_reason,
                usage: self.usage.unwrap_or_default(),
            });
            self.done = true;
        }
    }
}

#[derive(Serialize)]
struct Instance<'a> {
    content: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PredictParameters {
    output_dimensionality: u32,
}

#[derive(Serialize)]
struct PredictBody<'a> {
    instances: Vec<Instance<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<PredictParameters>,
}

#[derive(Deserialize)]
struct PredictResponse {
    predictions: Vec<Prediction>,
}

#[derive(Deserialize)]
struct Prediction {
    embeddings: PredictionEmbedding,
}

#[derive(Deserialize)]
struct PredictionEmbedding {
    values: Vec<f32>,
    #[serde(default)]
    statistics: Option<Statistics>,
}

#[derive(Deserialize)]
struct Statistics {
    #[serde(default)]
    token_count: f64,
}

/// The `:predict` body of a text-embedding request.
pub fn predict_body(request: &EmbedRequest) -> Vec<u8> {
    let body = PredictBody {
        instances: request
            .inputs
            .iter()
            .map(|content| Instance { content })
            .collect(),
        parameters: request.dimensions.map(|d| PredictParameters {
            output_dimensionality: d,
        }),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

pub fn parse_predict(body: &[u8], inputs: usize) -> Result<EmbedResponse, ProviderError> {
    let r: PredictResponse = parse_json(body, "predict response")?;
    if r.predictions.len() != inputs {
        return Err(ProviderError::malformed(format!(
            "{} predictions for {inputs} inputs",
            r.predictions.len()
        )));
    }
    let mut tokens = 0u64;
    let mut embeddings = Vec::with_capacity(inputs);
    for p in r.predictions {
        let count = p.embeddings.statistics.map_or(0.0, |s| s.token_count);
        if count.is_finite() && count > 0.0 {
            tokens = tokens.saturating_add(count.round() as u64);
        }
        embeddings.push(p.embeddings.values);
    }
    Ok(EmbedResponse {
        embeddings,
        usage: TokenUsage::new(tokens, 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use proptest::prelude::*;

    #[test]
    fn body_has_system_instruction_and_model_role() {
        let req = ChatRequest {
            messages: vec![
                Message::new(Role::System, "Tutor."),
                Message::new(Role::User, "Hi"),
                Message::new(Role::Assistant, "Hello"),
                Message::new(Role::User, "Bye"),
            ],
            max_tokens: 32,
            temperature: Some(1.5),
            top_p: None,
            stop: vec![],
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_slice(&request_body(&req)).unwrap();
        assert_eq!(v["systemInstruction"]["parts"][0]["text"], "Tutor.");
        assert_eq!(v["contents"][1]["role"], "model");
        assert_eq!(v["generationConfig"]["maxOutputTokens"], 32);
        assert_eq!(v["generationConfig"]["temperature"], 1.5);
    }

    #[test]
    fn thinking_tokens_count_as_output() {
        let r = parse_response(br#"{"candidates":[{"content":{"parts":[{"text":"hm","thought":true},{"text":"Hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":1,"thoughtsTokenCount":10}}"#).unwrap();
        assert_eq!(r.content, "Hi");
        assert_eq!(r.usage, TokenUsage::new(4, 11));
    }

    #[test]
    fn blocked_prompt_is_content_filtered() {
        let e = parse_response(br#"{"promptFeedback":{"blockReason":"SAFETY"}}"#).unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::ContentFiltered);
    }

    proptest! {
        #[test]
        fn json_parsers_never_panic(s in ".{0,400}") {
            let _ = parse_response(s.as_bytes());
            let _ = parse_predict(s.as_bytes(), 1);
            let headers = http::HeaderMap::new();
            let _ = classify(&ErrorAnswer { status: 429, retry_after: None, headers: &headers, body: s.as_bytes() });
            let mut d = VertexStreamDecoder::new();
            let mut out = Vec::new();
            d.feed(format!("data: {s}\r\n\r\n").as_bytes(), &mut out);
            d.finish(&mut out);
        }

        #[test]
        fn response_shaped_garbage_never_panics(rest in r#"[\[\]{}",:a-zA-Z0-9]{0,80}"#) {
            let _ = parse_response(format!(r#"{{"candidates":[{{"content":{rest}"#).as_bytes());
            let _ = parse_predict(format!(r#"{{"predictions":[{rest}"#).as_bytes(), 1);
        }
    }
}
