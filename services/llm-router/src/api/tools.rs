//! Tool calling between the gRPC contract and the providers' types, with the
//! checks every vendor would make anyway (names, schemas, choice, which
//! message may carry what), so a bad request fails here, by field, for all.

use fluentedge_proto::router::v1 as pb;
use llm_providers::{Message, Role, Tool, ToolCall, ToolCallDelta, ToolChoice};
use service_kit::ServiceError;

/// Most tools one request may offer (OpenAI's limit).
pub const MAX_TOOLS: usize = 128;

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn tools(given: Vec<pb::Tool>) -> Result<Vec<Tool>, ServiceError> {
    if given.len() > MAX_TOOLS {
        return Err(ServiceError::invalid(format!(
            "tools: {} tools; the limit is {MAX_TOOLS}",
            given.len()
        )));
    }
    let mut out: Vec<Tool> = Vec::with_capacity(given.len());
    for (i, t) in given.into_iter().enumerate() {
        if !valid_name(&t.name) {
            return Err(ServiceError::invalid(format!(
                "tools[{i}].name: 1 to 64 of A-Z, a-z, 0-9, _ and -"
            )));
        }
        if out.iter().any(|o| o.name == t.name) {
            return Err(ServiceError::invalid(format!(
                "tools[{i}].name: {:?} is offered twice",
                t.name
            )));
        }
        let parameters = if t.parameters_json.trim().is_empty() {
            serde_json::json!({"type": "object", "properties": {}})
        } else {
            match serde_json::from_str::<serde_json::Value>(&t.parameters_json) {
                Ok(v) if v.is_object() => v,
                _ => {
                    return Err(ServiceError::invalid(format!(
                        "tools[{i}].parameters: must be a JSON Schema object"
                    )));
                }
            }
        };
        out.push(Tool {
            name: t.name,
            description: (!t.description.is_empty()).then_some(t.description),
            parameters,
            strict: t.strict,
        });
    }
    Ok(out)
}

pub fn tool_choice(
    given: Option<pb::ToolChoice>,
    tools: &[Tool],
) -> Result<Option<ToolChoice>, ServiceError> {
    use pb::tool_choice::Choice;
    let choice = match given.and_then(|c| c.choice) {
        None => return Ok(None),
        Some(Choice::Function(name)) => {
            if !tools.iter().any(|t| t.name == name) {
                return Err(ServiceError::invalid(format!(
                    "tool_choice: {name:?} is not one of the request's tools"
                )));
            }
            ToolChoice::Function(name)
        }
        Some(Choice::Mode(mode)) => match pb::ToolChoiceMode::try_from(mode) {
            Ok(pb::ToolChoiceMode::Auto) => ToolChoice::Auto,
            Ok(pb::ToolChoiceMode::None) => ToolChoice::None,
            Ok(pb::ToolChoiceMode::Required) => ToolChoice::Required,
            Ok(pb::ToolChoiceMode::Unspecified) => return Ok(None),
            Err(_) => {
                return Err(ServiceError::invalid(format!(
                    "tool_choice.mode: {mode} is not a mode"
                )));
            }
        },
    };
    if tools.is_empty() && choice != ToolChoice::None {
        return Err(ServiceError::invalid(
            "tool_choice: only allowed when tools are offered",
        ));
    }
    Ok(Some(choice))
}

/// Adds message `i`'s tool parts, checking which role may carry which.
pub fn message_parts(
    i: usize,
    mut message: Message,
    calls: Vec<pb::ToolCall>,
    tool_call_id: String,
) -> Result<Message, ServiceError> {
    if !calls.is_empty() && message.role != Role::Assistant {
        return Err(ServiceError::invalid(format!(
            "messages[{i}].tool_calls: only assistant messages carry tool calls"
        )));
    }
    match (message.role == Role::Tool, tool_call_id.is_empty()) {
        (true, true) => {
            return Err(ServiceError::invalid(format!(
                "messages[{i}].tool_call_id: required on tool messages"
            )));
        }
        (false, false) => {
            return Err(ServiceError::invalid(format!(
                "messages[{i}].tool_call_id: only tool messages answer a call"
            )));
        }
        _ => {}
    }
    for (j, c) in calls.iter().enumerate() {
        if c.id.is_empty() || !valid_name(&c.name) {
            return Err(ServiceError::invalid(format!(
                "messages[{i}].tool_calls[{j}]: needs an id and a valid function name"
            )));
        }
    }
    message.tool_calls = calls
        .into_iter()
        .map(|c| ToolCall {
            id: c.id,
            name: c.name,
            arguments: c.arguments,
        })
        .collect();
    message.tool_call_id = (!tool_call_id.is_empty()).then_some(tool_call_id);
    Ok(message)
}

/// Every tool message answers a call of an earlier assistant turn (what
/// every vendor refuses otherwise, here by field for all of them).
pub fn check_answers(messages: &[Message]) -> Result<(), ServiceError> {
    let mut called: Vec<&str> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        called.extend(m.tool_calls.iter().map(|c| c.id.as_str()));
        if let Some(id) = &m.tool_call_id
            && !called.contains(&id.as_str())
        {
            return Err(ServiceError::invalid(format!(
                "messages[{i}].tool_call_id: {id:?} answers no earlier tool call"
            )));
        }
    }
    Ok(())
}

pub fn calls(calls: Vec<ToolCall>) -> Vec<pb::ToolCall> {
    calls
        .into_iter()
        .map(|c| pb::ToolCall {
            id: c.id,
            name: c.name,
            arguments: c.arguments,
        })
        .collect()
}

pub fn delta(d: ToolCallDelta) -> pb::ToolCallDelta {
    pb::ToolCallDelta {
        index: d.index,
        id: d.id.unwrap_or_default(),
        name: d.name.unwrap_or_default(),
        arguments: d.arguments,
    }
}
