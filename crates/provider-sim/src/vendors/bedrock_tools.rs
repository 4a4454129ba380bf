//! Bedrock Converse's tool calling (`toolConfig`, assistant `toolUse` and
//! user `toolResult` blocks), validated as strictly as Converse does, around
//! the deterministic model of `tool_model`.

use serde_json::Value;

use super::tool_model::{self, Choice, ToolTurn, valid_name};

fn constraint(at: &str, what: &str) -> String {
    format!("1 validation error detected: Value at '{at}' failed to satisfy constraint: {what}")
}

/// `toolConfig.tools` as `(name, input schema)`, and the choice.
fn config(v: &Value) -> Result<(Vec<(String, Value)>, Choice), String> {
    let Some(config) = v.get("toolConfig") else {
        return Ok((Vec::new(), Choice::Named));
    };
    let tools = config
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            constraint(
                "toolConfig.tools",
                "Member must have length greater than or equal to 1",
            )
        })?;
    let mut out: Vec<(String, Value)> = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let at = format!("toolConfig.tools.{}.member.toolSpec", i + 1);
        let Some(spec) = t.get("toolSpec") else {
            return Err(constraint(&at, "Member must not be null"));
        };
        let name = spec.get("name").and_then(Value::as_str).unwrap_or_default();
        if !valid_name(name) {
            return Err(constraint(
                &format!("{at}.name"),
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
            ));
        }
        let Some(schema) = spec.pointer("/inputSchema/json").filter(|s| s.is_object()) else {
            return Err(format!(
                "The value at {at}.inputSchema.json must be a JSON object"
            ));
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!(
                "The toolConfig field must not contain duplicate tool names: {name}"
            ));
        }
        out.push((name.to_owned(), schema.clone()));
    }
    let choice = match config.get("toolChoice") {
        None => Choice::Named,
        Some(c) if c.get("auto").is_some() => Choice::Named,
        Some(c) if c.get("any").is_some() => Choice::Forced,
        Some(c) => {
            let Some(name) = c.pointer("/tool/name").and_then(Value::as_str) else {
                return Err(
                    "toolConfig.toolChoice must be exactly one of auto, any or tool".into(),
                );
            };
            if !out.iter().any(|(n, _)| n == name) {
                return Err(format!(
                    "The tool {name} named in toolConfig.toolChoice is not in toolConfig.tools"
                ));
            }
            Choice::Tool(name.to_owned())
        }
    };
    Ok((out, choice))
}

fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn tool_use_id<'a>(b: &'a Value, kind: &str) -> Option<&'a str> {
    b.get(kind)?.get("toolUseId")?.as_str()
}

/// Every `toolUse` is answered by a `toolResult` in the next message, every
/// `toolResult` answers a `toolUse` of the message before, and such blocks
/// need a `toolConfig`.
fn check_messages(messages: &[Value], has_tools: bool) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let blocks = blocks(m);
        let uses: Vec<&str> = blocks
            .iter()
            .filter_map(|b| tool_use_id(b, "toolUse"))
            .collect();
        let results: Vec<&str> = blocks
            .iter()
            .filter_map(|b| tool_use_id(b, "toolResult"))
            .collect();
        if (!uses.is_empty() || !results.is_empty()) && !has_tools {
            return Err(
                "The toolConfig field must be defined when using toolUse and toolResult content blocks."
                    .into(),
            );
        }
        if !uses.is_empty() && role != "assistant" || !results.is_empty() && role != "user" {
            return Err(format!(
                "messages.{i}: toolUse blocks belong in assistant turns, toolResult blocks in user turns"
            ));
        }
        if results.len() > open.len() {
            return Err(format!(
                "The number of toolResult blocks at messages.{i}.content exceeds the number of toolUse blocks of previous turn."
            ));
        }
        let missing: Vec<&str> = open
            .iter()
            .copied()
            .filter(|id| !results.contains(id))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "Expected toolResult blocks at messages.{i}.content for the following Ids: {}",
                missing.join(", ")
            ));
        }
        for b in blocks.iter().filter(|b| b.get("toolUse").is_some()) {
            if !b.pointer("/toolUse/input").is_some_and(Value::is_object) {
                return Err(format!("messages.{i}: toolUse.input must be a JSON object"));
            }
        }
        open = uses;
    }
    Ok(())
}

/// Validates the body's tool parts and decides the turn; also whether the
/// model chose freely (it then writes a text block before its calls).
pub(crate) fn turn(
    v: &Value,
    messages: &[Value],
    last_user: &str,
    call_id: impl FnMut(usize) -> String,
) -> Result<(ToolTurn, bool), String> {
    let (tools, choice) = config(v)?;
    check_messages(messages, !tools.is_empty())?;
    let results: Vec<String> = messages
        .last()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(blocks)
        .unwrap_or_default()
        .iter()
        .filter_map(|b| b.pointer("/toolResult/content"))
        .map(crate::text::text_of)
        .collect();
    let turn = tool_model::decide(&tools, &choice, true, last_user, &results, call_id);
    Ok((turn, choice == Choice::Named))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(body: &Value) -> Result<ToolTurn, String> {
        let messages = body["messages"].as_array().unwrap();
        turn(body, messages, "Use f", |i| format!("tooluse_{i}")).map(|(t, _)| t)
    }

    fn config() -> Value {
        json!({"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]})
    }

    #[test]
    fn a_named_tool_is_called_and_its_result_answered() {
        let ask = json!({"toolConfig": config(), "messages": [{"role": "user", "content": [{"text": "Use f"}]}]});
        assert!(matches!(run(&ask).unwrap(), ToolTurn::Calls(c) if c[0].name == "f"));
        let answer = json!({"toolConfig": config(), "messages": [
            {"role": "user", "content": [{"text": "Use f"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_0", "name": "f", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_0", "content": [{"text": "42"}]}}]},
        ]});
        assert_eq!(
            run(&answer).unwrap(),
            ToolTurn::Answer("Here is what I found: 42.".into())
        );
    }

    #[test]
    fn what_converse_refuses_is_refused() {
        let call = json!({"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]});
        let cases = [
            (
                json!({"toolConfig": {"tools": []}, "messages": []}),
                "1 validation error detected: Value at 'toolConfig.tools'",
            ),
            (
                json!({"toolConfig": {"tools": [{"toolSpec": {"name": "f"}}]}, "messages": []}),
                "The value at toolConfig.tools.1.member.toolSpec.inputSchema.json",
            ),
            (
                json!({"toolConfig": {"tools": config()["tools"], "toolChoice": {"tool": {"name": "g"}}}, "messages": []}),
                "The tool g named",
            ),
            (
                json!({"toolConfig": config(), "messages": [{"role": "user", "content": [{"text": "x"}]}, call, {"role": "user", "content": [{"text": "y"}]}]}),
                "Expected toolResult blocks at messages.2.content for the following Ids: t1",
            ),
            (
                json!({"toolConfig": config(), "messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "t9", "content": []}}]}]}),
                "The number of toolResult blocks at messages.0.content exceeds",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "x"}]}, call]}),
                "The toolConfig field must be defined",
            ),
        ];
        for (body, message) in cases {
            let e = run(&body).unwrap_err();
            assert!(e.starts_with(message), "{body}: {e}");
        }
    }
}
