//! The vendor-neutral request, response and stream types every provider speaks.

use crate::ProviderError;
use crate::tools::{Tool, ToolCall, ToolChoice};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering one call of the assistant turn before it.
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// The calls an assistant turn made (its content may then be empty).
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// An assistant turn that called tools.
    pub fn tool_calls(calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::new(Role::Assistant, "")
        }
    }

    /// A tool's result for call `id`.
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(id.into()),
            ..Self::new(Role::Tool, content)
        }
    }
}

/// A chat completion request, without the model: the engine sends the same
/// request to several candidates, each with its own model or deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The conversation, oldest first; system messages anywhere.
    pub messages: Vec<Message>,
    /// Upper bound on output tokens (always set: it bounds the cost).
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop: Vec<String>,
    /// Best-effort deterministic sampling; not every vendor has it.
    pub seed: Option<i64>,
    /// -2 to 2; not every vendor has it.
    pub presence_penalty: Option<f32>,
    /// -2 to 2; not every vendor has it.
    pub frequency_penalty: Option<f32>,
    /// The end user, for the vendor's abuse monitoring; not every vendor
    /// has it.
    pub user: Option<String>,
    /// Functions the model may call; not every vendor's translation exists.
    pub tools: Vec<Tool>,
    /// `None`: the vendor's default (`auto` when tools are offered).
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)`: at most one call per turn.
    pub parallel_tool_calls: Option<bool>,
}

/// Which of [`ChatRequest`]'s optional parameters a vendor honours. Every
/// vendor honours the rest (`max_tokens`, `temperature` up to 1, `top_p`,
/// `stop`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatSupport {
    pub seed: bool,
    pub presence_penalty: bool,
    pub frequency_penalty: bool,
    pub user: bool,
    /// Tools, tool choice, assistant tool calls and tool results.
    pub tools: bool,
    /// `tool_choice: none` with tools offered (Bedrock Converse has no such
    /// choice).
    pub tool_choice_none: bool,
    /// `parallel_tool_calls: false`.
    pub single_tool_call: bool,
    /// `strict` tools (arguments validated against the schema).
    pub strict_tools: bool,
    /// Temperatures above 1, up to OpenAI's 2 (Anthropic's range ends at 1).
    pub high_temperature: bool,
}

impl ChatSupport {
    /// Every optional parameter.
    pub const ALL: ChatSupport = ChatSupport {
        seed: true,
        presence_penalty: true,
        frequency_penalty: true,
        user: true,
        tools: true,
        tool_choice_none: true,
        single_tool_call: true,
        strict_tools: true,
        high_temperature: true,
    };
}

impl ChatRequest {
    /// The first parameter this request sets that a vendor with `support`
    /// cannot honour, by its API name: such a vendor must not be asked, since
    /// it would silently drop the parameter.
    pub fn unsupported(&self, support: ChatSupport) -> Option<&'static str> {
        [
            ("seed", self.seed.is_some(), support.seed),
            (
                "presence_penalty",
                self.presence_penalty.is_some(),
                support.presence_penalty,
            ),
            (
                "frequency_penalty",
                self.frequency_penalty.is_some(),
                support.frequency_penalty,
            ),
            ("user", self.user.is_some(), support.user),
            ("tools", self.uses_tools(), support.tools),
            (
                "tool_choice",
                self.tool_choice == Some(ToolChoice::None),
                support.tool_choice_none,
            ),
            (
                "parallel_tool_calls",
                self.parallel_tool_calls == Some(false),
                support.single_tool_call,
            ),
            (
                "strict",
                self.tools.iter().any(|t| t.strict),
                support.strict_tools,
            ),
            (
                "temperature",
                self.temperature.is_some_and(|t| t > 1.0),
                support.high_temperature,
            ),
        ]
        .into_iter()
        .find(|&(_, set, honoured)| set && !honoured)
        .map(|(name, _, _)| name)
    }

    /// Whether any part of the request is about tools.
    pub fn uses_tools(&self) -> bool {
        !self.tools.is_empty()
            || self.tool_choice.is_some()
            || self.parallel_tool_calls.is_some()
            || self
                .messages
                .iter()
                .any(|m| m.role == Role::Tool || !m.tool_calls.is_empty())
    }

    /// The system messages joined by blank lines (vendors that take the system
    /// prompt apart from the conversation), or `None` when there are none.
    pub fn system_prompt(&self) -> Option<String> {
        let mut parts = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str());
        let first = parts.next()?;
        let mut out = first.to_owned();
        for p in parts {
            out.push_str("\n\n");
            out.push_str(p);
        }
        Some(out)
    }

    /// The non-system messages with consecutive same-role turns merged, as
    /// vendors that require alternating turns (Anthropic, Bedrock, Gemini) expect.
    pub fn turns(&self) -> Vec<(Role, String)> {
        let mut out: Vec<(Role, String)> = Vec::with_capacity(self.messages.len());
        for m in self.messages.iter().filter(|m| m.role != Role::System) {
            match out.last_mut() {
                Some((role, text)) if *role == m.role => {
                    text.push_str("\n\n");
                    text.push_str(&m.content);
                }
                _ => out.push((m.role, m.content.clone())),
            }
        }
        out
    }

    /// Characters of every message: the basis of token estimates.
    pub fn prompt_chars(&self) -> usize {
        self.messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum()
    }
}

/// Tokens billed for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl TokenUsage {
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.input_tokens == 0 && self.output_tokens == 0
    }

    /// Field-wise maximum: usage reports are cumulative, so the larger wins.
    pub fn max(self, other: TokenUsage) -> TokenUsage {
        TokenUsage {
            input_tokens: self.input_tokens.max(other.input_tokens),
            output_tokens: self.output_tokens.max(other.output_tokens),
        }
    }
}

/// A rough token count for text whose usage the provider did not report
/// (a cut stream): about four characters per token.
pub fn estimate_tokens(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ToolCalls => "tool_calls",
        }
    }
}

/// A complete (unary) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub content: String,
    /// The calls the model made (finish reason `ToolCalls`).
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    /// Zero when the provider reported none (some OpenAI-compatible servers).
    pub usage: TokenUsage,
}

/// A piece of a tool call, as the model streams it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    /// A fragment of the JSON arguments.
    pub arguments: String,
}

/// One frame of a normalized stream. Every provider stream ends with exactly
/// one terminal frame (`Done` or `Error`) and yields nothing after it.
#[derive(Debug, Clone)]
pub enum StreamFrame {
    Text(String),
    ToolCall(ToolCallDelta),
    /// Usage so far (cumulative), when the protocol reports it before the end.
    Usage(TokenUsage),
    Done {
        finish_reason: FinishReason,
        usage: TokenUsage,
    },
    Error(ProviderError),
}

impl StreamFrame {
    pub fn is_terminal(&self) -> bool {
        matches!(self, StreamFrame::Done { .. } | StreamFrame::Error(_))
    }

    /// Whether this frame carries answer content (what "first token" means).
    pub fn is_content(&self) -> bool {
        matches!(self, StreamFrame::Text(_) | StreamFrame::ToolCall(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    pub inputs: Vec<String>,
    /// Output dimensions where the model lets callers choose.
    pub dimensions: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbedResponse {
    /// One vector per input, in input order.
    pub embeddings: Vec<Vec<f32>>,
    pub usage: TokenUsage,
}
