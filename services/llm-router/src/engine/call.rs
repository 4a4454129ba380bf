//! One call in flight, from its admission to its record. Every call hands
//! over exactly one [`CallRecord`]: when it ends, or, if the caller goes away
//! first, when the guard is dropped (then the call is `Cancelled`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Engine;
use super::accounting::Accounting;
use super::observe::{self, CallOutcome, CallRecord, Operation, SharedObserver};
use super::request::Caller;
use llm_providers::TokenUsage;

use crate::budget::Admission;
use crate::pricing::{Cost, PriceTable};
use crate::routing::{Candidate, Tier};

pub(super) struct CallGuard {
    observer: SharedObserver,
    accounting: Option<Arc<Accounting>>,
    prices: Arc<PriceTable>,
    call_id: String,
    caller: Caller,
    operation: Operation,
    tier: Option<Tier>,
    admission: Option<Admission>,
    pub started: Instant,
    /// Provider calls made so far, retries included.
    pub attempts: u32,
    /// The candidate being called, or the last one that was.
    pub current: Option<Candidate>,
    /// Input tokens a provider bills for a call abandoned while it works on it.
    input_estimate: u64,
    done: bool,
    /// Counts the call as in flight for shutdown until the guard is gone.
    _in_flight: tokio_util::task::task_tracker::TaskTrackerToken,
}

/// What a call is, for its guard.
pub(super) struct CallIdentity<'a> {
    pub call_id: &'a str,
    pub caller: &'a Caller,
    pub operation: Operation,
    pub tier: Option<Tier>,
    pub input_estimate: u64,
}

impl Engine {
    pub(super) fn guard(
        &self,
        call: CallIdentity<'_>,
        admission: Option<Admission>,
        started: Instant,
    ) -> CallGuard {
        CallGuard {
            observer: Arc::clone(&self.observer),
            accounting: self.accounting.clone(),
            prices: Arc::clone(&self.prices),
            call_id: call.call_id.to_owned(),
            caller: call.caller.clone(),
            operation: call.operation,
            tier: call.tier,
            admission,
            started,
            attempts: 0,
            current: None,
            input_estimate: call.input_estimate,
            done: false,
            _in_flight: self.in_flight.token(),
        }
    }
}

impl CallGuard {
    pub fn cost(&self, candidate: &Candidate, usage: TokenUsage) -> Cost {
        super::cost_of(&self.prices, candidate, usage)
    }

    pub fn zero_cost(&self) -> Cost {
        Cost {
            micros: crate::money::Micros::ZERO,
            price_version: Arc::clone(self.prices.version()),
        }
    }

    /// Hands the call's record to the observer and the accounting (settle,
    /// then usage delivery), and logs how the call ended (a success or a
    /// broken stream here; [`Self::fail`] and the drop log theirs). Returns
    /// the call's latency.
    pub fn finish(
        &mut self,
        candidate: Option<&Candidate>,
        usage: TokenUsage,
        cost: Cost,
        outcome: CallOutcome,
    ) -> Duration {
        self.done = true;
        let latency = self.started.elapsed();
        if let Some(candidate) = candidate {
            let ended = observe::CallEnd {
                call_id: &self.call_id,
                candidate,
                usage,
                cost: &cost,
                attempts: self.attempts,
                latency,
            };
            match outcome {
                CallOutcome::Succeeded => observe::call_succeeded(&ended),
                CallOutcome::Interrupted => observe::call_interrupted(&ended),
                CallOutcome::Failed | CallOutcome::Cancelled => {}
            }
        }
        let record = CallRecord {
            call_id: std::mem::take(&mut self.call_id),
            caller: std::mem::take(&mut self.caller),
            operation: self.operation,
            tier: self.tier,
            candidate: candidate.cloned(),
            usage,
            cost,
            outcome,
            attempts: self.attempts,
            latency,
        };
        if let Some(accounting) = &self.accounting {
            accounting.finish(self.admission.take(), &record);
        }
        self.observer.call_finished(record);
        latency
    }

    /// No candidate answered (`why` says what each one did): a failed call,
    /// billed nothing, recorded under the last candidate tried.
    pub fn fail(&mut self, why: &str) {
        observe::call_failed(&self.call_id, why, self.attempts, self.started.elapsed());
        let candidate = self.current.clone();
        let cost = self.zero_cost();
        self.finish(
            candidate.as_ref(),
            TokenUsage::default(),
            cost,
            CallOutcome::Failed,
        );
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The caller went away before the call ended: if a provider was
        // working on it, it bills the prompt at least.
        let candidate = self.current.clone();
        let usage = match &candidate {
            Some(_) if self.attempts > 0 => TokenUsage::new(self.input_estimate, 0),
            _ => TokenUsage::default(),
        };
        let cost = match &candidate {
            Some(c) => self.cost(c, usage),
            None => self.zero_cost(),
        };
        tracing::info!(
            call_id = %self.call_id,
            attempts = self.attempts,
            provider = candidate.as_ref().map(|c| c.provider.to_string()).unwrap_or_default(),
            input_tokens = usage.input_tokens,
            cost_usd = %cost.micros,
            "router.call_cancelled"
        );
        self.finish(candidate.as_ref(), usage, cost, CallOutcome::Cancelled);
    }
}
