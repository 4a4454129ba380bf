//! Retention: whole calendar months older than the configured age leave the
//! ledger, moved to `api_usage_log_archive` (or deleted), one month per
//! transaction (on PostgreSQL a whole partition detached, no row rewritten).
//! The same daily task prepares the coming months' partitions.
//!
//! With `USAGE_RETENTION_MONTHS=N` the current month and the N calendar
//! months before it stay; everything created before the first of those
//! months is retired. Whole months only, so a month's report is either
//! complete in the ledger or entirely in the archive. Archived call ids
//! still count for idempotency: a very late redelivery is a DUPLICATE, never a
//! second row. The daily task runs it in the service; `usage-accounting
//! retention [--dry-run]` runs it once by hand.

use crate::config::Retention;
use crate::domain::time::{add_months, month_start};
use crate::storage::{LedgerStore, Result, RetentionAction, Retired};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the service applies retention.
pub const INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// One month's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthRetired {
    /// The first instant of the month.
    pub month: DateTime<Utc>,
    pub retired: Retired,
}

/// Records created before this leave the ledger; `None`: keep everything.
pub fn cutoff(now: DateTime<Utc>, keep_months: u32) -> Option<DateTime<Utc>> {
    if keep_months == 0 {
        return None;
    }
    add_months(now, -i32::try_from(keep_months).ok()?)
}

/// Applies `policy` as of `now` (or, with `dry_run`, reports what it would
/// retire). Returns the months that held records.
pub async fn run_once(
    store: &dyn LedgerStore,
    policy: Retention,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Vec<MonthRetired>> {
    let Some(cutoff) = cutoff(now, policy.keep_months) else {
        return Ok(Vec::new());
    };
    let Some(oldest) = store.oldest_before(cutoff).await? else {
        return Ok(Vec::new());
    };
    let mut done = Vec::new();
    let mut month = month_start(oldest);
    while month < cutoff {
        let Some(next) = add_months(month, 1) else {
            break;
        };
        let retired = store
            .retire(month, next.min(cutoff), policy.action, dry_run)
            .await?;
        if retired.rows > 0 {
            let month_name = month.format("%Y-%m").to_string();
            let action = match policy.action {
                RetentionAction::Archive => "archive",
                RetentionAction::Delete => "delete",
            };
            if dry_run {
                tracing::info!(month = %month_name, action, rows = retired.rows,
                    cost_micro_usd = retired.cost_micro_usd, "retention.dry_run");
            } else {
                tracing::info!(month = %month_name, action, rows = retired.rows,
                    cost_micro_usd = retired.cost_micro_usd, "retention.archived");
            }
            done.push(MonthRetired { month, retired });
        }
        month = next;
    }
    Ok(done)
}

/// Prepares the coming months' partitions and applies retention now and
/// then every [`INTERVAL`] until `cancel`.
pub async fn run_daily(store: Arc<dyn LedgerStore>, policy: Retention, cancel: CancellationToken) {
    loop {
        // Cancelling mid-month is safe: each month moves in one transaction.
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            result = daily(store.as_ref(), policy, Utc::now()) => result,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "retention.failed");
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}

async fn daily(store: &dyn LedgerStore, policy: Retention, now: DateTime<Utc>) -> Result<()> {
    store.prepare_partitions(now).await?;
    run_once(store, policy, now, false).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_keeps_the_current_month_and_n_before_it() {
        let now: DateTime<Utc> = "2025-03-17T10:00:00Z".parse().unwrap();
        assert_eq!(cutoff(now, 0), None);
        assert_eq!(
            cutoff(now, 1),
            Some("2025-02-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            cutoff(now, 3),
            Some("2024-12-01T00:00:00Z".parse().unwrap())
        );
    }
}
