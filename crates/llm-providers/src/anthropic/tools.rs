//! Anthropic's tool-calling wire format: `tools` with `input_schema`,
//! `tool_choice` (`auto`/`any`/`tool`/`none`, `disable_parallel_tool_use`),
//! assistant `tool_use` blocks and user `tool_result` blocks.

use serde::Serialize;
use serde_json::{Value, json};

use crate::tools::{alternating_turns, plain};
use crate::{ChatRequest, Message, Tool, ToolChoice};

/// A turn's content: a plain string while it is only text (what the plain
/// path has always sent), content blocks once it carries tool parts.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Content {
    Text(String),
    Blocks(Vec<Value>),
}

#[derive(Serialize)]
pub(super) struct Turn {
    role: &'static str,
    content: Content,
}

/// One message's blocks. Empty text is left out: the API refuses empty text
/// blocks, and an assistant turn that only called tools has none.
fn blocks(m: &Message) -> Vec<Value> {
    let mut out = Vec::with_capacity(1 + m.tool_calls.len());
    if let Some(id) = &m.tool_call_id {
        out.push(json!({"type": "tool_result", "tool_use_id": id, "content": m.content}));
        return out;
    }
    if !m.content.is_empty() {
        out.push(json!({"type": "text", "text": m.content}));
    }
    out.extend(m.tool_calls.iter().map(|c| {
        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input().unwrap_or_default()})
    }));
    out
}

/// The non-system messages as alternating turns. Tool results are user
/// content on the Messages API, so a `tool` message folds into the user turn
/// next to it, its `tool_result` blocks first as the API requires.
pub(super) fn turns(request: &ChatRequest) -> Vec<Turn> {
    alternating_turns(request)
        .into_iter()
        .map(|(role, ms)| {
            let content = if plain(&ms) {
                let texts: Vec<&str> = ms.iter().map(|m| m.content.as_str()).collect();
                Content::Text(texts.join("\n\n"))
            } else {
                let mut all: Vec<Value> = ms.iter().flat_map(|m| blocks(m)).collect();
                // Stable: results keep their order, text keeps its own.
                all.sort_by_key(|b| b["type"] != "tool_result");
                Content::Blocks(all)
            };
            Turn {
                role: role.as_str(),
                content,
            }
        })
        .collect()
}

pub(super) fn tools_json(tools: &[Tool]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| {
            let mut tool = json!({"name": t.name, "input_schema": t.parameters});
            if let Some(d) = &t.description {
                tool["description"] = json!(d);
            }
            if t.strict {
                tool["strict"] = json!(true);
            }
            tool
        })
        .collect()
}

/// `tool_choice`, with `disable_parallel_tool_use` where the request asks for
/// at most one call (`auto` when it names no choice). `none` has no such
/// field: it allows no call at all.
pub(super) fn tool_choice_json(request: &ChatRequest) -> Option<Value> {
    let single = request.parallel_tool_calls == Some(false);
    let mut choice = match &request.tool_choice {
        Some(ToolChoice::None) => return Some(json!({"type": "none"})),
        Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::Function(name)) => json!({"type": "tool", "name": name}),
        None if single => json!({"type": "auto"}),
        None => return None,
    };
    if single {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    Some(choice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, Role, ToolCall, check_call_arguments};

    fn call(id: &str, args: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "get_weather".into(),
            arguments: args.into(),
        }
    }

    fn body(request: &ChatRequest) -> Value {
        json!({"messages": turns(request), "tool_choice": tool_choice_json(request)})
    }

    #[test]
    fn calls_become_tool_use_and_results_fold_into_the_next_user_turn() {
        let req = ChatRequest {
            messages: vec![
                Message::new(Role::User, "weather?"),
                Message::tool_calls(vec![
                    call("toolu_1", r#"{"city":"Paris"}"#),
                    call("toolu_2", ""),
                ]),
                Message::tool_result("toolu_1", "sunny"),
                Message::tool_result("toolu_2", "rain"),
                Message::new(Role::User, "and so?"),
            ],
            ..Default::default()
        };
        let v = body(&req);
        let turns = v["messages"].as_array().unwrap();
        assert_eq!(turns.len(), 3);
        assert_eq!(turns[0]["content"], "weather?");
        assert_eq!(turns[1]["role"], "assistant");
        let uses = turns[1]["content"].as_array().unwrap();
        assert_eq!(uses.len(), 2, "no empty text block: {uses:?}");
        assert_eq!(uses[0]["type"], "tool_use");
        assert_eq!(uses[0]["input"]["city"], "Paris");
        assert_eq!(uses[1]["input"], json!({}));
        assert_eq!(turns[2]["role"], "user");
        let parts = turns[2]["content"].as_array().unwrap();
        assert_eq!(parts[0]["tool_use_id"], "toolu_1");
        assert_eq!(parts[1]["tool_use_id"], "toolu_2");
        assert_eq!(parts[1]["content"], "rain");
        assert_eq!(parts[2], json!({"type": "text", "text": "and so?"}));
    }

    #[test]
    fn choices_map_to_anthropic_names() {
        let mut req = ChatRequest::default();
        assert_eq!(body(&req)["tool_choice"], Value::Null);
        req.parallel_tool_calls = Some(false);
        assert_eq!(
            body(&req)["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        req.tool_choice = Some(ToolChoice::Required);
        assert_eq!(
            body(&req)["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        req.parallel_tool_calls = None;
        req.tool_choice = Some(ToolChoice::Function("f".into()));
        assert_eq!(
            body(&req)["tool_choice"],
            json!({"type": "tool", "name": "f"})
        );
        req.tool_choice = Some(ToolChoice::None);
        assert_eq!(body(&req)["tool_choice"], json!({"type": "none"}));
    }

    #[test]
    fn arguments_that_are_no_object_are_refused_by_field() {
        let req = ChatRequest {
            messages: vec![
                Message::new(Role::User, "x"),
                Message::tool_calls(vec![call("a", "{}"), call("b", "[1]")]),
            ],
            ..Default::default()
        };
        let e = check_call_arguments(&req).unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::BadRequest);
        assert!(
            e.to_string()
                .contains("messages[1].tool_calls[1].arguments"),
            "{e}"
        );
    }
}
