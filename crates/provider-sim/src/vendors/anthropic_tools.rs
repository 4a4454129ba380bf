//! Anthropic's tool calling (`tools` with `input_schema`, `tool_choice`,
//! assistant `tool_use` and user `tool_result` blocks), validated as strictly
//! as the Messages API does, around the deterministic model of `tool_model`.

use serde_json::{Map, Value};

use super::tool_model::{self, Choice, ToolTurn, valid_name};

/// The fields a custom tool may carry; the API refuses any other.
const TOOL_FIELDS: [&str; 6] = [
    "type",
    "name",
    "description",
    "input_schema",
    "cache_control",
    "strict",
];

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// The tools of the body: `(name, input schema)`.
fn tools(obj: &Map<String, Value>) -> Result<Vec<(String, Value)>, String> {
    let Some(tools) = obj.get("tools") else {
        return Ok(Vec::new());
    };
    let Some(tools) = tools.as_array() else {
        return Err("tools: Input should be a valid list".into());
    };
    let mut out: Vec<(String, Value)> = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let Some(t) = t.as_object() else {
            return Err(format!("tools.{i}: Input should be a valid dictionary"));
        };
        if let Some(kind) = t.get("type").filter(|k| k.as_str() != Some("custom")) {
            return Err(format!(
                "tools.{i}: Input tag {kind} found using 'type' does not match any of the expected tags"
            ));
        }
        if let Some(extra) = t.keys().find(|k| !TOOL_FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "tools.{i}.custom.{extra}: Extra inputs are not permitted"
            ));
        }
        let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
        if !valid_name(name) {
            return Err(format!(
                "tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            ));
        }
        if t.get("description").is_some_and(|d| !d.is_string()) {
            return Err(format!(
                "tools.{i}.custom.description: Input should be a valid string"
            ));
        }
        let Some(schema) = t.get("input_schema") else {
            return Err(format!("tools.{i}.custom.input_schema: Field required"));
        };
        if kind(schema) != "object" {
            return Err(format!(
                "tools.{i}.custom.input_schema.type: Input should be 'object'"
            ));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err("tools: Tool names must be unique.".into());
        }
        out.push((name.to_owned(), schema.clone()));
    }
    Ok(out)
}

/// `tool_choice` and whether parallel calls stay allowed.
fn choice(obj: &Map<String, Value>, tools: &[(String, Value)]) -> Result<(Choice, bool), String> {
    let Some(choice) = obj.get("tool_choice") else {
        return Ok((Choice::Named, true));
    };
    let Some(c) = choice.as_object() else {
        return Err("tool_choice: Input should be a valid dictionary or object".into());
    };
    let kind = kind(choice);
    let allowed: &[&str] = match kind {
        "auto" | "any" => &["type", "disable_parallel_tool_use"],
        "tool" => &["type", "name", "disable_parallel_tool_use"],
        "none" => &["type"],
        other => {
            return Err(format!(
                "tool_choice: Input tag '{other}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
            ));
        }
    };
    if let Some(extra) = c.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "tool_choice.{kind}.{extra}: Extra inputs are not permitted"
        ));
    }
    let disable = match c.get("disable_parallel_tool_use") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(format!(
                "tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean"
            ));
        }
    };
    let choice = match kind {
        "none" => Choice::Never,
        "auto" => Choice::Named,
        "any" => Choice::Forced,
        _ => {
            let Some(name) = c.get("name").and_then(Value::as_str) else {
                return Err("tool_choice.tool.name: Field required".into());
            };
            if !tools.iter().any(|(t, _)| t == name) {
                return Err(format!("Tool '{name}' not found in provided tools"));
            }
            Choice::Tool(name.to_owned())
        }
    };
    if matches!(choice, Choice::Forced | Choice::Tool(_)) && tools.is_empty() {
        return Err("tool_choice may only be specified while providing tools.".into());
    }
    Ok((choice, !disable))
}

fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// One content block of message `i`, `ids` the `tool_use` ids the previous
/// message left open.
fn check_block(i: usize, j: usize, role: &str, b: &Value, ids: &[&str]) -> Result<(), String> {
    let at = format!("messages.{i}.content.{j}");
    match (kind(b), role) {
        ("text", _) => match b.get("text").and_then(Value::as_str) {
            Some("") => Err("messages: text content blocks must be non-empty".into()),
            Some(_) => Ok(()),
            None => Err(format!("{at}.text.text: Field required")),
        },
        ("tool_use", "assistant") => {
            let id = b.get("id").and_then(Value::as_str).unwrap_or_default();
            let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
            if id.is_empty() || !valid_name(name) {
                return Err(format!("{at}.tool_use: needs an `id` and a valid `name`"));
            }
            if !b.get("input").is_some_and(Value::is_object) {
                return Err(format!(
                    "{at}.tool_use.input: Input should be a valid dictionary"
                ));
            }
            Ok(())
        }
        ("tool_result", "user") => {
            let id = b
                .get("tool_use_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !ids.contains(&id) {
                return Err(format!(
                    "{at}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                ));
            }
            Ok(())
        }
        ("tool_use" | "tool_result", _) => Err(format!(
            "{at}: `{}` blocks are not allowed in `{role}` messages",
            kind(b)
        )),
        (other, _) => Err(format!(
            "{at}: Input tag '{other}' found using 'type' does not match any of the expected tags"
        )),
    }
}

/// Every `tool_use` is answered by a `tool_result` at the start of the next
/// message, and every `tool_result` answers a `tool_use` of the message before.
fn check_messages(messages: &[Value], has_tools: bool) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    let mut uses_tools = false;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let blocks = blocks(m);
        if !open.is_empty() {
            let answered: Vec<&str> = blocks
                .iter()
                .take_while(|b| role == "user" && kind(b) == "tool_result")
                .filter_map(|b| b.get("tool_use_id").and_then(Value::as_str))
                .collect();
            let missing: Vec<&str> = open
                .iter()
                .copied()
                .filter(|id| !answered.contains(id))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    i - 1,
                    missing.join(", ")
                ));
            }
        }
        for (j, b) in blocks.iter().enumerate() {
            check_block(i, j, role, b, &open)?;
        }
        uses_tools |= blocks
            .iter()
            .any(|b| matches!(kind(b), "tool_use" | "tool_result"));
        open = blocks
            .iter()
            .filter(|b| kind(b) == "tool_use")
            .filter_map(|b| b.get("id").and_then(Value::as_str))
            .collect();
    }
    if uses_tools && !has_tools {
        return Err(
            "Requests which include `tool_use` or `tool_result` blocks must define tools.".into(),
        );
    }
    Ok(())
}

/// Validates the body's tool parts and decides the turn; also whether the
/// model chose freely (it then says what it is about to call, as Claude does
/// before a `tool_use` block it was not forced into).
pub(crate) fn turn(
    obj: &Map<String, Value>,
    messages: &[Value],
    last_user: &str,
    call_id: impl FnMut(usize) -> String,
) -> Result<(ToolTurn, bool), String> {
    let tools = tools(obj)?;
    let (choice, parallel) = choice(obj, &tools)?;
    check_messages(messages, !tools.is_empty())?;
    let results: Vec<String> = messages
        .last()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(blocks)
        .unwrap_or_default()
        .iter()
        .filter(|b| kind(b) == "tool_result")
        .map(|b| {
            b.get("content")
                .map(crate::text::text_of)
                .unwrap_or_default()
        })
        .collect();
    let turn = tool_model::decide(&tools, &choice, parallel, last_user, &results, call_id);
    Ok((turn, choice == Choice::Named))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(body: Value) -> Result<ToolTurn, String> {
        let obj = body.as_object().unwrap();
        let messages = obj["messages"].as_array().unwrap();
        turn(obj, messages, "Use f", |i| format!("toolu_{i}")).map(|(t, _)| t)
    }

    fn tool() -> Value {
        json!({"name": "f", "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}})
    }

    #[test]
    fn a_named_tool_is_called_and_its_result_answered() {
        let ask = json!({"tools": [tool()], "messages": [{"role": "user", "content": "Use f"}]});
        let ToolTurn::Calls(calls) = run(ask).unwrap() else {
            panic!()
        };
        assert_eq!(
            (calls[0].name.as_str(), calls[0].arguments.as_str()),
            ("f", r#"{"a":1}"#)
        );
        let answer = json!({"tools": [tool()], "messages": [
            {"role": "user", "content": "Use f"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_0", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "42"}]},
        ]});
        assert_eq!(
            run(answer).unwrap(),
            ToolTurn::Answer("Here is what I found: 42.".into())
        );
    }

    #[test]
    fn what_the_api_refuses_is_refused() {
        let use_block = json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_0", "name": "f", "input": {}}]});
        let cases = [
            (
                json!({"tools": [{"name": "f"}], "messages": []}),
                "tools.0.custom.input_schema: Field required",
            ),
            (
                json!({"tools": [{"name": "f", "input_schema": {"type": "object"}, "parameters": {}}], "messages": []}),
                "tools.0.custom.parameters: Extra inputs",
            ),
            (
                json!({"tools": [tool()], "tool_choice": {"type": "required"}, "messages": []}),
                "tool_choice: Input tag 'required'",
            ),
            (
                json!({"tools": [tool()], "tool_choice": {"type": "tool", "name": "g"}, "messages": []}),
                "Tool 'g' not found",
            ),
            (
                json!({"tools": [tool()], "tool_choice": {"type": "none", "disable_parallel_tool_use": true}, "messages": []}),
                "tool_choice.none.disable_parallel_tool_use",
            ),
            (
                json!({"tools": [tool()], "messages": [{"role": "user", "content": "x"}, use_block, {"role": "user", "content": "go on"}]}),
                "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_0.",
            ),
            (
                json!({"tools": [tool()], "messages": [{"role": "user", "content": "x"}, use_block, {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "tool_result", "tool_use_id": "toolu_0", "content": "1"}]}]}),
                "messages.1: `tool_use` ids were found",
            ),
            (
                json!({"tools": [tool()], "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "1"}]}]}),
                "messages.0.content.0: unexpected `tool_use_id`",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}, use_block, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "1"}]}]}),
                "Requests which include `tool_use` or `tool_result` blocks must define tools.",
            ),
        ];
        for (body, message) in cases {
            let e = run(body.clone()).unwrap_err();
            assert!(e.starts_with(message), "{body}: {e}");
        }
    }

    #[test]
    fn disabled_parallel_use_makes_one_call() {
        let two = json!({"name": "g", "input_schema": {"type": "object"}});
        let body = |disable: bool| {
            json!({
                "tools": [tool(), two], "tool_choice": {"type": "any", "disable_parallel_tool_use": disable},
                "messages": [{"role": "user", "content": "Use f and g"}],
            })
        };
        let count = |b: Value| {
            let obj = b.as_object().unwrap();
            match turn(
                obj,
                obj["messages"].as_array().unwrap(),
                "Use f and g",
                |i| i.to_string(),
            ) {
                Ok((ToolTurn::Calls(c), false)) => c.len(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(count(body(false)), 2);
        assert_eq!(count(body(true)), 1);
    }
}
