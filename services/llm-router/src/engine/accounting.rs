//! The budget and usage delivery around each call. A call is admitted (its
//! worst-case cost reserved) before any provider sees it; when it ends it is
//! settled to its actual cost and only then is its usage record handed to
//! delivery, so a budget rebuilt from the ledger never counts a call twice.
//! Settle and submit run off the request path, in tasks shutdown waits for.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::Engine;
use super::observe::{CallOutcome, CallRecord, Operation, duration_ms};
use super::request::{ChatCall, EmbedCall, EngineError};
use llm_providers::{ChatRequest, EmbedRequest, TokenUsage};

use crate::budget::{Admission, BudgetBreaker, BudgetError, Settlement};
use crate::clock::SharedClock;
use crate::delivery::{UsageDelivery, UsageOutcome, UsageRecord};
use crate::money::Micros;
use crate::pricing::Price;
use crate::routing::{Candidate, Resolved, Target, Tier};

/// Tokens a message's framing may add (role markers, separators).
const FRAMING_TOKENS_PER_MESSAGE: u64 = 16;

/// The ledger id of a second call under a reused call id: the id's first
/// 90 characters (so the result stays within the 128 a call id may have),
/// then its own suffix.
fn duplicate_id(call_id: &str) -> String {
    let head: String = call_id.chars().take(90).collect();
    format!("{head}:dup:{}", uuid::Uuid::new_v4().simple())
}

/// The monthly budget and the usage pipeline of a router.
pub struct Accounting {
    budget: Arc<BudgetBreaker>,
    delivery: UsageDelivery,
    clock: SharedClock,
    tasks: TaskTracker,
}

impl Accounting {
    pub fn new(budget: Arc<BudgetBreaker>, delivery: UsageDelivery, clock: SharedClock) -> Self {
        Accounting {
            budget,
            delivery,
            clock,
            tasks: TaskTracker::new(),
        }
    }

    pub fn budget(&self) -> &Arc<BudgetBreaker> {
        &self.budget
    }

    pub fn delivery(&self) -> &UsageDelivery {
        &self.delivery
    }

    /// Reserves `worst_case` for the call, unless usage records are backing
    /// up beyond `USAGE_OUTBOX_MAX` (then refusing is the only lossless answer).
    /// A refusal is logged here, once, at the level an operator alerts on.
    async fn admit(
        &self,
        call_id: &str,
        worst_case: Micros,
        wants_sota: bool,
    ) -> Result<Admission, EngineError> {
        if self.delivery.is_full() {
            metrics::counter!("llm_calls_refused_total", "reason" => "usage_backlog").increment(1);
            let depth = self.delivery.outbox_depth();
            tracing::error!(
                call_id,
                reason = "usage_backlog",
                depth,
                "router.call_refused"
            );
            return Err(EngineError::UsageBacklog { depth });
        }
        self.budget
            .admit(call_id, worst_case, wants_sota)
            .await
            .inspect_err(|e| log_refusal(call_id, worst_case, e))
            .map_err(EngineError::from)
    }

    /// Settles the call, then submits its usage record, in a tracked task
    /// that runs in the call's span and request context: its log lines (and
    /// any call it makes) belong to the request that made the call.
    pub(super) fn finish(&self, admission: Option<Admission>, record: &CallRecord) {
        let mut usage = usage_record(record, self.clock.now());
        usage.traceparent = service_kit::context::current_traceparent().unwrap_or_default();
        let delivery = self.delivery.clone();
        let job = async move {
            if let Some(admission) = admission {
                match admission.settle(usage.cost).await {
                    Ok(Settlement::Counted) => {}
                    // Both calls under this id are in the budget: both go in the ledger.
                    Ok(Settlement::Duplicate) => usage.call_id = duplicate_id(&usage.call_id),
                    // Queued for a retry, or left to the next rebuild from the
                    // ledger: either way the call itself stands.
                    Err(e) => {
                        tracing::warn!(call_id = %usage.call_id, error = %e, "budget.settle_failed");
                    }
                }
            }
            delivery.submit(usage).await;
        };
        let job = match service_kit::RequestContext::current() {
            Some(ctx) => futures::future::Either::Left(ctx.scope(job)),
            None => futures::future::Either::Right(job),
        }
        .instrument(tracing::Span::current());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                self.tasks.spawn_on(job, &runtime);
            }
            // Only when a stream outlives the runtime (process teardown).
            Err(_) => tracing::error!(call_id = %record.call_id, "usage.record_lost"),
        }
    }

    /// Waits for the settles and submits of finished calls, then flushes
    /// delivery (to the ledger, else the outbox).
    pub async fn shutdown(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.budget.shutdown().await;
        self.delivery.shutdown().await;
    }
}

/// `budget.refused`: WARNING when the budget said no (the policy working as
/// configured), ERROR when it could not be checked (a fault of ours: 503).
fn log_refusal(call_id: &str, worst_case: Micros, error: &BudgetError) {
    let reason = error.code().reason();
    match error {
        BudgetError::Exceeded { state, .. } => tracing::warn!(
            call_id,
            reason,
            refusal = error.metric_reason(),
            state = state.as_str(),
            worst_case_usd = %worst_case,
            error = %error,
            "budget.refused"
        ),
        BudgetError::Unavailable(_) => {
            tracing::error!(call_id, reason, error = %error, "budget.refused");
        }
        BudgetError::DuplicateRequest(_) | BudgetError::Invalid(_) => {
            tracing::info!(call_id, reason, error = %error, "budget.refused");
        }
    }
}

/// The usage record of a finished call.
pub fn usage_record(r: &CallRecord, created_at: DateTime<Utc>) -> UsageRecord {
    // The ledger needs a provider: a call that never reached one names none.
    let (provider, model) = match &r.candidate {
        Some(c) => (c.provider.to_string(), c.model.to_string()),
        None => ("none".to_owned(), "none".to_owned()),
    };
    UsageRecord {
        call_id: r.call_id.clone(),
        request_id: r.caller.request_id.clone(),
        created_at,
        provider,
        model,
        input_tokens: r.usage.input_tokens,
        output_tokens: r.usage.output_tokens,
        cost: r.cost.micros,
        price_version: r.cost.price_version.to_string(),
        user_id: r.caller.user_id.clone(),
        session_id: r.caller.session_id.clone(),
        calling_service: r.caller.service.clone(),
        tier: r.tier.map(Tier::as_str).unwrap_or_default().to_owned(),
        outcome: match r.outcome {
            CallOutcome::Succeeded => UsageOutcome::Success,
            CallOutcome::Failed => UsageOutcome::Failed,
            CallOutcome::Interrupted => UsageOutcome::Partial,
            CallOutcome::Cancelled => UsageOutcome::Cancelled,
        },
        latency_ms: duration_ms(r.latency),
        operation: match r.operation {
            Operation::Chat | Operation::ChatStream => "chat",
            Operation::Embed => "embedding",
        }
        .to_owned(),
        traceparent: String::new(),
    }
}

/// The most input tokens a prompt can be billed: no tokenizer packs less
/// than one byte into a token, plus each message's framing.
fn max_input_tokens(bytes: usize, messages: usize) -> u64 {
    let framing = FRAMING_TOKENS_PER_MESSAGE.saturating_mul(messages as u64);
    u64::try_from(bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(framing)
}

impl Engine {
    /// The dearest `request` can cost on any of `candidates` (a fallback may
    /// land on any of them): every input byte a token, and `max_tokens` out.
    pub fn worst_case_chat(&self, candidates: &[Candidate], request: &ChatRequest) -> Micros {
        let bytes = request.messages.iter().map(|m| m.content.len()).sum();
        let usage = TokenUsage::new(
            max_input_tokens(bytes, request.messages.len()),
            u64::from(request.max_tokens),
        );
        self.dearest(candidates, usage)
    }

    pub fn worst_case_embed(&self, candidates: &[Candidate], request: &EmbedRequest) -> Micros {
        let bytes = request.inputs.iter().map(String::len).sum();
        let usage = TokenUsage::new(max_input_tokens(bytes, request.inputs.len()), 0);
        self.dearest(candidates, usage)
    }

    fn dearest(&self, candidates: &[Candidate], usage: TokenUsage) -> Micros {
        candidates
            .iter()
            .map(|c| {
                self.prices
                    .price(&c.provider, &c.model)
                    .unwrap_or_else(|_| Price::default())
                    .cost(usage)
            })
            .max()
            .unwrap_or(Micros::ZERO)
    }

    /// Admits a chat call against the budget. In HALF_OPEN with the
    /// downgrade on, a `sota` call is re-resolved to `cost_effective` (its
    /// worst case covers both tiers, since either may serve it).
    pub(super) async fn admit_chat(
        &self,
        call: &ChatCall,
        resolved: &mut Resolved,
    ) -> Result<Option<Admission>, EngineError> {
        let Some(accounting) = &self.accounting else {
            return Ok(None);
        };
        let wants_sota = resolved.tier == Some(Tier::Sota);
        let mut worst_case = self.worst_case_chat(&resolved.candidates, &call.request);
        // A request the cheaper tier cannot honour (a parameter none of its
        // vendors has) stays on its tier rather than lose the parameter.
        let downgrade = if wants_sota && accounting.budget.config().downgrade_sota {
            self.resolve_chat(&Target::Tier(Tier::CostEffective), &call.request)
                .ok()
        } else {
            None
        };
        if let Some(cheaper) = &downgrade {
            worst_case = worst_case.max(self.worst_case_chat(&cheaper.candidates, &call.request));
        }
        let admission = accounting
            .admit(&call.call_id, worst_case, wants_sota)
            .await?;
        if admission.downgrade_to_cost_effective
            && let Some(cheaper) = downgrade
        {
            tracing::warn!(call_id = %call.call_id, "budget.downgraded_to_cost_effective");
            metrics::counter!("llm_budget_downgrades_total").increment(1);
            *resolved = cheaper;
        }
        Ok(Some(admission))
    }

    pub(super) async fn admit_embed(
        &self,
        call: &EmbedCall,
        resolved: &Resolved,
    ) -> Result<Option<Admission>, EngineError> {
        let Some(accounting) = &self.accounting else {
            return Ok(None);
        };
        let worst_case = self.worst_case_embed(&resolved.candidates, &call.request);
        accounting
            .admit(&call.call_id, worst_case, false)
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_bound_is_bytes_plus_framing() {
        assert_eq!(max_input_tokens(0, 0), 0);
        assert_eq!(max_input_tokens(100, 2), 132);
        assert_eq!(max_input_tokens(usize::MAX, usize::MAX), u64::MAX);
    }

    #[test]
    fn a_duplicates_ledger_id_is_its_own_and_a_valid_call_id() {
        let long = "r".repeat(128);
        let (a, b) = (duplicate_id(&long), duplicate_id(&long));
        assert_ne!(a, b);
        assert!(a.starts_with(&long[..90]) && a.contains(":dup:"));
        assert!(service_kit::context::is_valid_request_id(&a), "{a}");
        assert!(duplicate_id("req-1").starts_with("req-1:dup:"));
    }
}
