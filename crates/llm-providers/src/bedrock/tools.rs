//! Bedrock Converse's tool-calling wire format: `toolConfig` (`toolSpec`
//! with `inputSchema.json`, `toolChoice` `auto`/`any`/`tool`), assistant
//! `toolUse` blocks and user `toolResult` blocks. Converse has no `none`
//! choice, no switch for parallel calls and no strict tools: those requests
//! never reach it (`chat_support`).

use serde_json::{Value, json};

use crate::tools::{alternating_turns, plain};
use crate::{ChatRequest, Message, ToolChoice};

/// One message's blocks; empty text is left out (Converse refuses blank
/// text blocks, and a turn that only called tools has none).
fn blocks(m: &Message) -> Vec<Value> {
    if let Some(id) = &m.tool_call_id {
        return vec![json!({"toolResult": {"toolUseId": id, "content": [{"text": m.content}]}})];
    }
    let mut out = Vec::with_capacity(1 + m.tool_calls.len());
    if !m.content.is_empty() {
        out.push(json!({"text": m.content}));
    }
    out.extend(m.tool_calls.iter().map(|c| {
        json!({"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.input().unwrap_or_default()}})
    }));
    out
}

/// The Converse `messages`: alternating turns, a turn of text only as one
/// text block (the plain path's form), tool results first in their user turn.
pub(super) fn messages(request: &ChatRequest) -> Vec<Value> {
    alternating_turns(request)
        .into_iter()
        .map(|(role, ms)| {
            let content: Vec<Value> = if plain(&ms) {
                let texts: Vec<&str> = ms.iter().map(|m| m.content.as_str()).collect();
                vec![json!({"text": texts.join("\n\n")})]
            } else {
                let mut all: Vec<Value> = ms.iter().flat_map(|m| blocks(m)).collect();
                all.sort_by_key(|b| b.get("toolResult").is_none());
                all
            };
            json!({"role": role.as_str(), "content": content})
        })
        .collect()
}

/// `toolConfig`, when the request offers tools.
pub(super) fn tool_config(request: &ChatRequest) -> Option<Value> {
    if request.tools.is_empty() {
        return None;
    }
    let tools: Vec<Value> = request
        .tools
        .iter()
        .map(|t| {
            let mut spec = json!({"name": t.name, "inputSchema": {"json": t.parameters}});
            if let Some(d) = &t.description {
                spec["description"] = json!(d);
            }
            json!({"toolSpec": spec})
        })
        .collect();
    let mut config = json!({ "tools": tools });
    let choice = match &request.tool_choice {
        None => return Some(config),
        // `none` never reaches Converse (chat_support).
        Some(ToolChoice::Auto | ToolChoice::None) => json!({"auto": {}}),
        Some(ToolChoice::Required) => json!({"any": {}}),
        Some(ToolChoice::Function(name)) => json!({"tool": {"name": name}}),
    };
    config["toolChoice"] = choice;
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Role, Tool, ToolCall};

    #[test]
    fn calls_and_results_take_converse_blocks() {
        let req = ChatRequest {
            messages: vec![
                Message::new(Role::System, "s"),
                Message::new(Role::User, "weather?"),
                Message::tool_calls(vec![ToolCall {
                    id: "tooluse_1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                }]),
                Message::tool_result("tooluse_1", "sunny"),
            ],
            tools: vec![Tool {
                name: "get_weather".into(),
                description: Some("d".into()),
                parameters: json!({"type": "object"}),
                strict: false,
            }],
            tool_choice: Some(ToolChoice::Required),
            ..Default::default()
        };
        let m = messages(&req);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0]["content"], json!([{"text": "weather?"}]));
        assert_eq!(m[1]["content"][0]["toolUse"]["input"]["city"], "Paris");
        assert_eq!(m[2]["role"], "user");
        assert_eq!(
            m[2]["content"][0]["toolResult"],
            json!({"toolUseId": "tooluse_1", "content": [{"text": "sunny"}]})
        );
        let config = tool_config(&req).unwrap();
        assert_eq!(
            config["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
            "object"
        );
        assert_eq!(config["toolChoice"], json!({"any": {}}));
    }
}
