//! Streamed chat calls. Candidates are tried in order only until one
//! produces its first content; after that the call is committed: a failure
//! ends the stream with an error frame carrying the partial usage, which is
//! billed and recorded like any other.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use super::attempt::fill_usage;
use super::call::{CallGuard, CallIdentity};
use super::observe::{self, CallOutcome, Operation};
use super::request::{CandidateFailure, ChatCall, EngineError, all_failed_message, validate_chat};
use super::resilient::Held;
use super::{Engine, OpenedStream};
use llm_providers::{
    FinishReason, ProviderError, StreamFrame, TokenUsage, ToolCallDelta, estimate_tokens,
};

use crate::pricing::Cost;
use crate::routing::{Candidate, Tier};

/// One frame of an engine stream: `Start`, then `Delta`s, then exactly one
/// of `End` or `Error`.
#[derive(Debug, Clone)]
pub enum EngineFrame {
    /// Who is answering (sent once a candidate produced its first content).
    Start {
        call_id: String,
        provider: Arc<str>,
        model: Arc<str>,
        served_tier: Option<Tier>,
    },
    Delta(String),
    /// A piece of a tool call, as the vendor streamed it (OpenAI's shape).
    ToolCall(ToolCallDelta),
    End {
        finish_reason: FinishReason,
        usage: TokenUsage,
        cost: Cost,
        attempts: u32,
        latency: Duration,
    },
    Error {
        failure: StreamFailure,
        usage: TokenUsage,
        cost: Cost,
    },
}

impl EngineFrame {
    pub fn is_terminal(&self) -> bool {
        matches!(self, EngineFrame::End { .. } | EngineFrame::Error { .. })
    }
}

#[derive(Debug, Clone)]
pub enum StreamFailure {
    /// No candidate produced a first token.
    AllProvidersFailed { message: String },
    /// The answering provider's stream broke after its first token.
    Interrupted {
        provider: Arc<str>,
        error: ProviderError,
    },
    /// The router is shutting down: the call was cancelled at the end of
    /// the grace period (retry on another replica).
    ShuttingDown,
}

pub type EngineStream = Pin<Box<dyn Stream<Item = EngineFrame> + Send>>;

impl Engine {
    /// Validates, resolves and admits `call` against the budget now (errors
    /// before any frame), then streams it.
    pub async fn stream(self: &Arc<Self>, call: ChatCall) -> Result<EngineStream, EngineError> {
        let stream = self
            .in_flight
            .unless_cancelled(self.open_stream(call))
            .await?;
        Ok(self.in_flight.until_cancelled(stream, self.nothing()))
    }

    async fn open_stream(
        self: &Arc<Self>,
        mut call: ChatCall,
    ) -> Result<EngineStream, EngineError> {
        let started = Instant::now();
        validate_chat(&mut call.request, &self.limits)?;
        let mut resolved = self.resolve_chat(&call.target, &call.request)?;
        let admission = self.admit_chat(&call, &mut resolved).await?;
        let deadline = self.deadline(call.deadline, started);
        let identity = CallIdentity {
            call_id: &call.call_id,
            caller: &call.caller,
            operation: Operation::ChatStream,
            tier: resolved.tier,
            input_estimate: estimate_tokens(call.request.prompt_chars()),
        };
        let mut guard = self.guard(identity, admission, started);
        let engine = Arc::clone(self);
        Ok(Box::pin(async_stream::stream! {
            let mut failures = Vec::new();
            for (fallback, candidate) in resolved.candidates.iter().enumerate() {
                guard.current = Some(candidate.clone());
                let attempt = engine
                    .call_candidate(candidate, fallback, deadline, &mut guard.attempts, || {
                        engine.attempt_stream_candidate(candidate, &call.request)
                    })
                    .await;
                let (opened, held) = match attempt {
                    Ok(opened) => opened,
                    Err(e) if !e.kind().falls_over() => {
                        // A content filter's refusal is the answer.
                        yield start_frame(&call, candidate, resolved.tier);
                        let usage = TokenUsage::default();
                        let cost = engine.cost(candidate, usage);
                        let attempts = guard.attempts;
                        let latency = guard.finish(Some(candidate), usage, cost.clone(), CallOutcome::Succeeded);
                        yield EngineFrame::End { finish_reason: FinishReason::ContentFilter, usage, cost, attempts, latency };
                        return;
                    }
                    Err(error) => {
                        failures.push(CandidateFailure { candidate: candidate.clone(), error });
                        continue;
                    }
                };
                yield start_frame(&call, candidate, resolved.tier);
                let OpenedStream { head, mut rest, span, started: attempt_started, .. } = opened;
                let mut inflight = Inflight {
                    guard,
                    held: Some(held),
                    candidate: candidate.clone(),
                    prompt_chars: call.request.prompt_chars(),
                    attempt_started,
                    span: span.clone(),
                    reported: TokenUsage::default(),
                    output_chars: 0,
                    finished: false,
                };
                for frame in head {
                    if let Some(out) = inflight.on_frame(frame) {
                        let terminal = out.is_terminal();
                        yield out;
                        if terminal {
                            return;
                        }
                    }
                }
                loop {
                    let frame = rest.next().instrument(span.clone()).await.unwrap_or_else(|| {
                        StreamFrame::Error(ProviderError::stream_cut("stream ended without its terminal frame"))
                    });
                    if let Some(out) = inflight.on_frame(frame) {
                        let terminal = out.is_terminal();
                        yield out;
                        if terminal {
                            return;
                        }
                    }
                }
            }
            let message = all_failed_message(&resolved.name, &failures);
            let cost = guard.zero_cost();
            guard.fail(&message);
            yield EngineFrame::Error {
                failure: StreamFailure::AllProvidersFailed { message },
                usage: TokenUsage::default(),
                cost,
            };
        }))
    }
}

fn start_frame(call: &ChatCall, candidate: &Candidate, tier: Option<Tier>) -> EngineFrame {
    EngineFrame::Start {
        call_id: call.call_id.clone(),
        provider: Arc::clone(&candidate.provider),
        model: Arc::clone(&candidate.model),
        served_tier: tier,
    }
}

/// A committed stream: its call, its provider's breaker permit and the
/// usage so far. Dropped before its terminal frame (the caller went away),
/// it still records the partial usage.
struct Inflight {
    guard: CallGuard,
    held: Option<Held>,
    candidate: Candidate,
    prompt_chars: usize,
    attempt_started: Instant,
    span: tracing::Span,
    /// The latest (cumulative) usage the provider reported.
    reported: TokenUsage,
    output_chars: usize,
    finished: bool,
}

impl Inflight {
    /// Partial usage: what the provider reported, or an estimate from the
    /// prompt and the output relayed so far, whichever is larger.
    fn partial_usage(&self) -> TokenUsage {
        let estimate = TokenUsage::new(
            estimate_tokens(self.prompt_chars),
            estimate_tokens(self.output_chars),
        );
        TokenUsage::new(
            if self.reported.input_tokens > 0 {
                self.reported.input_tokens
            } else {
                estimate.input_tokens
            },
            self.reported.output_tokens.max(estimate.output_tokens),
        )
    }

    fn on_frame(&mut self, frame: StreamFrame) -> Option<EngineFrame> {
        match frame {
            StreamFrame::Text(text) => {
                self.output_chars += text.chars().count();
                Some(EngineFrame::Delta(text))
            }
            StreamFrame::ToolCall(delta) => {
                self.output_chars += delta.arguments.chars().count();
                Some(EngineFrame::ToolCall(delta))
            }
            StreamFrame::Usage(u) => {
                self.reported = self.reported.max(u);
                None
            }
            StreamFrame::Done {
                finish_reason,
                usage,
            } => {
                self.finished = true;
                if let Some(held) = self.held.take() {
                    held.succeeded();
                }
                let usage = fill_usage(
                    self.reported.max(usage),
                    self.prompt_chars,
                    self.output_chars,
                );
                let cost = self.guard.cost(&self.candidate, usage);
                let duration = self.attempt_started.elapsed();
                observe::attempt_succeeded(&self.span, &self.candidate, usage, &cost, duration);
                observe::finish_reason(&self.span, finish_reason);
                let attempts = self.guard.attempts;
                let latency = self.guard.finish(
                    Some(&self.candidate),
                    usage,
                    cost.clone(),
                    CallOutcome::Succeeded,
                );
                Some(EngineFrame::End {
                    finish_reason,
                    usage,
                    cost,
                    attempts,
                    latency,
                })
            }
            StreamFrame::Error(error) => {
                self.finished = true;
                if let Some(held) = self.held.take() {
                    held.failed(&error);
                }
                let usage = self.partial_usage();
                let cost = self.guard.cost(&self.candidate, usage);
                let duration = self.attempt_started.elapsed();
                observe::attempt_failed(&self.span, &self.candidate, &error, duration);
                observe::usage_metrics(&self.candidate, usage, &cost);
                self.guard.finish(
                    Some(&self.candidate),
                    usage,
                    cost.clone(),
                    CallOutcome::Interrupted,
                );
                Some(EngineFrame::Error {
                    failure: StreamFailure::Interrupted {
                        provider: Arc::clone(&self.candidate.provider),
                        error,
                    },
                    usage,
                    cost,
                })
            }
        }
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The provider was streaming when the caller left: it is up.
        if let Some(held) = self.held.take() {
            held.succeeded();
        }
        let usage = self.partial_usage();
        let cost = self.guard.cost(&self.candidate, usage);
        observe::usage_metrics(&self.candidate, usage, &cost);
        tracing::info!(
            parent: &self.span,
            provider = %self.candidate.provider,
            model = %self.candidate.model,
            cost_usd = %cost.micros,
            input_tokens = usage.input_tokens,
            output_tokens = usage.output_tokens,
            "router.stream_cancelled"
        );
        let candidate = self.candidate.clone();
        self.guard
            .finish(Some(&candidate), usage, cost, CallOutcome::Cancelled);
    }
}
