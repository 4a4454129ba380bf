//! What every provider attempt and every call leaves behind: a span with the
//! OpenTelemetry GenAI attributes, the runbook's log events and Prometheus
//! metrics (labels from closed sets: provider and model names from the
//! config, failure reasons from [`llm_providers::ErrorKind`]), and the
//! [`CallRecord`] handed to the [`CallObserver`].

use std::sync::Arc;
use std::time::Duration;

use tracing::Span;
use tracing::field::Empty;

use super::request::Caller;
use llm_providers::{ProviderError, TokenUsage};

use crate::pricing::Cost;
use crate::routing::{Candidate, Tier};

/// The span of one provider attempt.
pub fn attempt_span(system: &'static str, candidate: &Candidate, operation: &'static str) -> Span {
    tracing::info_span!(
        "provider.attempt",
        provider = %candidate.provider,
        model = %candidate.model,
        gen_ai.system = system,
        gen_ai.operation.name = operation,
        gen_ai.request.model = %candidate.model,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
    )
}

/// A provider attempt that answered.
pub fn attempt_succeeded(
    span: &Span,
    candidate: &Candidate,
    usage: TokenUsage,
    cost: &Cost,
    duration: Duration,
) {
    span.record("gen_ai.usage.input_tokens", usage.input_tokens);
    span.record("gen_ai.usage.output_tokens", usage.output_tokens);
    let provider = candidate.provider.to_string();
    let model = candidate.model.to_string();
    metrics::counter!("llm_provider_requests_total", "provider" => provider.clone(), "model" => model.clone(), "outcome" => "success").increment(1);
    metrics::histogram!("llm_provider_request_duration_seconds", "provider" => provider.clone())
        .record(duration.as_secs_f64());
    usage_metrics(candidate, usage, cost);
}

/// Tokens and money, for successful and interrupted (partially billed) calls alike.
pub fn usage_metrics(candidate: &Candidate, usage: TokenUsage, cost: &Cost) {
    let provider = candidate.provider.to_string();
    let model = candidate.model.to_string();
    metrics::counter!("gen_ai_client_token_usage_total", "provider" => provider.clone(), "model" => model.clone(), "token_type" => "input")
        .increment(usage.input_tokens);
    metrics::counter!("gen_ai_client_token_usage_total", "provider" => provider.clone(), "model" => model.clone(), "token_type" => "output")
        .increment(usage.output_tokens);
    metrics::counter!("llm_cost_micro_usd_total", "provider" => provider, "model" => model)
        .increment(u64::try_from(cost.micros.0).unwrap_or(0));
}

/// A provider attempt that failed: metrics and `router.provider_failed`.
pub fn attempt_failed(
    span: &Span,
    candidate: &Candidate,
    error: &ProviderError,
    duration: Duration,
) {
    let reason = error.kind().reason();
    span.record("error.type", reason);
    let provider = candidate.provider.to_string();
    metrics::counter!("llm_provider_requests_total", "provider" => provider.clone(), "model" => candidate.model.to_string(), "outcome" => "failure").increment(1);
    metrics::counter!("llm_provider_failures_total", "provider" => provider.clone(), "reason" => reason).increment(1);
    metrics::histogram!("llm_provider_request_duration_seconds", "provider" => provider)
        .record(duration.as_secs_f64());
    tracing::warn!(
        parent: span,
        provider = %candidate.provider,
        model = %candidate.model,
        reason = reason,
        retryable = error.is_retryable(),
        error = %error.message(),
        duration_ms = log_ms(duration),
        "router.provider_failed"
    );
}

pub fn time_to_first_token(candidate: &Candidate, ttft: Duration) {
    metrics::histogram!("llm_provider_time_to_first_token_seconds", "provider" => candidate.provider.to_string())
        .record(ttft.as_secs_f64());
}

/// `router.success`: one per call that got its answer.
pub fn call_succeeded(
    candidate: &Candidate,
    usage: TokenUsage,
    cost: &Cost,
    attempts: u32,
    latency: Duration,
) {
    tracing::info!(
        provider = %candidate.provider,
        model = %candidate.model,
        cost_usd = %cost.micros,
        price_version = %cost.price_version,
        duration_ms = log_ms(latency),
        input_tokens = usage.input_tokens,
        output_tokens = usage.output_tokens,
        attempts = attempts,
        "router.success"
    );
}

/// Milliseconds with two decimals for log lines, as the gateway writes them:
/// most calls through the simulator take well under a millisecond.
fn log_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Chat,
    ChatStream,
    Embed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The caller got a whole answer.
    Succeeded,
    /// No candidate answered; nothing was billed.
    Failed,
    /// A stream broke after its first token: partial output, billed.
    Interrupted,
    /// The caller went away mid-stream: partial output, billed.
    Cancelled,
}

/// One record per call: what usage delivery sends to usage-accounting.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub request_id: String,
    pub caller: Caller,
    pub operation: Operation,
    /// The tier served, when the call named one.
    pub tier: Option<Tier>,
    /// The provider that answered (or was answering), if any did.
    pub candidate: Option<Candidate>,
    /// Reported by the provider, or estimated for a broken stream.
    pub usage: TokenUsage,
    pub cost: Cost,
    pub outcome: CallOutcome,
    pub attempts: u32,
    pub latency: Duration,
}

/// Receives every finished call (success, failure, partial stream). The
/// seam where usage delivery plugs in; must not block.
pub trait CallObserver: Send + Sync {
    fn call_finished(&self, record: CallRecord);
}

/// Observes nothing.
#[derive(Debug, Default)]
pub struct NoObserver;

impl CallObserver for NoObserver {
    fn call_finished(&self, _record: CallRecord) {}
}

pub type SharedObserver = Arc<dyn CallObserver>;
