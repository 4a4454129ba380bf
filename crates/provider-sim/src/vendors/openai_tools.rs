//! OpenAI's (and Azure's) tool calling, validated as strictly as the API
//! does, around the deterministic model of `tool_model`.

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::openai::{now, usage};
use super::tool_model::{self, Choice, SimCall, ToolTurn, argument_pieces, valid_name};
use crate::app::Ctx;
use crate::respond::{self, SSE, StreamPlan};
use crate::text::{self, Chat};

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

/// `tool_choice`.
fn choice(obj: &Map<String, Value>, tools: &[(String, Value)]) -> Result<Choice, Invalid> {
    let Some(choice) = obj.get("tool_choice") else {
        return Ok(Choice::Named);
    };
    if tools.is_empty() {
        return Err(invalid(
            "tool_choice",
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
        ));
    }
    match choice {
        Value::String(s) if s == "none" => Ok(Choice::Never),
        Value::String(s) if s == "auto" => Ok(Choice::Named),
        Value::String(s) if s == "required" => Ok(Choice::Forced),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if tools.iter().any(|(t, _)| t == name) {
                Ok(Choice::Tool(name.to_owned()))
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

/// Validates the body's tool parts and decides the turn; `call_id` numbers
/// the calls of this response.
pub(crate) fn turn(
    obj: &Map<String, Value>,
    messages: &[Value],
    last_user: &str,
    call_id: impl FnMut(usize) -> String,
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
    let results: Vec<String> = results.into_iter().rev().collect();
    let parallel = obj.get("parallel_tool_calls") != Some(&Value::Bool(false));
    Ok(tool_model::decide(
        &tools, &choice, parallel, last_user, &results, call_id,
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
