//! Usage delivery: `submit` hands a record to a bounded channel (no I/O on the
//! request path); a batcher sends what has accumulated as one
//! `RecordUsageBatch` (so batches grow with load, up to `batch_max`); a failed
//! or unanswered batch goes to the durable outbox; a redelivery task drains the
//! outbox with backoff until the ledger acknowledges each record.
//!
//! While the ledger is known down, new batches go straight to the outbox (the
//! redelivery task probes the ledger), so a dead ledger costs the request path
//! nothing. If the outbox is down too, records wait in memory (`spill`) and are
//! retried; that memory is the only place a crash can lose them (see docs).

use super::outbox::Outbox;
use super::record::UsageRecord;
use super::sink::{RecordAck, UsageSink};
use parking_lot::Mutex;
use rand::Rng;
use service_kit::{ConfigError, Env};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Records per `RecordUsageBatch` (`USAGE_BATCH_MAX`, 200).
    pub batch_max: usize,
    /// Records waiting in memory before `submit` waits (`USAGE_CHANNEL_CAPACITY`, 10 000).
    pub channel_capacity: usize,
    /// Outbox entries at which the router refuses new calls (`USAGE_OUTBOX_MAX`, 100 000).
    pub outbox_max: u64,
    /// Bound on one ledger call (`USAGE_DELIVERY_TIMEOUT_MS`, 2 s).
    pub sink_timeout: Duration,
    /// Redelivery backoff bounds (100 ms to 30 s).
    pub redeliver_min: Duration,
    pub redeliver_max: Duration,
    /// How often an idle replica looks at the (shared) outbox.
    pub idle_poll: Duration,
    /// Bound on the shutdown flush (`USAGE_SHUTDOWN_FLUSH_MS`, 5 s).
    pub shutdown_timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            batch_max: 200,
            channel_capacity: 10_000,
            outbox_max: 100_000,
            sink_timeout: Duration::from_secs(2),
            redeliver_min: Duration::from_millis(100),
            redeliver_max: Duration::from_secs(30),
            idle_poll: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

impl DeliveryConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let batch_max: usize = env.parse_or("USAGE_BATCH_MAX", d.batch_max)?;
        if !(1..=1000).contains(&batch_max) {
            return Err(ConfigError::new("USAGE_BATCH_MAX", "must be 1 to 1000"));
        }
        let channel_capacity: usize = env.parse_or("USAGE_CHANNEL_CAPACITY", d.channel_capacity)?;
        if channel_capacity == 0 {
            return Err(ConfigError::new("USAGE_CHANNEL_CAPACITY", "at least 1"));
        }
        Ok(Self {
            batch_max,
            channel_capacity,
            outbox_max: env.parse_or("USAGE_OUTBOX_MAX", d.outbox_max)?,
            sink_timeout: env.millis_or("USAGE_DELIVERY_TIMEOUT_MS", d.sink_timeout)?,
            shutdown_timeout: env.millis_or("USAGE_SHUTDOWN_FLUSH_MS", d.shutdown_timeout)?,
            ..d
        })
    }
}

struct Inner {
    sink: Arc<dyn UsageSink>,
    outbox: Arc<dyn Outbox>,
    config: DeliveryConfig,
    depth: AtomicU64,
    sink_healthy: AtomicBool,
    spill: Mutex<Vec<UsageRecord>>,
    wake: Notify,
}

/// Handle to the delivery pipeline; clones share it.
#[derive(Clone)]
pub struct UsageDelivery {
    inner: Arc<Inner>,
    tx: mpsc::Sender<UsageRecord>,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

enum Step {
    Idle,
    Progress,
    Failed,
}

impl UsageDelivery {
    /// Starts the batcher and the redelivery task.
    pub async fn start(
        sink: Arc<dyn UsageSink>,
        outbox: Arc<dyn Outbox>,
        config: DeliveryConfig,
    ) -> Self {
        let depth = outbox.depth().await.unwrap_or(0);
        if depth > 0 {
            tracing::warn!(depth, "usage.outbox_pending_at_start");
        }
        metrics::gauge!("usage_outbox_depth").set(depth as f64);
        let (tx, rx) = mpsc::channel(config.channel_capacity);
        let inner = Arc::new(Inner {
            sink,
            outbox,
            config,
            depth: AtomicU64::new(depth),
            sink_healthy: AtomicBool::new(true),
            spill: Mutex::new(Vec::new()),
            wake: Notify::new(),
        });
        let tasks = TaskTracker::new();
        let cancel = CancellationToken::new();
        tasks.spawn(batcher(inner.clone(), rx, cancel.clone()));
        tasks.spawn(redeliverer(inner.clone(), cancel.clone()));
        Self {
            inner,
            tx,
            tasks,
            cancel,
        }
    }

    /// Queues one call's record. Returns at once unless the pipeline is
    /// saturated (then it waits: backpressure rather than loss). After
    /// shutdown began, writes straight to the outbox.
    pub async fn submit(&self, record: UsageRecord) {
        if let Err(mpsc::error::SendError(record)) = self.tx.send(record).await {
            self.inner.to_outbox(vec![record]).await;
        }
    }

    /// Records waiting for the ledger (outbox plus memory).
    pub fn outbox_depth(&self) -> u64 {
        self.inner.depth.load(Ordering::Relaxed) + self.inner.spill.lock().len() as u64
    }

    /// The outbox is at `outbox_max`: refuse new calls rather than lose records.
    pub fn is_full(&self) -> bool {
        self.outbox_depth() >= self.inner.config.outbox_max
    }

    /// Whether the ledger answered the latest delivery.
    pub fn ledger_healthy(&self) -> bool {
        self.inner.sink_healthy.load(Ordering::Relaxed)
    }

    /// Stops accepting work, flushes queued records to the ledger or the
    /// outbox, and waits for both tasks, within `shutdown_timeout`.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tasks.close();
        let bound = self.inner.config.shutdown_timeout;
        if tokio::time::timeout(bound, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::error!(
                bound_ms = bound.as_millis() as u64,
                "usage.shutdown_flush_incomplete"
            );
        }
        let spilled = std::mem::take(&mut *self.inner.spill.lock());
        if !spilled.is_empty() && self.inner.outbox.append(&spilled).await.is_err() {
            let ids: Vec<&str> = spilled.iter().map(|r| r.call_id.as_str()).collect();
            tracing::error!(count = spilled.len(), call_ids = ?ids, "usage.records_lost");
        }
    }
}

async fn batcher(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<UsageRecord>,
    cancel: CancellationToken,
) {
    let max = inner.config.batch_max;
    loop {
        let first = tokio::select! {
            biased;
            r = rx.recv() => r,
            _ = cancel.cancelled() => None,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < max {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        inner.deliver(batch).await;
    }
    // Shutdown: take what is queued; later submits go straight to the outbox.
    rx.close();
    let mut rest = Vec::new();
    while let Some(r) = rx.recv().await {
        rest.push(r);
    }
    for chunk in rest.chunks(max) {
        inner.deliver(chunk.to_vec()).await;
    }
}

async fn redeliverer(inner: Arc<Inner>, cancel: CancellationToken) {
    let mut backoff = inner.config.redeliver_min;
    loop {
        if cancel.is_cancelled() {
            return;
        }
        match inner.redeliver_once().await {
            Step::Progress => backoff = inner.config.redeliver_min,
            Step::Idle => {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = inner.wake.notified() => {}
                    _ = tokio::time::sleep(inner.config.idle_poll) => {}
                }
            }
            Step::Failed => {
                let jittered = rand::rng().random_range(backoff / 2..=backoff);
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(jittered) => {}
                }
                backoff = backoff.saturating_mul(2).min(inner.config.redeliver_max);
            }
        }
    }
}

impl Inner {
    /// First delivery of fresh records: the ledger if it is up, else the outbox.
    async fn deliver(&self, batch: Vec<UsageRecord>) {
        if self.sink_healthy.load(Ordering::Relaxed) {
            match self.send(&batch).await {
                Some(acks) => {
                    let rejected: Vec<(UsageRecord, String)> = batch
                        .into_iter()
                        .zip(acks)
                        .filter_map(|(r, ack)| match ack {
                            RecordAck::Rejected(reason) => Some((r, reason)),
                            _ => None,
                        })
                        .collect();
                    self.reject(&rejected).await;
                    return;
                }
                None => self.sink_healthy.store(false, Ordering::Relaxed),
            }
        }
        self.to_outbox(batch).await;
    }

    /// One ledger call; `None` on failure (logged, counted). It runs in its
    /// own span (a batch serves many requests), linked to each record's call.
    async fn send(&self, batch: &[UsageRecord]) -> Option<Vec<RecordAck>> {
        let span =
            tracing::info_span!("usage.deliver", otel.kind = "client", records = batch.len());
        for r in batch.iter().filter(|r| !r.traceparent.is_empty()) {
            service_kit::context::link_to_traceparent(&span, &r.traceparent);
        }
        let result = tokio::time::timeout(self.config.sink_timeout, self.sink.record_batch(batch))
            .instrument(span)
            .await;
        let cause = match result {
            Ok(Ok(acks)) if acks.len() == batch.len() => {
                let delivered = acks.iter().filter(|a| a.is_delivered()).count();
                metrics::counter!("usage_records_delivered_total").increment(delivered as u64);
                return Some(acks);
            }
            Ok(Ok(acks)) => format!("{} acks for {} records", acks.len(), batch.len()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "no answer within {} ms",
                self.config.sink_timeout.as_millis()
            ),
        };
        metrics::counter!("usage_delivery_failures_total").increment(1);
        tracing::warn!(records = batch.len(), error = %cause, "usage.delivery_failed");
        None
    }

    async fn to_outbox(&self, batch: Vec<UsageRecord>) {
        match self.outbox.append(&batch).await {
            Ok(()) => {
                // Counted from the outbox itself: it is shared with the
                // redelivery task (and other replicas), so local arithmetic drifts.
                if !self.refresh_depth().await {
                    self.depth.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                self.wake.notify_one();
            }
            Err(e) => {
                tracing::error!(records = batch.len(), error = %e, "usage.outbox_append_failed");
                self.spill.lock().extend(batch);
            }
        }
    }

    async fn reject(&self, rejected: &[(UsageRecord, String)]) {
        if rejected.is_empty() {
            return;
        }
        for (r, reason) in rejected {
            tracing::error!(request_id = %r.request_id, call_id = %r.call_id, reason = %reason, "usage.record_rejected");
        }
        metrics::counter!("usage_records_rejected_total").increment(rejected.len() as u64);
        if let Err(e) = self.outbox.append_rejected(rejected).await {
            // Keep them for redelivery: they will be rejected again and moved aside then.
            tracing::error!(error = %e, "usage.rejected_append_failed");
            self.spill
                .lock()
                .extend(rejected.iter().map(|(r, _)| r.clone()));
        }
    }

    async fn redeliver_once(&self) -> Step {
        let spilled = std::mem::take(&mut *self.spill.lock());
        if !spilled.is_empty() {
            if let Err(e) = self.outbox.append(&spilled).await {
                tracing::warn!(error = %e, "usage.outbox_append_failed");
                self.spill.lock().extend(spilled);
                return Step::Failed;
            }
            self.refresh_depth().await;
        }
        let entries = match self.outbox.peek(self.config.batch_max).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "usage.outbox_read_failed");
                return Step::Failed;
            }
        };
        if entries.is_empty() {
            self.refresh_depth().await;
            return Step::Idle;
        }
        let records: Vec<UsageRecord> = entries.iter().map(|e| e.record.clone()).collect();
        let Some(acks) = self.send(&records).await else {
            self.sink_healthy.store(false, Ordering::Relaxed);
            self.refresh_depth().await;
            return Step::Failed;
        };
        if !self.sink_healthy.swap(true, Ordering::Relaxed) {
            tracing::info!("usage.ledger_recovered");
        }
        let mut done = Vec::new();
        let mut rejected = Vec::new();
        for (entry, ack) in entries.into_iter().zip(acks) {
            match ack {
                RecordAck::Rejected(reason) => {
                    tracing::error!(request_id = %entry.record.request_id, call_id = %entry.record.call_id, reason = %reason, "usage.record_rejected");
                    metrics::counter!("usage_records_rejected_total").increment(1);
                    rejected.push((entry, reason));
                }
                _ => done.push(entry.id),
            }
        }
        // A failed removal only means a later DUPLICATE: harmless.
        let removed = self.outbox.remove(&done).await;
        let moved = self.outbox.move_aside(&rejected).await;
        self.refresh_depth().await;
        if removed.is_err() || moved.is_err() {
            return Step::Failed;
        }
        tracing::info!(records = done.len(), "usage.redelivered");
        Step::Progress
    }

    async fn refresh_depth(&self) -> bool {
        match self.outbox.depth().await {
            Ok(depth) => {
                self.depth.store(depth, Ordering::Relaxed);
                metrics::gauge!("usage_outbox_depth").set(depth as f64);
                true
            }
            Err(_) => false,
        }
    }
}
