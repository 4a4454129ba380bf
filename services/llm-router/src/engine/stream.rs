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
use super::observe::{self, CallOutcome, CallRecord, Operation};
use super::request::{
    Caller, CandidateFailure, ChatCall, EngineError, all_failed_message, validate_chat,
};
use super::{Engine, OpenedStream};
use crate::pricing::Cost;
use crate::providers::{FinishReason, ProviderError, StreamFrame, TokenUsage, estimate_tokens};
use crate::routing::{Candidate, Tier};

/// One frame of an engine stream: `Start`, then `Delta`s, then exactly one
/// of `End` or `Error`.
#[derive(Debug, Clone)]
pub enum EngineFrame {
    /// Who is answering (sent once a candidate produced its first content).
    Start {
        request_id: String,
        provider: Arc<str>,
        model: Arc<str>,
        served_tier: Option<Tier>,
    },
    Delta(String),
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
}

pub type EngineStream = Pin<Box<dyn Stream<Item = EngineFrame> + Send>>;

impl Engine {
    /// Validates and resolves `call` now (errors before any frame), then
    /// streams it.
    pub fn stream(self: &Arc<Self>, mut call: ChatCall) -> Result<EngineStream, EngineError> {
        validate_chat(&mut call.request, &self.limits)?;
        let resolved = self.resolve_chat(&call.target)?;
        let engine = Arc::clone(self);
        Ok(Box::pin(async_stream::stream! {
            let started = Instant::now();
            let mut failures = Vec::new();
            let mut attempts = 0u32;
            for candidate in &resolved.candidates {
                attempts += 1;
                let opened = match engine.attempt_stream_candidate(candidate, &call.request).await {
                    Ok(opened) => opened,
                    Err(e) if !e.kind().falls_over() => {
                        // A content filter's refusal is the answer.
                        yield start_frame(&call, candidate, resolved.tier);
                        let usage = TokenUsage::default();
                        let cost = engine.cost(candidate, usage);
                        let latency = started.elapsed();
                        observe::call_succeeded(candidate, usage, &cost, attempts, latency);
                        engine.finished(record(&call, resolved.tier, Some(candidate), usage, cost.clone(), CallOutcome::Succeeded, attempts, latency));
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
                    engine: Arc::clone(&engine),
                    request_id: call.request_id.clone(),
                    caller: call.caller.clone(),
                    candidate: candidate.clone(),
                    tier: resolved.tier,
                    prompt_chars: call.request.prompt_chars(),
                    attempts,
                    started,
                    attempt_started,
                    span: span.clone(),
                    reported: TokenUsage::default(),
                    output_chars: 0,
                    finished: false,
                };
                for frame in head {
                    if let Some(out) = inflight.on_frame(frame, &call) {
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
                    if let Some(out) = inflight.on_frame(frame, &call) {
                        let terminal = out.is_terminal();
                        yield out;
                        if terminal {
                            return;
                        }
                    }
                }
            }
            let message = all_failed_message(&resolved.name, &failures);
            let cost = Cost { micros: crate::money::Micros::ZERO, price_version: Arc::clone(engine.prices.version()) };
            engine.finished(record(&call, resolved.tier, None, TokenUsage::default(), cost.clone(), CallOutcome::Failed, attempts, started.elapsed()));
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
        request_id: call.request_id.clone(),
        provider: Arc::clone(&candidate.provider),
        model: Arc::clone(&candidate.model),
        served_tier: tier,
    }
}

/// One call's record; every field is one of the record's own.
#[allow(clippy::too_many_arguments)]
fn record(
    call: &ChatCall,
    tier: Option<Tier>,
    candidate: Option<&Candidate>,
    usage: TokenUsage,
    cost: Cost,
    outcome: CallOutcome,
    attempts: u32,
    latency: Duration,
) -> CallRecord {
    CallRecord {
        request_id: call.request_id.clone(),
        caller: call.caller.clone(),
        operation: Operation::ChatStream,
        tier,
        candidate: candidate.cloned(),
        usage,
        cost,
        outcome,
        attempts,
        latency,
    }
}

/// A committed stream's accounting. Dropped before its terminal frame (the
/// caller went away), it still records the partial usage.
struct Inflight {
    engine: Arc<Engine>,
    request_id: String,
    caller: Caller,
    candidate: Candidate,
    tier: Option<Tier>,
    prompt_chars: usize,
    attempts: u32,
    /// When the call started (its latency) and when this attempt did.
    started: Instant,
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

    fn on_frame(&mut self, frame: StreamFrame, call: &ChatCall) -> Option<EngineFrame> {
        match frame {
            StreamFrame::Text(text) => {
                self.output_chars += text.chars().count();
                Some(EngineFrame::Delta(text))
            }
            StreamFrame::ToolCall(delta) => {
                // Tool calls are not relayed (the API has no tools), but billed.
                self.output_chars += delta.arguments.chars().count();
                None
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
                let usage = fill_usage(self.reported.max(usage), &call.request, self.output_chars);
                let cost = self.engine.cost(&self.candidate, usage);
                let latency = self.started.elapsed();
                let duration = self.attempt_started.elapsed();
                observe::attempt_succeeded(&self.span, &self.candidate, usage, &cost, duration);
                observe::call_succeeded(&self.candidate, usage, &cost, self.attempts, latency);
                self.engine.finished(record(
                    call,
                    self.tier,
                    Some(&self.candidate),
                    usage,
                    cost.clone(),
                    CallOutcome::Succeeded,
                    self.attempts,
                    latency,
                ));
                Some(EngineFrame::End {
                    finish_reason,
                    usage,
                    cost,
                    attempts: self.attempts,
                    latency,
                })
            }
            StreamFrame::Error(error) => {
                self.finished = true;
                let usage = self.partial_usage();
                let cost = self.engine.cost(&self.candidate, usage);
                let latency = self.started.elapsed();
                let duration = self.attempt_started.elapsed();
                observe::attempt_failed(&self.span, &self.candidate, &error, duration);
                observe::usage_metrics(&self.candidate, usage, &cost);
                self.engine.finished(record(
                    call,
                    self.tier,
                    Some(&self.candidate),
                    usage,
                    cost.clone(),
                    CallOutcome::Interrupted,
                    self.attempts,
                    latency,
                ));
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
        let usage = self.partial_usage();
        let cost = self.engine.cost(&self.candidate, usage);
        let latency = self.started.elapsed();
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
        self.engine.finished(CallRecord {
            request_id: std::mem::take(&mut self.request_id),
            caller: std::mem::take(&mut self.caller),
            operation: Operation::ChatStream,
            tier: self.tier,
            candidate: Some(self.candidate.clone()),
            usage,
            cost,
            outcome: CallOutcome::Cancelled,
            attempts: self.attempts,
            latency,
        });
    }
}
