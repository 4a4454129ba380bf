//! Tool (function) calling in vendor-neutral form: the tools a request
//! offers, how the model may use them, and the calls it makes.

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// `^[A-Za-z0-9_-]{1,64}$`, unique within a request.
    pub name: String,
    pub description: Option<String>,
    /// The arguments' JSON Schema (an object schema).
    pub parameters: serde_json::Value,
    /// Whether the vendor must make the arguments validate against
    /// `parameters` exactly (OpenAI's structured outputs for tools).
    pub strict: bool,
}

/// Whether and which tools the model may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (the vendors' default when tools are offered).
    Auto,
    /// No tool call.
    None,
    /// At least one tool call.
    Required,
    /// This function.
    Function(String),
}

/// One complete tool call of an assistant turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The vendor's call id; a `tool` message answers it by this id.
    pub id: String,
    pub name: String,
    /// The arguments as a JSON object in text, as the model wrote them.
    pub arguments: String,
}
