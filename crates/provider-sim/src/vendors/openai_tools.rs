//! OpenAI's (and Azure's) tool calling, validated as strictly as the API
//! does, with a deterministic model: it calls the tools the user's last
//! message names (the first tool when a call is `required`, the named one for
//! a named `tool_choice`; one call when `parallel_tool_calls` is false) with
//! arguments filled from each tool's JSON Schema, and answers a turn that
//! ends in tool results with `Here is what I found: <results>.`

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::openai::{now, usage};
use crate::app::Ctx;
use crate::respond::{self, SSE, StreamPlan};
use crate::text::{self, Chat};

/// One call the simulated model makes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SimCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// What the model does with a request, tool-wise.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolTurn {
    /// No tools involved (or none chosen): the ordinary reply.
    Plain,
    Calls(Vec<SimCall>),
    /// The last messages are tool results: the final answer.
    Answer(String),
}

/// A request the API would refuse: its message and `param`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub message: String,
    pub param: String,
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        param: param.into(),
        message: message.into(),
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The tools of the body: `(name, parameters schema)`.
fn tools(obj: &Map<String, Value>) -> Result<Vec<(String, Value)>, Invalid> {
    let Some(tools) = obj.get("tools") else {
        return Ok(Vec::new());
    };
    let Some(tools) = tools.as_array() else {
        return Err(invalid(
            "tools",
            "Invalid type for 'tools': expected an array.",
        ));
    };
    let mut out = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        if t.get("type").and_then(Value::as_str) != Some("function") {
            return Err(invalid(
                format!("tools[{i}].type"),
                format!("Invalid value for 'tools[{i}].type': expected 'function'."),
            ));
        }
        let function = t.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !valid_name(name) {
            return Err(invalid(
                format!("tools[{i}].function.name"),
                format!(
                    "Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
                ),
            ));
        }
        let parameters = function
            .and_then(|f| f.get("parameters"))
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        if !parameters.is_object() {
            return Err(invalid(
                format!("tools[{i}].function.parameters"),
                format!("Invalid type for 'tools[{i}].function.parameters': expected an object."),
            ));
        }
        out.push((name.to_owned(), parameters));
    }
    Ok(out)
}

/// `tool_choice`: `None` for `none`, else which tools may be called and
/// whether one must be.
fn choice(
    obj: &Map<String, Value>,
    tools: &[(String, Value)],
) -> Result<Option<(Option<String>, bool)>, Invalid> {
    let Some(choice) = obj.get("tool_choice") else {
        return Ok(Some((None, false)));
    };
    if tools.is_empty() {
        return Err(invalid(
            "tool_choice",
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
        ));
    }
    match choice {
        Value::String(s) if s == "none" => Ok(None),
        Value::String(s) if s == "auto" => Ok(Some((None, false))),
        Value::String(s) if s == "required" => Ok(Some((None, true))),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if tools.iter().any(|(t, _)| t == name) {
                Ok(Some((Some(name.to_owned()), true)))
            } else {
                Err(invalid(
                    "tool_choice",
                    format!(
                        "Invalid value for 'tool_choice': function '{name}' is not in 'tools'."
                    ),
                ))
            }
        }
        _ => Err(invalid(
            "tool_choice",
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named function.",
        )),
    }
}

/// Every `tool` message answers a call of an earlier assistant turn, and every
/// call is answered before the conversation goes on.
fn check_messages(messages: &[Value]) -> Result<(), Invalid> {
    let mut open: Vec<(usize, String)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role == "tool" {
            let id = m
                .get("tool_call_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match open.iter().position(|(_, o)| o == id) {
                Some(k) => {
                    open.remove(k);
                }
                None => {
                    return Err(invalid(
                        format!("messages.[{i}].role"),
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                    ));
                }
            }
            continue;
        }
        if let Some((at, _)) = open.first() {
            let ids: Vec<&str> = open.iter().map(|(_, id)| id.as_str()).collect();
            return Err(invalid(
                format!("messages.[{at}].role"),
                format!(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                    ids.join(", ")
                ),
            ));
        }
        for call in m
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
            open.push((i, id.to_owned()));
        }
    }
    Ok(())
}

/// Arguments that validate against `schema`'s top-level properties.
fn arguments(schema: &Value, user: &str) -> String {
    let mut args = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let value = match prop.get("type").and_then(Value::as_str) {
                Some("integer" | "number") => json!(1),
                Some("boolean") => json!(true),
                Some("array") => json!([]),
                Some("object") => json!({}),
                _ => match prop
                    .get("enum")
                    .and_then(Value::as_array)
                    .and_then(|e| e.first())
                {
                    Some(first) => first.clone(),
                    None => json!(user),
                },
            };
            args.insert(name.clone(), value);
        }
    }
    Value::Object(args).to_string()
}

/// Validates the body's tool parts and decides the turn; `call_id` numbers
/// the calls of this response.
pub(crate) fn turn(
    obj: &Map<String, Value>,
    messages: &[Value],
    last_user: &str,
    mut call_id: impl FnMut(usize) -> String,
) -> Result<ToolTurn, Invalid> {
    let tools = tools(obj)?;
    let choice = choice(obj, &tools)?;
    check_messages(messages)?;
    let results: Vec<String> = messages
        .iter()
        .rev()
        .take_while(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
        .map(|m| {
            m.get("content")
                .map(crate::text::text_of)
                .unwrap_or_default()
        })
        .collect();
    if !results.is_empty() {
        let results: Vec<String> = results.into_iter().rev().collect();
        return Ok(ToolTurn::Answer(format!(
            "Here is what I found: {}.",
            results.join("; ")
        )));
    }
    let Some((named, required)) = choice else {
        return Ok(ToolTurn::Plain);
    };
    let mut chosen: Vec<&(String, Value)> = match &named {
        Some(name) => tools.iter().filter(|(t, _)| t == name).collect(),
        None => tools
            .iter()
            .filter(|(t, _)| last_user.contains(t.as_str()))
            .collect(),
    };
    if chosen.is_empty() && required {
        chosen.extend(tools.first());
    }
    if obj.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
        chosen.truncate(1);
    }
    if chosen.is_empty() {
        return Ok(ToolTurn::Plain);
    }
    Ok(ToolTurn::Calls(
        chosen
            .into_iter()
            .enumerate()
            .map(|(i, (name, schema))| SimCall {
                id: call_id(i),
                name: name.clone(),
                arguments: arguments(schema, last_user),
            })
            .collect(),
    ))
}

/// The answer of a turn that calls tools: unary, or streamed exactly as
/// OpenAI streams calls (per call, a first delta with index, id, type and
/// name and empty arguments, then argument fragments under the same index;
/// then `finish_reason: "tool_calls"`).
pub(crate) fn respond(ctx: &Ctx, chat: &Chat, include_usage: bool, calls: &[SimCall]) -> Response {
    let id = format!("chatcmpl-sim-{}", ctx.next_id());
    let created = now();
    let prompt = chat.input_tokens();
    let completion: u64 = calls
        .iter()
        .map(|c| text::approx_tokens_for_chars(c.name.len() + c.arguments.len()))
        .sum();
    if !chat.stream {
        let tool_calls: Vec<Value> = calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        let body = json!({
            "id": id, "object": "chat.completion", "created": created, "model": chat.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": null, "tool_calls": tool_calls, "refusal": null, "annotations": []},
                "logprobs": null, "finish_reason": "tool_calls",
            }],
            "usage": usage(prompt, completion), "system_fingerprint": "fp_sim",
        });
        return respond::unary(&ctx.fault, &body);
    }
    let chunk = |delta: Value, finish: Option<&str>| -> Bytes {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
            "system_fingerprint": "fp_sim",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        respond::sse_data(&c)
    };
    let mut plan = StreamPlan::new(SSE);
    plan.head.push(chunk(
        json!({"role": "assistant", "content": null, "refusal": null}),
        None,
    ));
    for (index, c) in calls.iter().enumerate() {
        plan.chunks.push(chunk(
            json!({"tool_calls": [{"index": index, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}]}),
            None,
        ));
        for piece in argument_pieces(&c.arguments) {
            plan.chunks.push(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                None,
            ));
        }
    }
    plan.tail.push(chunk(json!({}), Some("tool_calls")));
    if include_usage {
        let mut last = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
            "system_fingerprint": "fp_sim", "choices": [],
        });
        last["usage"] = usage(prompt, completion);
        plan.tail.push(respond::sse_data(&last));
    }
    plan.tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
    plan.garbage = Bytes::from(format!(
        "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":{{\"tool_calls\":\n\n"
    ));
    plan.into_response(&ctx.fault, ctx.chunk_delay())
}

/// Argument text in fragments of up to 8 characters, as models stream it.
fn argument_pieces(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    chars.chunks(8).map(|c| c.iter().collect()).collect()
}
