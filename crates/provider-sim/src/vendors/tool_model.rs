//! The simulated model's tool behaviour, the same for every vendor: it calls
//! the offered tools the user's last message names (the first tool when a
//! call is forced without a name, the named one for a named choice; one call
//! when parallel calls are off) with arguments filled from each tool's JSON
//! Schema, and answers a turn that ends in tool results with
//! `Here is what I found: <results>.` Each vendor validates and renders its
//! own wire shape around this.

use serde_json::{Map, Value, json};

use crate::text::Finish;

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

/// How the request lets the model use its tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// No call (`none`).
    Never,
    /// Calls the tools the user names (`auto`, or no choice given).
    Named,
    /// At least one call (`required` / `any`).
    Forced,
    /// This tool.
    Tool(String),
}

/// The names vendors accept for a tool: `^[A-Za-z0-9_-]{1,64}$`.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
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

/// The turn for a validated request: `tools` as `(name, parameters schema)`,
/// `results` the tool results that end the conversation (oldest first),
/// `call_id` numbering the calls of this response.
pub(crate) fn decide(
    tools: &[(String, Value)],
    choice: &Choice,
    parallel: bool,
    last_user: &str,
    results: &[String],
    mut call_id: impl FnMut(usize) -> String,
) -> ToolTurn {
    if !results.is_empty() {
        return ToolTurn::Answer(format!("Here is what I found: {}.", results.join("; ")));
    }
    let mut chosen: Vec<&(String, Value)> = match choice {
        Choice::Never => return ToolTurn::Plain,
        Choice::Tool(name) => tools.iter().filter(|(t, _)| t == name).collect(),
        Choice::Named | Choice::Forced => tools
            .iter()
            .filter(|(t, _)| last_user.contains(t.as_str()))
            .collect(),
    };
    if chosen.is_empty() && *choice == Choice::Forced {
        chosen.extend(tools.first());
    }
    if !parallel {
        chosen.truncate(1);
    }
    if chosen.is_empty() {
        return ToolTurn::Plain;
    }
    ToolTurn::Calls(
        chosen
            .into_iter()
            .enumerate()
            .map(|(i, (name, schema))| SimCall {
                id: call_id(i),
                name: name.clone(),
                arguments: arguments(schema, last_user),
            })
            .collect(),
    )
}

/// Argument text in fragments of up to 8 characters, as models stream it.
pub(crate) fn argument_pieces(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    chars.chunks(8).map(|c| c.iter().collect()).collect()
}

/// One content block of an answer, for vendors whose answers are blocks
/// (Anthropic, Bedrock).
pub(crate) enum Reply {
    Text(Vec<String>),
    ToolUse(SimCall),
}

impl Reply {
    pub fn output_tokens(&self) -> u64 {
        match self {
            Reply::Text(words) => words.len() as u64,
            Reply::ToolUse(c) => {
                crate::text::approx_tokens_for_chars(c.name.len() + c.arguments.len())
            }
        }
    }
}

/// The blocks of an answer: `words` for a plain turn, the final answer after
/// tool results, or the calls, after a text block saying what the model is
/// about to call when it chose them freely (as Claude does). The finish is
/// `None` for calls (the vendor's `tool_use`).
pub(crate) fn replies(
    turn: ToolTurn,
    words: Vec<String>,
    finish: Finish,
    free: bool,
) -> (Vec<Reply>, Option<Finish>) {
    let split = |text: &str| text.split_whitespace().map(str::to_owned).collect();
    match turn {
        ToolTurn::Plain if words.is_empty() => (Vec::new(), Some(finish)),
        ToolTurn::Plain => (vec![Reply::Text(words)], Some(finish)),
        ToolTurn::Answer(text) => (vec![Reply::Text(split(&text))], Some(Finish::Stop)),
        ToolTurn::Calls(calls) => {
            let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
            let preamble =
                free.then(|| Reply::Text(split(&format!("I will call {}.", names.join(", ")))));
            let uses = calls.into_iter().map(Reply::ToolUse);
            (preamble.into_iter().chain(uses).collect(), None)
        }
    }
}
