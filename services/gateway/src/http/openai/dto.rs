//! OpenAI's request and response shapes, and their translation to and from
//! the router's messages. A chat request field we cannot honour is refused
//! by name (400), never ignored: a silently dropped `tools` or
//! `response_format` gives a caller a plausible but wrong answer.

use std::collections::BTreeMap;

use super::tools::{
    ToolCallChunk, ToolCallDto, ToolChoiceIn, ToolDef, calls_from_proto, calls_to_proto,
    tool_choice_to_proto, tools_to_proto,
};
use crate::errors::ApiError;
use fluentedge_proto::router::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged, expecting = "a string or an array of strings")]
pub enum StringOrArray {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged, expecting = "a string or an array of content parts")]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ContentPart {
    /// Only `text` parts are supported.
    #[serde(rename = "type")]
    #[schema(pattern = "^text$")]
    pub kind: String,
    #[serde(default)]
    #[schema(required = true)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatMessageIn {
    /// `system`, `developer` (treated as system), `user`, `assistant` or `tool`.
    #[schema(pattern = "^(system|developer|user|assistant|tool)$")]
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// The calls an assistant turn made.
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallDto>>,
    /// The call a `tool` message answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// `sota`, `cost_effective`, or a model alias from `GET /v1/models`.
    #[schema(min_length = 1)]
    pub model: String,
    /// 1 to 256 messages.
    #[schema(min_items = 1, max_items = 256)]
    pub messages: Vec<ChatMessageIn>,
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f32>,
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub top_p: Option<f32>,
    /// At most 4 sequences.
    #[serde(default)]
    pub stop: Option<StringOrArray>,
    /// Best-effort deterministic sampling. Served only by models whose
    /// vendors have it (OpenAI, Azure, Vertex, Ollama); 400 otherwise.
    #[serde(default)]
    pub seed: Option<i64>,
    /// Served only by models whose vendors have it (OpenAI, Azure, Vertex,
    /// Ollama); 400 otherwise.
    #[serde(default)]
    #[schema(minimum = -2.0, maximum = 2.0)]
    pub presence_penalty: Option<f32>,
    /// Served only by models whose vendors have it (OpenAI, Azure, Vertex,
    /// Ollama); 400 otherwise.
    #[serde(default)]
    #[schema(minimum = -2.0, maximum = 2.0)]
    pub frequency_penalty: Option<f32>,
    /// An end-user id passed to the vendor for its abuse monitoring
    /// (OpenAI, Azure, Anthropic; 400 for others). Usage is still attributed
    /// to the token's subject, never to a name the client chooses.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub user: Option<String>,
    /// Functions the model may call (at most 128). Served only by models
    /// whose vendors translate tools (OpenAI, Azure); 400 otherwise.
    #[serde(default)]
    pub tools: Option<Vec<ToolDef>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoiceIn>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Only 1 is supported.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1)]
    pub n: Option<u32>,
    /// Every other field: refused by name unless null or a no-op value
    /// (`logprobs: false`, `store: false`, `response_format: {"type": "text"}`).
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// Whether an unsupported field's value asks for nothing: SDKs send some
/// fields with their default values.
fn asks_nothing(name: &str, value: &serde_json::Value) -> bool {
    match name {
        "logprobs" | "store" => value == &serde_json::Value::Bool(false),
        "response_format" => value == &serde_json::json!({"type": "text"}),
        _ => value.is_null(),
    }
}

impl ChatCompletionRequest {
    pub fn streaming(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The router request for this completion, made for `subject`.
    pub fn to_proto(&self, subject: &str) -> Result<pb::CompleteRequest, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::invalid(
                "messages: at least one message is required",
            ));
        }
        if let Some(name) = self
            .other
            .iter()
            .find(|(name, value)| !asks_nothing(name, value))
            .map(|(name, _)| name)
        {
            return Err(ApiError::invalid(format!(
                "{name}: not supported (refused rather than ignored)"
            )));
        }
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::invalid("n: only 1 choice is supported"));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(ApiError::invalid(format!(
                "temperature: {t} is not between 0 and 2"
            )));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(ApiError::invalid(format!(
                "top_p: {p} is not between 0 and 1"
            )));
        }
        let stop = match &self.stop {
            None => Vec::new(),
            Some(StringOrArray::One(s)) => vec![s.clone()],
            Some(StringOrArray::Many(v)) if v.len() > 4 => {
                return Err(ApiError::invalid("stop: at most 4 sequences"));
            }
            Some(StringOrArray::Many(v)) => v.clone(),
        };
        // 0 would be sent as "unset" (proto3) and silently mean the default.
        for (name, value) in [
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
        ] {
            if value == Some(0) {
                return Err(ApiError::invalid(format!("{name}: must be at least 1")));
            }
        }
        let messages = self
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| message_to_proto(i, m))
            .collect::<Result<_, _>>()?;
        let (tier, model) = tier_or_model(&self.model)?;
        Ok(pb::CompleteRequest {
            // The router makes the call id; the request id travels as metadata.
            call_id: String::new(),
            tier: tier as i32,
            model,
            messages,
            max_tokens: self.max_completion_tokens.or(self.max_tokens).unwrap_or(0),
            temperature: self.temperature,
            top_p: self.top_p,
            stop,
            caller: Some(caller(subject)),
            seed: self.seed,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            user: self.user.clone(),
            tools: tools_to_proto(self.tools.as_deref().unwrap_or_default())?,
            tool_choice: self
                .tool_choice
                .as_ref()
                .map(tool_choice_to_proto)
                .transpose()?,
            parallel_tool_calls: self.parallel_tool_calls,
        })
    }
}

pub fn caller(subject: &str) -> pb::CallerContext {
    pb::CallerContext {
        user_id: subject.to_owned(),
        session_id: String::new(),
        service: "gateway".to_owned(),
    }
}

/// `sota` and `cost_effective` name tiers; anything else is a model alias.
fn tier_or_model(model: &str) -> Result<(pb::Tier, String), ApiError> {
    match model.trim() {
        "" => Err(ApiError::invalid(
            "model: required (sota, cost_effective or an alias from GET /v1/models)",
        )),
        "sota" => Ok((pb::Tier::Sota, String::new())),
        "cost_effective" | "cost-effective" => Ok((pb::Tier::CostEffective, String::new())),
        alias => Ok((pb::Tier::Unspecified, alias.to_owned())),
    }
}

fn message_to_proto(i: usize, m: &ChatMessageIn) -> Result<pb::ChatMessage, ApiError> {
    let role = match m.role.as_str() {
        "system" | "developer" => pb::Role::System,
        "user" => pb::Role::User,
        "assistant" => pb::Role::Assistant,
        "tool" => pb::Role::Tool,
        other => {
            return Err(ApiError::invalid(format!(
                "messages[{i}].role: {other:?} is not supported (system, developer, user, assistant, tool)"
            )));
        }
    };
    let content = match &m.content {
        None => String::new(),
        Some(MessageContent::Text(t)) => t.clone(),
        Some(MessageContent::Parts(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                match (part.kind.as_str(), &part.text) {
                    ("text", Some(t)) => text.push_str(t),
                    (kind, _) => {
                        return Err(ApiError::invalid(format!(
                            "messages[{i}].content[{j}]: {kind:?} parts are not supported (text only)"
                        )));
                    }
                }
            }
            text
        }
    };
    Ok(pb::ChatMessage {
        role: role as i32,
        content,
        tool_calls: calls_to_proto(m.tool_calls.as_deref().unwrap_or_default()),
        tool_call_id: m.tool_call_id.clone().unwrap_or_default(),
    })
}

pub fn finish_reason(reason: pb::FinishReason) -> &'static str {
    match reason {
        pb::FinishReason::Length => "length",
        pb::FinishReason::ContentFilter => "content_filter",
        pb::FinishReason::ToolCalls => "tool_calls",
        pb::FinishReason::Stop | pb::FinishReason::Unspecified => "stop",
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct UsageDto {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl From<Option<&pb::Usage>> for UsageDto {
    fn from(u: Option<&pb::Usage>) -> Self {
        let (prompt, completion) = u.map_or((0, 0), |u| (u.input_tokens, u.output_tokens));
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssistantMessage {
    pub role: &'static str,
    /// Null when the turn only called tools.
    pub content: Option<String>,
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: &'static str,
    #[schema(value_type = Option<Object>)]
    pub logprobs: Option<()>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-` and the router's request id.
    pub id: String,
    /// `chat.completion`
    pub object: &'static str,
    pub created: i64,
    /// The model that answered.
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: UsageDto,
    pub system_fingerprint: Option<String>,
}

impl ChatCompletion {
    pub fn from_proto(r: pb::CompleteResponse, created: i64) -> Self {
        Self {
            id: format!("chatcmpl-{}", r.call_id),
            object: "chat.completion",
            created,
            usage: UsageDto::from(r.usage.as_ref()),
            choices: vec![Choice {
                index: 0,
                finish_reason: finish_reason(r.finish_reason()),
                message: AssistantMessage {
                    role: "assistant",
                    // Null, as OpenAI sends it, on a turn that only called tools.
                    content: (!r.content.is_empty() || r.tool_calls.is_empty())
                        .then_some(r.content),
                    refusal: None,
                    tool_calls: calls_from_proto(r.tool_calls),
                },
                logprobs: None,
            }],
            model: r.model,
            system_fingerprint: None,
        }
    }
}

/// One `chat.completion.chunk` (borrowed: built per chunk on the hot path).
#[derive(Debug, Serialize)]
pub struct Chunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: i64,
    pub model: &'a str,
    pub system_fingerprint: Option<&'a str>,
    pub choices: &'a [ChunkChoice<'a>],
    /// Absent unless `stream_options.include_usage`; then null except on the
    /// last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<UsageDto>>,
}

#[derive(Debug, Serialize)]
pub struct ChunkChoice<'a> {
    pub index: u32,
    pub delta: Delta<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'static str>,
}

#[derive(Debug, Default, Serialize)]
pub struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<[ToolCallChunk<'a>; 1]>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    /// Token arrays and anything else: refused with a clear message.
    #[schema(value_type = Object)]
    Unsupported(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmbeddingsRequest {
    /// An embedding model alias; empty: the default one.
    #[serde(default)]
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// `float` (default) or `base64` (little-endian f32, what the Python SDK asks for).
    #[serde(default)]
    #[schema(pattern = "^(float|base64)$")]
    pub encoding_format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingValue {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingData {
    pub object: &'static str,
    pub index: usize,
    pub embedding: EmbeddingValue,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingsResponse {
    pub object: &'static str,
    pub data: Vec<EmbeddingData>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDto {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub owned_by: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelDto>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> ChatCompletionRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn translates_an_sdk_request() {
        let r = request(serde_json::json!({
            "model": "sota",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": null}
            ],
            "max_completion_tokens": 50, "max_tokens": 10,
            "temperature": 0.5, "stop": "END", "stream": true,
            "stream_options": {"include_usage": true}, "user": "u", "seed": 7
        }));
        assert!(r.streaming() && r.include_usage());
        let p = r.to_proto("alice").unwrap();
        assert_eq!(p.tier(), pb::Tier::Sota);
        assert_eq!(p.model, "");
        assert_eq!(p.max_tokens, 50);
        assert_eq!(p.stop, ["END"]);
        assert_eq!(p.messages[0].role(), pb::Role::System);
        assert_eq!(p.messages[1].content, "hi there");
        assert_eq!((p.seed, p.user.as_deref()), (Some(7), Some("u")));
        assert_eq!(p.caller.unwrap().user_id, "alice");
    }

    #[test]
    fn refuses_what_it_cannot_honour_by_name() {
        let base =
            serde_json::json!({"model": "sota", "messages": [{"role": "user", "content": "x"}]});
        let with = |name: &str, value: serde_json::Value| {
            let mut body = base.clone();
            body[name] = value;
            request(body).to_proto("a")
        };
        for (name, value) in [
            ("functions", serde_json::json!([{"name": "f"}])),
            ("tool_choice", serde_json::json!("sometimes")),
            (
                "response_format",
                serde_json::json!({"type": "json_object"}),
            ),
            ("logprobs", serde_json::json!(true)),
            ("logit_bias", serde_json::json!({"50256": -100})),
        ] {
            let e = with(name, value).unwrap_err();
            assert!(
                e.message().starts_with(&format!("{name}: ")),
                "{}",
                e.message()
            );
        }
        for (name, value) in [
            ("logprobs", serde_json::json!(false)),
            ("store", serde_json::json!(false)),
            ("response_format", serde_json::json!({"type": "text"})),
            ("tools", serde_json::Value::Null),
        ] {
            assert!(with(name, value).is_ok(), "{name}");
        }
    }

    #[test]
    fn aliases_and_bad_inputs() {
        let p = request(serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}))
            .to_proto("a")
            .unwrap();
        assert_eq!(
            (p.tier(), p.model.as_str()),
            (pb::Tier::Unspecified, "gpt-4o-mini")
        );
        for (body, needle) in [
            (
                serde_json::json!({"model": "sota", "messages": []}),
                "messages",
            ),
            (
                serde_json::json!({"model": "sota", "messages": [{"role": "function", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                serde_json::json!({"model": "sota", "n": 2, "messages": [{"role": "user", "content": "x"}]}),
                "n:",
            ),
            (
                serde_json::json!({"model": "sota", "temperature": 3, "messages": [{"role": "user", "content": "x"}]}),
                "temperature",
            ),
            (
                serde_json::json!({"model": "sota", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
                "content[0]",
            ),
        ] {
            let e = request(body).to_proto("a").unwrap_err();
            assert!(e.message().contains(needle), "{}", e.message());
        }
    }

    #[test]
    fn untagged_errors_say_what_was_expected() {
        let e = serde_json::from_value::<ChatCompletionRequest>(serde_json::json!({
            "model": "sota", "messages": [{"role": "user", "content": "x"}], "stop": 5
        }))
        .unwrap_err();
        assert!(
            e.to_string().contains("a string or an array of strings"),
            "{e}"
        );
    }
}
