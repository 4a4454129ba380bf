//! Tool (function) calling in vendor-neutral form: the tools a request
//! offers, how the model may use them, and the calls it makes.

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// `^[A-Za-z0-9_-]{1,64}$`, unique within a request.
    pub name: String,
    pub description: Option<String>,
    /// The arguments' JSON Schema (an object schema).
    pub parameters: serde_json::Value,
    /// Whether the vendor must make the arguments validate against
    /// `parameters` exactly (OpenAI's structured outputs for tools).
    pub strict: bool,
}

/// Whether and which tools the model may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (the vendors' default when tools are offered).
    Auto,
    /// No tool call.
    None,
    /// At least one tool call.
    Required,
    /// This function.
    Function(String),
}

/// One complete tool call of an assistant turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The vendor's call id; a `tool` message answers it by this id.
    pub id: String,
    pub name: String,
    /// The arguments as a JSON object in text, as the model wrote them.
    pub arguments: String,
}

use serde_json::{Map, Value};

use crate::{ChatRequest, ErrorKind, Message, ProviderError, Role};

impl ToolCall {
    /// The arguments as the JSON object vendors with structured calls
    /// (Anthropic's `input`, Bedrock's `input`) take; `""` (what some models
    /// write for a tool without parameters) is `{}`. `None`: no object.
    pub fn input(&self) -> Option<Map<String, Value>> {
        if self.arguments.trim().is_empty() {
            return Some(Map::new());
        }
        serde_json::from_str(&self.arguments).ok()
    }
}

/// Refuses, by field, call arguments that are not a JSON object, for vendors
/// that take a call's arguments as an object: such a call cannot be sent as
/// given.
pub fn check_call_arguments(request: &ChatRequest) -> Result<(), ProviderError> {
    for (i, m) in request.messages.iter().enumerate() {
        for (j, c) in m.tool_calls.iter().enumerate() {
            if c.input().is_none() {
                return Err(ProviderError::new(
                    ErrorKind::BadRequest,
                    format!("messages[{i}].tool_calls[{j}].arguments: not a JSON object"),
                ));
            }
        }
    }
    Ok(())
}

/// The non-system messages grouped into alternating user and assistant
/// turns, for vendors whose tool results are user content (Anthropic,
/// Bedrock): a `tool` message joins the user turn next to it.
pub(crate) fn alternating_turns(request: &ChatRequest) -> Vec<(Role, Vec<&Message>)> {
    let mut turns: Vec<(Role, Vec<&Message>)> = Vec::new();
    for m in request.messages.iter().filter(|m| m.role != Role::System) {
        let role = if m.role == Role::Assistant {
            Role::Assistant
        } else {
            Role::User
        };
        match turns.last_mut() {
            Some((r, ms)) if *r == role => ms.push(m),
            _ => turns.push((role, vec![m])),
        }
    }
    turns
}

/// Whether a turn is only text (vendors keep their plain-text form for it).
pub(crate) fn plain(turn: &[&Message]) -> bool {
    turn.iter()
        .all(|m| m.tool_calls.is_empty() && m.tool_call_id.is_none())
}

/// A stream's tool-use blocks in order of their start: a call's position is
/// its OpenAI tool-call index, where the vendor's block index also counts
/// text blocks.
#[derive(Debug, Default)]
pub(crate) struct ToolBlocks(Vec<u32>);

impl ToolBlocks {
    /// A tool-use block starts at `block`: its call index.
    pub fn start(&mut self, block: u32) -> u32 {
        self.0.push(block);
        position(self.0.len() - 1)
    }

    /// The call index of the tool-use block at `block`, if one started there.
    pub fn call(&self, block: u32) -> Option<u32> {
        self.0.iter().position(|&b| b == block).map(position)
    }
}

fn position(p: usize) -> u32 {
    u32::try_from(p).unwrap_or(u32::MAX)
}
