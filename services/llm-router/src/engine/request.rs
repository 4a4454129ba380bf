//! What callers ask the engine for, its validation, and how calls fail.

use std::fmt;

use llm_providers::{ChatRequest, EmbedRequest, ProviderError, Role};
use tokio::time::Instant;

use crate::budget::BudgetError;
use crate::routing::{Candidate, Target};

/// Who a call is made for, and on which request; travels to the usage record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub session_id: String,
    pub service: String,
    /// The caller's correlation id (`x-request-id`), which the calls of one
    /// request share; never the call's own id.
    pub request_id: String,
}

/// One chat completion call (unary or streamed).
#[derive(Debug, Clone)]
pub struct ChatCall {
    /// Unique per call: the idempotency key of its budget reservation and
    /// usage record.
    pub call_id: String,
    pub target: Target,
    pub request: ChatRequest,
    pub caller: Caller,
    /// The caller's deadline (gRPC `grpc-timeout`); retries stop before it.
    pub deadline: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct EmbedCall {
    pub call_id: String,
    /// An embeddings alias; `None`: the configured default.
    pub model: Option<String>,
    pub request: EmbedRequest,
    pub caller: Caller,
    pub deadline: Option<Instant>,
}

/// Request bounds from the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `max_tokens` of a request that asks for 0.
    pub default_max_tokens: u32,
    /// The largest `max_tokens` accepted.
    pub max_tokens_limit: u32,
}

pub const MAX_STOP_SEQUENCES: usize = 4;
/// The longest end-user identifier passed to a vendor (in characters).
pub const MAX_USER_CHARS: usize = 256;
pub const MAX_EMBED_INPUTS: usize = 256;
pub const MAX_EMBED_DIMENSIONS: u32 = 8192;

/// One candidate's failure.
#[derive(Debug, Clone)]
pub struct CandidateFailure {
    pub candidate: Candidate,
    pub error: ProviderError,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The request is invalid; `field` names the offending field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Every candidate failed (or none is configured for the target).
    #[error("{}", all_failed_message(.target, .failures))]
    AllProvidersFailed {
        target: String,
        failures: Vec<CandidateFailure>,
    },
    /// The monthly budget refused the call (or could not be checked).
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// Usage records wait beyond `USAGE_OUTBOX_MAX`: new calls are refused
    /// until they drain, rather than lose a record.
    #[error(
        "usage records are backing up ({depth} waiting for the usage ledger); try again shortly"
    )]
    UsageBacklog { depth: u64 },
    /// The router is shutting down and the grace period is over: the call
    /// was cancelled (its usage so far recorded); retry on another replica.
    #[error("the router is shutting down: the call was cancelled; retry")]
    ShuttingDown,
}

impl EngineError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        EngineError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// "all providers failed for sota: azure/gpt-4o: server_error (HTTP 503: …); …"
pub fn all_failed_message(target: &str, failures: &[CandidateFailure]) -> String {
    if failures.is_empty() {
        return format!("no configured provider serves {target}");
    }
    let mut out = format!("all providers failed for {target}: ");
    for (i, f) in failures.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        fmt::Write::write_fmt(
            &mut out,
            format_args!(
                "{}: {} ({})",
                f.candidate,
                f.error.kind().reason(),
                f.error.message()
            ),
        )
        .ok();
    }
    out
}

/// Checks a chat request and fills in the default `max_tokens`.
pub fn validate_chat(request: &mut ChatRequest, limits: &Limits) -> Result<(), EngineError> {
    if request.messages.is_empty() {
        return Err(EngineError::invalid(
            "messages",
            "at least one message is required",
        ));
    }
    if request.messages.iter().all(|m| m.role == Role::System) {
        return Err(EngineError::invalid(
            "messages",
            "at least one user or assistant message is required",
        ));
    }
    if request.max_tokens == 0 {
        request.max_tokens = limits.default_max_tokens;
    }
    if request.max_tokens > limits.max_tokens_limit {
        return Err(EngineError::invalid(
            "max_tokens",
            format!(
                "{} exceeds the limit of {}",
                request.max_tokens, limits.max_tokens_limit
            ),
        ));
    }
    if let Some(t) = request.temperature
        && !(t.is_finite() && (0.0..=2.0).contains(&t))
    {
        return Err(EngineError::invalid(
            "temperature",
            format!("{t} is not between 0 and 2"),
        ));
    }
    if let Some(p) = request.top_p
        && !(p.is_finite() && (0.0..=1.0).contains(&p))
    {
        return Err(EngineError::invalid(
            "top_p",
            format!("{p} is not between 0 and 1"),
        ));
    }
    for (name, penalty) in [
        ("presence_penalty", request.presence_penalty),
        ("frequency_penalty", request.frequency_penalty),
    ] {
        if let Some(v) = penalty
            && !(v.is_finite() && (-2.0..=2.0).contains(&v))
        {
            return Err(EngineError::invalid(
                name,
                format!("{v} is not between -2 and 2"),
            ));
        }
    }
    if let Some(user) = &request.user {
        let chars = user.chars().count();
        if chars == 0 || chars > MAX_USER_CHARS || user.chars().any(char::is_control) {
            return Err(EngineError::invalid(
                "user",
                format!("1 to {MAX_USER_CHARS} characters without control characters"),
            ));
        }
    }
    if request.stop.len() > MAX_STOP_SEQUENCES {
        return Err(EngineError::invalid(
            "stop",
            format!("at most {MAX_STOP_SEQUENCES} stop sequences"),
        ));
    }
    if let Some(i) = request.stop.iter().position(String::is_empty) {
        return Err(EngineError::invalid(
            format!("stop[{i}]"),
            "stop sequences must not be empty",
        ));
    }
    Ok(())
}

pub fn validate_embed(request: &EmbedRequest) -> Result<(), EngineError> {
    if request.inputs.is_empty() || request.inputs.len() > MAX_EMBED_INPUTS {
        return Err(EngineError::invalid(
            "inputs",
            format!("1 to {MAX_EMBED_INPUTS} inputs are required"),
        ));
    }
    if let Some(i) = request.inputs.iter().position(|s| s.trim().is_empty()) {
        return Err(EngineError::invalid(
            format!("inputs[{i}]"),
            "inputs must not be empty",
        ));
    }
    if let Some(d) = request.dimensions
        && (d == 0 || d > MAX_EMBED_DIMENSIONS)
    {
        return Err(EngineError::invalid(
            "dimensions",
            format!("{d} is not between 1 and {MAX_EMBED_DIMENSIONS}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_providers::{ErrorKind, Message};

    const LIMITS: Limits = Limits {
        default_max_tokens: 100,
        max_tokens_limit: 1000,
    };

    fn req(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            messages,
            max_tokens: 0,
            ..Default::default()
        }
    }

    #[test]
    fn fills_default_max_tokens_and_rejects_bad_fields() {
        let mut r = req(vec![Message::new(Role::User, "hi")]);
        validate_chat(&mut r, &LIMITS).unwrap();
        assert_eq!(r.max_tokens, 100);
        let field = |r: &mut ChatRequest| match validate_chat(r, &LIMITS) {
            Err(EngineError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(&mut req(vec![])), "messages");
        assert_eq!(
            field(&mut req(vec![Message::new(Role::System, "x")])),
            "messages"
        );
        let mut r = req(vec![Message::new(Role::User, "hi")]);
        r.max_tokens = 1_000_000;
        assert_eq!(field(&mut r), "max_tokens");
        let mut r = req(vec![Message::new(Role::User, "hi")]);
        r.temperature = Some(f32::NAN);
        assert_eq!(field(&mut r), "temperature");
        let mut r = req(vec![Message::new(Role::User, "hi")]);
        r.stop = vec!["a".into(), String::new()];
        assert_eq!(field(&mut r), "stop[1]");
        let mut r = req(vec![Message::new(Role::User, "hi")]);
        r.frequency_penalty = Some(2.5);
        assert_eq!(field(&mut r), "frequency_penalty");
        let mut r = req(vec![Message::new(Role::User, "hi")]);
        r.presence_penalty = Some(f32::INFINITY);
        assert_eq!(field(&mut r), "presence_penalty");
        for user in [String::new(), "x".repeat(MAX_USER_CHARS + 1), "a\nb".into()] {
            let mut r = req(vec![Message::new(Role::User, "hi")]);
            r.user = Some(user);
            assert_eq!(field(&mut r), "user");
        }
        let mut r = req(vec![Message::new(Role::User, "hi")]);
        (r.presence_penalty, r.frequency_penalty) = (Some(-2.0), Some(2.0));
        r.user = Some("learner-7".into());
        validate_chat(&mut r, &LIMITS).unwrap();
    }

    #[test]
    fn all_failed_names_each_provider() {
        let failures = vec![
            CandidateFailure {
                candidate: Candidate::new("azure", "gpt-4o"),
                error: ProviderError::new(ErrorKind::ServerError(503), "HTTP 503"),
            },
            CandidateFailure {
                candidate: Candidate::new("anthropic", "claude"),
                error: ProviderError::new(ErrorKind::Overloaded, "HTTP 529"),
            },
        ];
        let m = all_failed_message("sota", &failures);
        assert!(m.contains("azure/gpt-4o: server_error"), "{m}");
        assert!(m.contains("anthropic/claude: overloaded"), "{m}");
        assert_eq!(
            all_failed_message("x", &[]),
            "no configured provider serves x"
        );
    }
}
