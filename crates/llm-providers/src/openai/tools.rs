//! OpenAI's tool-calling wire format (shared with Azure): `tools`,
//! `tool_choice`, assistant `tool_calls` and `tool` messages, both ways.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Message, Role, Tool, ToolCall, ToolChoice};

/// One chat message as OpenAI takes it.
#[derive(Serialize)]
pub(super) struct WireMessage<'a> {
    role: &'static str,
    /// Null for an assistant turn that only called tools.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

impl<'a> From<&'a Message> for WireMessage<'a> {
    fn from(m: &'a Message) -> Self {
        // OpenAI wants `content: null`, not "", on a turn that only called tools.
        let only_calls =
            m.role == Role::Assistant && m.content.is_empty() && !m.tool_calls.is_empty();
        WireMessage {
            role: m.role.as_str(),
            content: (!only_calls).then_some(m.content.as_str()),
            tool_calls: m.tool_calls.iter().map(call_json).collect(),
            tool_call_id: m.tool_call_id.as_deref(),
        }
    }
}

fn call_json(c: &ToolCall) -> Value {
    json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}})
}

pub(super) fn tools_json(tools: &[Tool]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| {
            let mut function = json!({"name": t.name, "parameters": t.parameters});
            if let Some(d) = &t.description {
                function["description"] = json!(d);
            }
            if t.strict {
                function["strict"] = json!(true);
            }
            json!({"type": "function", "function": function})
        })
        .collect()
}

pub(super) fn tool_choice_json(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

/// A tool call in a unary answer.
#[derive(Deserialize)]
pub(super) struct WireToolCall {
    #[serde(default)]
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: String,
}

impl From<WireToolCall> for ToolCall {
    fn from(c: WireToolCall) -> Self {
        ToolCall {
            id: c.id,
            name: c.function.name,
            arguments: c.function.arguments,
        }
    }
}
