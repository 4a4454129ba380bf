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

use crate::pricing::Cost;
use crate::routing::{Candidate, Tier};
use llm_providers::{FinishReason, ProviderError, TokenUsage};

/// The span of one provider attempt.
pub fn attempt_span(system: &'static str, candidate: &Candidate, operation: &'static str) -> Span {
    tracing::info_span!(
        "provider.attempt",
        provider = %candidate.provider,
        model = %candidate.model,
        gen_ai.system = system,
        gen_ai.operation.name = operation,
        gen_ai.request.model = %candidate.model,
        gen_ai.response.model = Empty,
        // Filled by the vendor client when its answer has an id.
        gen_ai.response.id = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
        otel.status_code = Empty,
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
    // Token counts as integers (i64 is what OpenTelemetry's int attributes hold).
    span.record("gen_ai.response.model", candidate.model.as_ref());
    span.record(
        "gen_ai.usage.input_tokens",
        i64::try_from(usage.input_tokens).unwrap_or(i64::MAX),
    );
    span.record(
        "gen_ai.usage.output_tokens",
        i64::try_from(usage.output_tokens).unwrap_or(i64::MAX),
    );
    let provider = candidate.provider.to_string();
    let model = candidate.model.to_string();
    metrics::counter!("llm_provider_requests_total", "provider" => provider.clone(), "model" => model.clone(), "outcome" => "success").increment(1);
    metrics::histogram!("llm_provider_request_duration_seconds", "provider" => provider.clone())
        .record(duration.as_secs_f64());
    usage_metrics(candidate, usage, cost);
}

/// Why the model stopped, on a chat attempt's span (an array, as the GenAI
/// conventions have it: one reason per choice; we ask for one choice).
pub fn finish_reason(span: &Span, reason: FinishReason) {
    service_kit::telemetry::attributes::set_string_array(
        span,
        "gen_ai.response.finish_reasons",
        &[reason.as_str()],
    );
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

/// A provider attempt that failed: metrics and `router.attempt_failed` (one
/// per attempt, retries included; the candidate as a whole is
/// [`candidate_failed`]).
pub fn attempt_failed(
    span: &Span,
    candidate: &Candidate,
    error: &ProviderError,
    duration: Duration,
) {
    let reason = error.kind().reason();
    span.record("error.type", reason);
    span.record("otel.status_code", "ERROR");
    let provider = candidate.provider.to_string();
    metrics::counter!("llm_provider_requests_total", "provider" => provider.clone(), "model" => candidate.model.to_string(), "outcome" => "failure").increment(1);
    metrics::counter!("llm_provider_failures_total", "provider" => provider.clone(), "reason" => reason).increment(1);
    metrics::histogram!("llm_provider_request_duration_seconds", "provider" => provider)
        .record(duration.as_secs_f64());
    tracing::info!(
        parent: span,
        provider = %candidate.provider,
        model = %candidate.model,
        reason = reason,
        retryable = error.is_retryable(),
        error = %error.message(),
        duration_ms = log_ms(duration),
        "router.attempt_failed"
    );
}

/// `router.routed`: a candidate is tried (`fallback` 0 is the first choice;
/// `attempt` counts the call's provider calls so far, this one included).
pub fn routed(candidate: &Candidate, fallback: usize, attempt: u32) {
    tracing::info!(
        provider = %candidate.provider,
        model = %candidate.model,
        fallback = fallback as u64,
        attempt = attempt,
        "router.routed"
    );
}

/// `router.provider_failed`: a candidate gave up (its retries spent, its
/// breaker open, or an error not worth retrying); the call falls over to the
/// next one, if any.
pub fn candidate_failed(candidate: &Candidate, fallback: usize, error: &ProviderError) {
    tracing::warn!(
        provider = %candidate.provider,
        model = %candidate.model,
        fallback = fallback as u64,
        reason = error.kind().reason(),
        error = %error.message(),
        "router.provider_failed"
    );
}

/// `router.all_providers_failed`: no candidate answered (an outage as far as
/// the caller can tell: logged at ERROR, as the RUNBOOK's alerts expect).
pub fn call_failed(call_id: &str, why: &str, attempts: u32, latency: Duration) {
    tracing::error!(
        call_id = %call_id,
        reason = "all_providers_failed",
        error = %why,
        attempts = attempts,
        duration_ms = log_ms(latency),
        "router.all_providers_failed"
    );
}

pub fn time_to_first_token(candidate: &Candidate, ttft: Duration) {
    metrics::histogram!("llm_provider_time_to_first_token_seconds", "provider" => candidate.provider.to_string())
        .record(ttft.as_secs_f64());
}

/// How a call that reached a provider ended, for its log line.
pub struct CallEnd<'a> {
    pub call_id: &'a str,
    pub candidate: &'a Candidate,
    pub usage: TokenUsage,
    pub cost: &'a Cost,
    pub attempts: u32,
    pub latency: Duration,
}

/// `router.success`: one per call that got its answer.
pub fn call_succeeded(end: &CallEnd<'_>) {
    tracing::info!(
        call_id = %end.call_id,
        provider = %end.candidate.provider,
        model = %end.candidate.model,
        cost_usd = %end.cost.micros,
        price_version = %end.cost.price_version,
        duration_ms = log_ms(end.latency),
        input_tokens = end.usage.input_tokens,
        output_tokens = end.usage.output_tokens,
        attempts = end.attempts,
        "router.success"
    );
}

/// `router.stream_interrupted`: the answering provider broke off mid-stream;
/// the partial output is billed (an error of the provider's: ERROR).
pub fn call_interrupted(end: &CallEnd<'_>) {
    tracing::error!(
        call_id = %end.call_id,
        provider = %end.candidate.provider,
        model = %end.candidate.model,
        reason = "stream_interrupted",
        cost_usd = %end.cost.micros,
        duration_ms = log_ms(end.latency),
        input_tokens = end.usage.input_tokens,
        output_tokens = end.usage.output_tokens,
        attempts = end.attempts,
        "router.stream_interrupted"
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
    pub call_id: String,
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
