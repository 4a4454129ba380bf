//! Proto ⇄ domain conversions for the `LlmRouter` RPCs. Invalid fields
//! become INVALID_ARGUMENT naming the field.

use fluentedge_proto::router::v1 as pb;
use llm_providers::{ChatRequest, EmbedRequest, FinishReason, Message, Role, TokenUsage};
use service_kit::{ErrorCode, ServiceError};
use tokio::time::Instant;

use crate::engine::{
    Caller, ChatCall, Completion, EmbedCall, Embedding, EngineError, EngineFrame, StreamFailure,
};
use crate::pricing::Cost;
use crate::routing::{Candidate, ModelEntry, ModelKind, Target, Tier};

/// A caller's call id, or a fresh one.
fn call_id(given: &str) -> Result<String, ServiceError> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(uuid::Uuid::new_v4().to_string());
    }
    if given.len() > 128 || !given.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::invalid(
            "call_id: at most 128 printable ASCII characters",
        ));
    }
    Ok(given.to_owned())
}

fn caller(c: Option<pb::CallerContext>) -> Caller {
    let c = c.unwrap_or_default();
    Caller {
        user_id: c.user_id,
        session_id: c.session_id,
        service: c.service,
        request_id: String::new(),
    }
}

fn role(value: i32, index: usize) -> Result<Role, ServiceError> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::System) => Ok(Role::System),
        Ok(pb::Role::User) => Ok(Role::User),
        Ok(pb::Role::Assistant) => Ok(Role::Assistant),
        Ok(pb::Role::Tool) => Ok(Role::Tool),
        Ok(pb::Role::Unspecified) | Err(_) => Err(ServiceError::invalid(format!(
            "messages[{index}].role: must be ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL"
        ))),
    }
}

/// Most messages one chat call may carry (documented in the proto and OpenAPI).
pub const MAX_MESSAGES: usize = 256;

fn message(i: usize, m: pb::ChatMessage) -> Result<Message, ServiceError> {
    if let Some(c) = service_kit::text::disallowed_control(&m.content) {
        return Err(ServiceError::invalid(format!(
            "messages[{i}].content: contains the control character U+{:04X}, which is not allowed",
            c as u32
        )));
    }
    let message = Message::new(role(m.role, i)?, m.content);
    super::tools::message_parts(i, message, m.tool_calls, m.tool_call_id)
}

pub fn chat_call(
    req: pb::CompleteRequest,
    deadline: Option<Instant>,
) -> Result<ChatCall, ServiceError> {
    if req.messages.len() > MAX_MESSAGES {
        return Err(ServiceError::invalid(format!(
            "messages: {} messages; the limit is {MAX_MESSAGES}",
            req.messages.len()
        )));
    }
    let messages = req
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| message(i, m))
        .collect::<Result<Vec<_>, ServiceError>>()?;
    super::tools::check_answers(&messages)?;
    let tools = super::tools::tools(req.tools)?;
    let tool_choice = super::tools::tool_choice(req.tool_choice, &tools)?;
    let model = req.model.trim();
    let target = if !model.is_empty() {
        Target::Model(model.to_owned())
    } else {
        match pb::Tier::try_from(req.tier) {
            Ok(pb::Tier::Sota) => Target::Tier(Tier::Sota),
            Ok(pb::Tier::CostEffective) => Target::Tier(Tier::CostEffective),
            Ok(pb::Tier::Unspecified) => Target::Default,
            Err(_) => {
                return Err(ServiceError::invalid(format!(
                    "tier: {} is not a tier",
                    req.tier
                )));
            }
        }
    };
    Ok(ChatCall {
        call_id: call_id(&req.call_id)?,
        target,
        request: ChatRequest {
            messages,
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            stop: req.stop,
            seed: req.seed,
            presence_penalty: req.presence_penalty,
            frequency_penalty: req.frequency_penalty,
            user: req.user,
            tools,
            tool_choice,
            parallel_tool_calls: req.parallel_tool_calls,
        },
        caller: caller(req.caller),
        deadline,
    })
}

pub fn embed_call(
    req: pb::EmbedRequest,
    deadline: Option<Instant>,
) -> Result<EmbedCall, ServiceError> {
    let model = req.model.trim();
    Ok(EmbedCall {
        call_id: call_id(&req.call_id)?,
        model: (!model.is_empty()).then(|| model.to_owned()),
        request: EmbedRequest {
            inputs: req.inputs,
            dimensions: (req.dimensions > 0).then_some(req.dimensions),
        },
        caller: caller(req.caller),
        deadline,
    })
}

pub fn tier(t: Option<Tier>) -> i32 {
    match t {
        Some(Tier::Sota) => pb::Tier::Sota as i32,
        Some(Tier::CostEffective) => pb::Tier::CostEffective as i32,
        None => pb::Tier::Unspecified as i32,
    }
}

pub fn finish_reason(f: FinishReason) -> i32 {
    (match f {
        FinishReason::Stop => pb::FinishReason::Stop,
        FinishReason::Length => pb::FinishReason::Length,
        FinishReason::ContentFilter => pb::FinishReason::ContentFilter,
        FinishReason::ToolCalls => pb::FinishReason::ToolCalls,
    }) as i32
}

pub fn usage(u: TokenUsage, cost: &Cost) -> pb::Usage {
    pb::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cost_micro_usd: cost.micros.0,
        price_version: cost.price_version.to_string(),
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn completion(c: Completion) -> pb::CompleteResponse {
    pb::CompleteResponse {
        call_id: c.call_id,
        provider: c.provider.to_string(),
        model: c.model.to_string(),
        content: c.content,
        finish_reason: finish_reason(c.finish_reason),
        usage: Some(usage(c.usage, &c.cost)),
        served_tier: tier(c.served_tier),
        attempts: c.attempts,
        latency_ms: millis(c.latency),
        tool_calls: super::tools::calls(c.tool_calls),
    }
}

pub fn embedding(e: Embedding) -> pb::EmbedResponse {
    pb::EmbedResponse {
        call_id: e.call_id,
        provider: e.provider.to_string(),
        model: e.model.to_string(),
        embeddings: e
            .embeddings
            .into_iter()
            .map(|values| pb::Embedding { values })
            .collect(),
        usage: Some(usage(e.usage, &e.cost)),
    }
}

/// The catalogue; `created` is Unix seconds.
pub fn models(entries: Vec<ModelEntry>, created: i64) -> pb::ListModelsResponse {
    pb::ListModelsResponse {
        models: entries
            .into_iter()
            .map(|m| pb::ModelInfo {
                id: m.id,
                kind: match m.kind {
                    ModelKind::Chat => pb::ModelKind::Chat as i32,
                    ModelKind::Embedding => pb::ModelKind::Embedding as i32,
                },
                tier: tier(m.tier),
                candidates: m.candidates.iter().map(Candidate::to_string).collect(),
                created,
            })
            .collect(),
    }
}

pub fn error(e: EngineError) -> ServiceError {
    match e {
        EngineError::Invalid { .. } => ServiceError::invalid(e.to_string()),
        EngineError::AllProvidersFailed { .. } => {
            ServiceError::new(ErrorCode::AllProvidersFailed, e.to_string())
        }
        EngineError::Budget(b) => b.into(),
        EngineError::UsageBacklog { .. } | EngineError::ShuttingDown => {
            ServiceError::new(ErrorCode::Unavailable, e.to_string())
        }
    }
}

/// The error frame of a failed stream, coded as the same failure would be
/// on a unary call.
pub fn stream_error(
    code: ErrorCode,
    message: String,
    usage: Option<pb::Usage>,
) -> pb::StreamCompleteResponse {
    pb::StreamCompleteResponse {
        frame: Some(pb::stream_complete_response::Frame::Error(
            pb::StreamError {
                grpc_code: code.grpc_code() as u32,
                reason: code.reason().to_owned(),
                message,
                usage,
            },
        )),
    }
}

pub fn frame(f: EngineFrame) -> pb::StreamCompleteResponse {
    use pb::stream_complete_response::Frame;
    let frame = match f {
        EngineFrame::Start {
            call_id,
            provider,
            model,
            served_tier,
        } => Frame::Start(pb::StreamStart {
            call_id,
            provider: provider.to_string(),
            model: model.to_string(),
            served_tier: tier(served_tier),
        }),
        EngineFrame::Delta(text) => Frame::Delta(pb::TextDelta { text }),
        EngineFrame::ToolCall(d) => Frame::ToolCall(super::tools::delta(d)),
        EngineFrame::End {
            finish_reason: f,
            usage: u,
            cost,
            attempts,
            latency,
        } => Frame::End(pb::StreamEnd {
            finish_reason: finish_reason(f),
            usage: Some(usage(u, &cost)),
            attempts,
            latency_ms: millis(latency),
        }),
        EngineFrame::Error {
            failure,
            usage: u,
            cost,
        } => {
            let (code, message) = match failure {
                StreamFailure::AllProvidersFailed { message } => {
                    (ErrorCode::AllProvidersFailed, message)
                }
                StreamFailure::ShuttingDown => (
                    ErrorCode::Unavailable,
                    "the router is shutting down: the call was cancelled; retry".to_owned(),
                ),
                StreamFailure::Interrupted { provider, error } => (
                    ErrorCode::StreamInterrupted,
                    format!(
                        "{provider} stream interrupted: {} ({})",
                        error.kind().reason(),
                        error.message()
                    ),
                ),
            };
            return stream_error(code, message, Some(usage(u, &cost)));
        }
    };
    pb::StreamCompleteResponse { frame: Some(frame) }
}
