//! The PostgreSQL ledger's monthly partitions (see the migration
//! `20261206000001_partition_usage_ledger.sql`): created ahead of time and on
//! demand, and retired whole — detached, then dropped or attached to the
//! archive — instead of deleting rows one by one.

use super::{Result, RetentionAction, Retired, StorageError, to_u64};
use crate::domain::time::{add_months, month_start};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use std::collections::BTreeSet;

/// Months prepared ahead of the current one, so that no insert waits on DDL
/// even when the daily preparation runs late.
pub const MONTHS_AHEAD: i32 = 2;

/// PostgreSQL's "no partition of relation … found for row".
pub fn is_missing_partition(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23514") && db.message().contains("no partition"))
}

/// Creates the ledger partitions of the months of `times` that do not exist.
pub async fn ensure_months(
    pool: &PgPool,
    times: impl IntoIterator<Item = DateTime<Utc>>,
) -> Result<()> {
    let months: BTreeSet<DateTime<Utc>> = times.into_iter().map(month_start).collect();
    for month in months {
        let name: String =
            sqlx::query_scalar("SELECT fe_ensure_month_partition('api_usage_log', $1)")
                .bind(month)
                .fetch_one(pool)
                .await?;
        tracing::debug!(partition = %name, "ledger.partition_ready");
    }
    Ok(())
}

/// This month's partition and the next [`MONTHS_AHEAD`].
pub async fn prepare(pool: &PgPool, now: DateTime<Utc>) -> Result<()> {
    let months = (0..=MONTHS_AHEAD).filter_map(|n| add_months(month_start(now), n));
    ensure_months(pool, months).await
}

fn partition_name(parent: &str, month: DateTime<Utc>) -> String {
    format!("{parent}_p{}", month.format("%Y%m"))
}

/// Retires the records created in `[start, end)`. A whole month with its
/// own partition (what retention asks for) is detached, then dropped or
/// attached to the archive: no row is rewritten. Anything else (not a whole
/// month) falls back to moving rows in one statement.
pub async fn retire(
    pool: &PgPool,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    action: RetentionAction,
    dry_run: bool,
) -> Result<Retired> {
    let counted = count(pool, start, end).await?;
    if dry_run || counted.rows == 0 {
        return Ok(counted);
    }
    let whole_month = month_start(start) == start && add_months(start, 1) == Some(end);
    let partition = partition_name("api_usage_log", start);
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&partition)
        .fetch_one(pool)
        .await?;
    if !(whole_month && exists) {
        return move_rows(pool, start, end, action).await;
    }
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE api_usage_log DETACH PARTITION {partition}"
    )))
    .execute(&mut *tx)
    .await?;
    match action {
        RetentionAction::Delete => {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {partition}")))
                .execute(&mut *tx)
                .await?;
        }
        RetentionAction::Archive => {
            let archived = partition_name("api_usage_log_archive", start);
            let archive_has_month: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(&archived)
                .fetch_one(&mut *tx)
                .await?;
            if archive_has_month {
                // Late records of a month archived before: append them.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO api_usage_log_archive ({COLUMNS}) SELECT {COLUMNS} FROM {partition}"
                )))
                .execute(&mut *tx)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {partition}")))
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "ALTER TABLE {partition} RENAME TO {archived}"
                )))
                .execute(&mut *tx)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "ALTER TABLE api_usage_log_archive ATTACH PARTITION {archived} \
                     FOR VALUES FROM ('{}') TO ('{}')",
                    start.to_rfc3339(),
                    end.to_rfc3339()
                )))
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(counted)
}

/// The columns a ledger row carries (the generated cost in USD excluded).
const COLUMNS: &str = "call_id, created_at, api_provider, model_name, input_tokens, \
     output_tokens, cost_micro_usd, price_version, user_id, session_id, calling_service, tier, \
     outcome, latency_ms, operation, request_id, recorded_at";

async fn count(pool: &PgPool, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Retired> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COALESCE(SUM(cost_micro_usd), 0)::BIGINT AS cost \
         FROM api_usage_log WHERE created_at >= $1 AND created_at < $2",
    )
    .bind(start)
    .bind(end)
    .fetch_one(pool)
    .await?;
    Ok(Retired {
        rows: to_u64(row.try_get("n")?, "count")?,
        cost_micro_usd: row.try_get("cost")?,
    })
}

/// Moves (or deletes) the rows of a range that is not a whole partition.
async fn move_rows(
    pool: &PgPool,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    action: RetentionAction,
) -> Result<Retired> {
    if action == RetentionAction::Archive {
        let mut months = Vec::new();
        let mut month = month_start(start);
        while month < end {
            months.push(month);
            month = add_months(month, 1)
                .ok_or_else(|| StorageError::Internal("month out of range".into()))?;
        }
        for month in months {
            sqlx::query("SELECT fe_ensure_month_partition('api_usage_log_archive', $1)")
                .bind(month)
                .execute(pool)
                .await?;
        }
    }
    let sql = match action {
        RetentionAction::Archive => format!(
            "WITH moved AS (DELETE FROM api_usage_log WHERE created_at >= $1 AND created_at < $2 \
               RETURNING *), \
             archived AS (INSERT INTO api_usage_log_archive ({COLUMNS}) SELECT {COLUMNS} FROM moved) \
             SELECT COUNT(*) AS n, COALESCE(SUM(cost_micro_usd), 0)::BIGINT AS cost FROM moved"
        ),
        RetentionAction::Delete => "WITH moved AS (DELETE FROM api_usage_log \
               WHERE created_at >= $1 AND created_at < $2 RETURNING cost_micro_usd) \
             SELECT COUNT(*) AS n, COALESCE(SUM(cost_micro_usd), 0)::BIGINT AS cost FROM moved"
            .to_owned(),
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(start)
        .bind(end)
        .fetch_one(pool)
        .await?;
    Ok(Retired {
        rows: to_u64(row.try_get("n")?, "count")?,
        cost_micro_usd: row.try_get("cost")?,
    })
}
