//! OpenAI's tool-calling shapes at the gateway: `tools`, `tool_choice`,
//! assistant `tool_calls`, `tool` messages, and the calls in answers and
//! stream chunks. The router checks the tools themselves (names, schemas,
//! which vendor can take them) and refuses by field.

use crate::errors::ApiError;
use fluentedge_proto::router::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct FunctionDef {
    /// 1 to 64 of `A-Z a-z 0-9 _ -`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The arguments' JSON Schema (an object schema).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ToolDef {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDef,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NamedFunction {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    untagged,
    expecting = "\"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}"
)]
pub enum ToolChoiceIn {
    Mode(String),
    Function { function: NamedFunction },
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct FunctionCall {
    pub name: String,
    /// The arguments, a JSON object in text.
    pub arguments: String,
}

/// A call in an assistant message (request and answer alike).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ToolCallDto {
    pub id: String,
    /// `function`.
    #[serde(rename = "type", default = "function")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function() -> String {
    "function".to_owned()
}

pub fn tools_to_proto(tools: &[ToolDef]) -> Result<Vec<pb::Tool>, ApiError> {
    tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.kind != "function" {
                return Err(ApiError::invalid(format!(
                    "tools[{i}].type: {:?} is not supported (function)",
                    t.kind
                )));
            }
            Ok(pb::Tool {
                name: t.function.name.clone(),
                description: t.function.description.clone().unwrap_or_default(),
                parameters_json: t
                    .function
                    .parameters
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                strict: t.function.strict.unwrap_or(false),
            })
        })
        .collect()
}

pub fn tool_choice_to_proto(choice: &ToolChoiceIn) -> Result<pb::ToolChoice, ApiError> {
    use pb::tool_choice::Choice;
    let choice = match choice {
        ToolChoiceIn::Function { function } => Choice::Function(function.name.clone()),
        ToolChoiceIn::Mode(mode) => Choice::Mode(match mode.as_str() {
            "auto" => pb::ToolChoiceMode::Auto,
            "none" => pb::ToolChoiceMode::None,
            "required" => pb::ToolChoiceMode::Required,
            other => {
                return Err(ApiError::invalid(format!(
                    "tool_choice: {other:?} is not one of none, auto, required"
                )));
            }
        } as i32),
    };
    Ok(pb::ToolChoice {
        choice: Some(choice),
    })
}

pub fn calls_to_proto(calls: &[ToolCallDto]) -> Vec<pb::ToolCall> {
    calls
        .iter()
        .map(|c| pb::ToolCall {
            id: c.id.clone(),
            name: c.function.name.clone(),
            arguments: c.function.arguments.clone(),
        })
        .collect()
}

pub fn calls_from_proto(calls: Vec<pb::ToolCall>) -> Vec<ToolCallDto> {
    calls
        .into_iter()
        .map(|c| ToolCallDto {
            id: c.id,
            kind: function(),
            function: FunctionCall {
                name: c.name,
                arguments: c.arguments,
            },
        })
        .collect()
}

/// One tool-call piece of a stream chunk, as OpenAI sends it: `id`, `type`
/// and `name` only on a call's first piece.
#[derive(Debug, Serialize)]
pub struct ToolCallChunk<'a> {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionChunk<'a>,
}

#[derive(Debug, Serialize)]
pub struct FunctionChunk<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

impl<'a> From<&'a pb::ToolCallDelta> for ToolCallChunk<'a> {
    fn from(d: &'a pb::ToolCallDelta) -> Self {
        let first = !d.id.is_empty();
        ToolCallChunk {
            index: d.index,
            id: first.then_some(d.id.as_str()),
            kind: first.then_some("function"),
            function: FunctionChunk {
                name: (!d.name.is_empty()).then_some(d.name.as_str()),
                arguments: &d.arguments,
            },
        }
    }
}
