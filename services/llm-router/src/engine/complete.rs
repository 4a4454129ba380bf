//! Unary calls: chat completions and embeddings, candidate after candidate.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Engine;
use super::observe::{self, CallOutcome, CallRecord, Operation};
use super::request::{
    CandidateFailure, ChatCall, EmbedCall, EngineError, validate_chat, validate_embed,
};
use crate::pricing::Cost;
use crate::providers::{FinishReason, TokenUsage};
use crate::routing::Tier;

/// A completed chat call.
#[derive(Debug, Clone)]
pub struct Completion {
    pub request_id: String,
    pub provider: Arc<str>,
    pub model: Arc<str>,
    pub content: String,
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
    pub request_id: String,
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
    pub async fn complete(&self, mut call: ChatCall) -> Result<Completion, EngineError> {
        let started = Instant::now();
        validate_chat(&mut call.request, &self.limits)?;
        let resolved = self.resolve_chat(&call.target)?;
        let mut failures = Vec::new();
        let mut attempts = 0u32;
        for candidate in &resolved.candidates {
            attempts += 1;
            let (content, finish_reason, usage, cost) =
                match self.attempt_candidate(candidate, &call.request).await {
                    Ok(a) => (
                        a.response.content,
                        a.response.finish_reason,
                        a.usage,
                        a.cost,
                    ),
                    Err(e) if !e.kind().falls_over() => {
                        let usage = TokenUsage::default();
                        (
                            String::new(),
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
            let latency = started.elapsed();
            observe::call_succeeded(candidate, usage, &cost, attempts, latency);
            self.finished(CallRecord {
                request_id: call.request_id.clone(),
                caller: call.caller,
                operation: Operation::Chat,
                tier: resolved.tier,
                candidate: Some(candidate.clone()),
                usage,
                cost: cost.clone(),
                outcome: CallOutcome::Succeeded,
                attempts,
                latency,
            });
            return Ok(Completion {
                request_id: call.request_id,
                provider: Arc::clone(&candidate.provider),
                model: Arc::clone(&candidate.model),
                content,
                finish_reason,
                usage,
                cost,
                served_tier: resolved.tier,
                attempts,
                latency,
            });
        }
        self.finished(CallRecord {
            request_id: call.request_id,
            caller: call.caller,
            operation: Operation::Chat,
            tier: resolved.tier,
            candidate: None,
            usage: TokenUsage::default(),
            cost: Cost {
                micros: crate::money::Micros::ZERO,
                price_version: Arc::clone(self.prices.version()),
            },
            outcome: CallOutcome::Failed,
            attempts,
            latency: started.elapsed(),
        });
        Err(EngineError::AllProvidersFailed {
            target: resolved.name,
            failures,
        })
    }

    /// Embeddings from the first candidate that answers.
    pub async fn embed(&self, call: EmbedCall) -> Result<Embedding, EngineError> {
        let started = Instant::now();
        validate_embed(&call.request)?;
        let resolved = self.resolve_embedding(call.model.as_deref())?;
        let mut failures = Vec::new();
        let mut attempts = 0u32;
        for candidate in &resolved.candidates {
            attempts += 1;
            match self.attempt_embed_candidate(candidate, &call.request).await {
                Ok(a) => {
                    let latency = started.elapsed();
                    let usage = a.response.usage;
                    observe::call_succeeded(candidate, usage, &a.cost, attempts, latency);
                    self.finished(CallRecord {
                        request_id: call.request_id.clone(),
                        caller: call.caller,
                        operation: Operation::Embed,
                        tier: None,
                        candidate: Some(candidate.clone()),
                        usage,
                        cost: a.cost.clone(),
                        outcome: CallOutcome::Succeeded,
                        attempts,
                        latency,
                    });
                    return Ok(Embedding {
                        request_id: call.request_id,
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
        self.finished(CallRecord {
            request_id: call.request_id,
            caller: call.caller,
            operation: Operation::Embed,
            tier: None,
            candidate: None,
            usage: TokenUsage::default(),
            cost: Cost {
                micros: crate::money::Micros::ZERO,
                price_version: Arc::clone(self.prices.version()),
            },
            outcome: CallOutcome::Failed,
            attempts,
            latency: started.elapsed(),
        });
        Err(EngineError::AllProvidersFailed {
            target: resolved.name,
            failures,
        })
    }
}
