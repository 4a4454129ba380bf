//! Unary calls: chat completions and embeddings, candidate after candidate.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Engine;
use super::call::CallIdentity;
use super::observe::{CallOutcome, Operation};
use super::request::{
    CandidateFailure, ChatCall, EmbedCall, EngineError, validate_chat, validate_embed,
};
use llm_providers::{FinishReason, TokenUsage, ToolCall, estimate_tokens};

use crate::pricing::Cost;
use crate::routing::Tier;

/// A completed chat call.
#[derive(Debug, Clone)]
pub struct Completion {
    pub call_id: String,
    pub provider: Arc<str>,
    pub model: Arc<str>,
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    pub usage: TokenUsage,
    pub cost: Cost,
    /// The tier served, when the call named one.
    pub served_tier: Option<Tier>,
    /// Provider calls made, fallbacks included.
    pub attempts: u32,
    pub latency: Duration,
}

#[derive(Debug, Clone)]
pub struct Embedding {
    pub call_id: String,
    pub provider: Arc<str>,
    pub model: Arc<str>,
    pub embeddings: Vec<Vec<f32>>,
    pub usage: TokenUsage,
    pub cost: Cost,
    pub attempts: u32,
    pub latency: Duration,
}

impl Engine {
    /// Tries the call's candidates in order until one answers. A content
    /// filter's refusal is an answer (finish reason `ContentFilter`), not a
    /// reason to ask another vendor.
    pub async fn complete(&self, call: ChatCall) -> Result<Completion, EngineError> {
        self.in_flight
            .unless_cancelled(self.complete_now(call))
            .await
    }

    async fn complete_now(&self, mut call: ChatCall) -> Result<Completion, EngineError> {
        let started = Instant::now();
        validate_chat(&mut call.request, &self.limits)?;
        let mut resolved = self.resolve_chat(&call.target, &call.request)?;
        let admission = self.admit_chat(&call, &mut resolved).await?;
        let deadline = self.deadline(call.deadline, started);
        let identity = CallIdentity {
            call_id: &call.call_id,
            caller: &call.caller,
            operation: Operation::Chat,
            tier: resolved.tier,
            input_estimate: estimate_tokens(call.request.prompt_chars()),
        };
        let mut guard = self.guard(identity, admission, started);
        let mut failures = Vec::new();
        for (fallback, candidate) in resolved.candidates.iter().enumerate() {
            guard.current = Some(candidate.clone());
            let attempt = self
                .call_candidate(candidate, fallback, deadline, &mut guard.attempts, || {
                    self.attempt_candidate(candidate, &call.request)
                })
                .await;
            let (content, tool_calls, finish_reason, usage, cost) = match attempt {
                Ok((a, held)) => {
                    held.succeeded();
                    (
                        a.response.content,
                        a.response.tool_calls,
                        a.response.finish_reason,
                        a.usage,
                        a.cost,
                    )
                }
                Err(e) if !e.kind().falls_over() => {
                    let usage = TokenUsage::default();
                    (
                        String::new(),
                        Vec::new(),
                        FinishReason::ContentFilter,
                        usage,
                        self.cost(candidate, usage),
                    )
                }
                Err(error) => {
                    failures.push(CandidateFailure {
                        candidate: candidate.clone(),
                        error,
                    });
                    continue;
                }
            };
            let attempts = guard.attempts;
            let latency =
                guard.finish(Some(candidate), usage, cost.clone(), CallOutcome::Succeeded);
            return Ok(Completion {
                call_id: call.call_id,
                provider: Arc::clone(&candidate.provider),
                model: Arc::clone(&candidate.model),
                content,
                tool_calls,
                finish_reason,
                usage,
                cost,
                served_tier: resolved.tier,
                attempts,
                latency,
            });
        }
        let error = EngineError::AllProvidersFailed {
            target: resolved.name,
            failures,
        };
        guard.fail(&error.to_string());
        Err(error)
    }

    /// Embeddings from the first candidate that answers.
    pub async fn embed(&self, call: EmbedCall) -> Result<Embedding, EngineError> {
        self.in_flight.unless_cancelled(self.embed_now(call)).await
    }

    async fn embed_now(&self, call: EmbedCall) -> Result<Embedding, EngineError> {
        let started = Instant::now();
        validate_embed(&call.request)?;
        let resolved = self.resolve_embedding(call.model.as_deref())?;
        let admission = self.admit_embed(&call, &resolved).await?;
        let deadline = self.deadline(call.deadline, started);
        let chars = call.request.inputs.iter().map(|s| s.chars().count()).sum();
        let identity = CallIdentity {
            call_id: &call.call_id,
            caller: &call.caller,
            operation: Operation::Embed,
            tier: None,
            input_estimate: estimate_tokens(chars),
        };
        let mut guard = self.guard(identity, admission, started);
        let mut failures = Vec::new();
        for (fallback, candidate) in resolved.candidates.iter().enumerate() {
            guard.current = Some(candidate.clone());
            let attempt = self
                .call_candidate(candidate, fallback, deadline, &mut guard.attempts, || {
                    self.attempt_embed_candidate(candidate, &call.request)
                })
                .await;
            match attempt {
                Ok((a, held)) => {
                    held.succeeded();
                    let usage = a.response.usage;
                    let attempts = guard.attempts;
                    let latency = guard.finish(
                        Some(candidate),
                        usage,
                        a.cost.clone(),
                        CallOutcome::Succeeded,
                    );
                    return Ok(Embedding {
                        call_id: call.call_id,
                        provider: Arc::clone(&candidate.provider),
                        model: Arc::clone(&candidate.model),
                        embeddings: a.response.embeddings,
                        usage,
                        cost: a.cost,
                        attempts,
                        latency,
                    });
                }
                Err(error) => failures.push(CandidateFailure {
                    candidate: candidate.clone(),
                    error,
                }),
            }
        }
        let error = EngineError::AllProvidersFailed {
            target: resolved.name,
            failures,
        };
        guard.fail(&error.to_string());
        Err(error)
    }
}
