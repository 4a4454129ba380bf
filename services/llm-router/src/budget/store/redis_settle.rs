//! Settles to Redis, coalesced: one task takes whatever settles have queued
//! while its previous script call was in flight (up to `MAX_BATCH`) and runs
//! them as one `settle.lua` call. At low load a batch is one settle and waits
//! for nothing; under load Redis sees one round trip for many calls. Settles
//! are off the request path (the call has answered), so the queueing costs no
//! caller any latency. Each settle still gets its own outcome, with the same
//! semantics as one at a time: the script applies them in order, atomically.

use super::redis::{SETTLE, Shared, int_at, ms, tag_of, totals};
use super::{SettleOutcome, StoreError, millis};
use crate::budget::period::Period;
use crate::money::Micros;
use chrono::{DateTime, Utc};
use fred::prelude::Value;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

/// Settles per script call: bounds the time Redis spends in one script.
const MAX_BATCH: usize = 128;

pub(super) struct SettleJob {
    pub period: Period,
    pub call_id: String,
    pub actual: Micros,
    pub epoch: Option<String>,
    pub release_only: bool,
    /// The slice id and the call's part of it.
    pub slice: Option<(String, Micros)>,
    pub now: DateTime<Utc>,
    pub reply: oneshot::Sender<Result<SettleOutcome, StoreError>>,
}

/// Starts the batcher in `tasks`; it stops when every sender is gone (the
/// store dropped).
pub(super) fn spawn(shared: Arc<Shared>, tasks: &TaskTracker) -> mpsc::UnboundedSender<SettleJob> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tasks.spawn(async move {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            settle_batch(&shared, std::mem::take(&mut jobs)).await;
        }
    });
    tx
}

/// One script call per period in the batch (almost always one).
async fn settle_batch(shared: &Shared, mut jobs: Vec<SettleJob>) {
    while let Some(first) = jobs.first() {
        let key = first.period.key.clone();
        let (same, rest): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|j| j.period.key == key);
        jobs = rest;
        settle_period(shared, same).await;
    }
}

async fn settle_period(shared: &Shared, jobs: Vec<SettleJob>) {
    let Some(period) = jobs.first().map(|j| j.period.clone()) else {
        return;
    };
    let k = shared.keys(&period);
    let now = jobs.iter().map(|j| j.now).max().unwrap_or_else(Utc::now);
    let mut keys = Vec::with_capacity(3 + jobs.len());
    keys.extend([k.state, k.resv, k.resv_exp]);
    let mut args = Vec::with_capacity(2 + 6 * jobs.len());
    args.extend([millis(now).to_string(), ms(shared.ttls.tombstone)]);
    for job in &jobs {
        keys.push(shared.done_key(&period, &job.call_id));
        args.extend([
            job.call_id.clone(),
            job.actual.0.to_string(),
            job.epoch.clone().unwrap_or_default(),
            if job.release_only { "1" } else { "0" }.to_owned(),
            job.slice
                .as_ref()
                .map(|(id, _)| id.clone())
                .unwrap_or_default(),
            job.slice
                .as_ref()
                .map_or_else(String::new, |(_, part)| part.0.to_string()),
        ]);
    }
    match shared.run(&SETTLE, keys, args).await {
        Ok(replies) if replies.len() == jobs.len() => {
            for (job, reply) in jobs.into_iter().zip(replies) {
                // A caller that stopped waiting (its timeout) needs no answer.
                let _ = job.reply.send(outcome(&reply.into_array()));
            }
        }
        Ok(replies) => {
            let e = StoreError::Protocol(format!(
                "{} settle replies for {} settles",
                replies.len(),
                jobs.len()
            ));
            answer_all(jobs, &e);
        }
        Err(e) => answer_all(jobs, &e),
    }
}

fn answer_all(jobs: Vec<SettleJob>, error: &StoreError) {
    for job in jobs {
        let _ = job.reply.send(Err(error.clone()));
    }
}

fn outcome(items: &[Value]) -> Result<SettleOutcome, StoreError> {
    Ok(match tag_of(items)?.as_str() {
        "needs_rebuild" => SettleOutcome::NeedsRebuild,
        "stale" => SettleOutcome::Stale,
        "already_settled" => {
            let (spent, reserved) = totals(items)?;
            SettleOutcome::AlreadySettled { spent, reserved }
        }
        "duplicate" => {
            let (spent, reserved) = totals(items)?;
            SettleOutcome::Duplicate { spent, reserved }
        }
        "settled" => {
            let (spent, reserved) = totals(items)?;
            SettleOutcome::Settled {
                spent,
                reserved,
                had_reservation: int_at(items, 3)? == 1,
            }
        }
        other => return Err(StoreError::Protocol(format!("settle tag {other:?}"))),
    })
}
