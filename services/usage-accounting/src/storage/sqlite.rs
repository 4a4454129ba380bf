//! The embedded SQLite ledger: the default without `DATABASE_URL`, so the
//! service runs on a bare machine. Same tables and semantics as PostgreSQL;
//! timestamps are INTEGER microseconds (UTC). Write transactions start with
//! `BEGIN IMMEDIATE`, so concurrent writers queue on the database lock
//! (busy timeout) instead of failing when a read lock would need upgrading.

use super::rows::{self, COLUMNS};
use super::{
    LedgerStore, PoolStats, ResetStored, Result, RetentionAction, Retired, StorageError,
    counted_from, to_u64,
};
use crate::domain::{
    BudgetReset, GroupKey, ListQuery, Period, Spend, Stored, SummaryRow, TimeRange, UsageRecord,
};
use chrono::{DateTime, Utc};
use service_kit::database::{PoolOptions, sqlite_pool};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Records per INSERT statement: 17 binds each stays far below SQLite's
/// 32766-parameter limit.
const CHUNK: usize = 500;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing) the database file at
    /// `path`; connections are made on first use.
    pub fn open_lazy(path: &Path, max_connections: u32) -> Result<Self> {
        // Ingest batches can queue behind a long retention transaction.
        let options =
            PoolOptions::new(max_connections).sqlite_busy_timeout(Duration::from_secs(30));
        let pool = sqlite_pool(path, options)?;
        Ok(Self { pool })
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(v: i64, what: &str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StorageError::Internal(format!("{what} = {v} is not a time")))
}

fn record(row: &SqliteRow) -> Result<UsageRecord> {
    rows::record(row, time(row.try_get("created_at")?, "created_at")?)
}

fn key_expr(key: GroupKey) -> &'static str {
    match key {
        GroupKey::Provider => "api_provider",
        GroupKey::Model => "model_name",
        GroupKey::User => "user_id",
        // created_at is never negative (records start in 1970), so integer
        // division is the floor.
        GroupKey::Day => "strftime('%Y-%m-%d', created_at / 1000000, 'unixepoch')",
    }
}

fn push_range(qb: &mut QueryBuilder<Sqlite>, range: TimeRange) {
    if let Some(start) = range.start {
        qb.push(" AND created_at >= ").push_bind(micros(start));
    }
    if let Some(end) = range.end {
        qb.push(" AND created_at < ").push_bind(micros(end));
    }
}

#[async_trait::async_trait]
impl LedgerStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_new(&self, records: &[UsageRecord]) -> Result<Vec<Stored>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let now = micros(Utc::now());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut created: HashSet<String> = HashSet::new();
        for chunk in records.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(format!(
                "INSERT INTO api_usage_log ({COLUMNS}, recorded_at) SELECT * FROM ("
            ));
            qb.push_values(chunk, |mut row, r| {
                row.push_bind(r.call_id.as_str().to_owned())
                    .push_bind(micros(r.created_at))
                    .push_bind(r.provider.clone())
                    .push_bind(r.model.clone())
                    .push_bind(r.input_tokens.as_i64())
                    .push_bind(r.output_tokens.as_i64())
                    .push_bind(r.cost.get())
                    .push_bind(r.price_version.clone())
                    .push_bind(r.user_id.clone())
                    .push_bind(r.session_id.clone())
                    .push_bind(r.calling_service.clone())
                    .push_bind(r.tier.as_str())
                    .push_bind(r.outcome.as_str())
                    .push_bind(r.latency_ms.as_i64())
                    .push_bind(r.operation.as_str())
                    .push_bind(r.request_id.clone())
                    .push_bind(now);
            });
            // VALUES columns are named column1, column2, …; column1 is the id.
            qb.push(
                ") AS t WHERE NOT EXISTS (SELECT 1 FROM api_usage_log_archive a \
                 WHERE a.call_id = t.column1) \
                 ON CONFLICT (call_id) DO NOTHING RETURNING call_id",
            );
            let ids: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
            created.extend(ids);
        }
        let missing: Vec<&str> = records
            .iter()
            .map(|r| r.call_id.as_str())
            .filter(|id| !created.contains(*id))
            .collect();
        let mut existing: HashMap<String, Option<UsageRecord>> = HashMap::new();
        for chunk in missing.chunks(CHUNK) {
            for table in ["api_usage_log", "api_usage_log_archive"] {
                let mut qb = QueryBuilder::<Sqlite>::new(format!(
                    "SELECT {COLUMNS} FROM {table} WHERE call_id IN ("
                ));
                let mut ids = qb.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                qb.push(")");
                for row in qb.build().fetch_all(&mut *tx).await? {
                    let r = record(&row)?;
                    existing.insert(r.call_id.as_str().to_owned(), Some(r));
                }
            }
        }
        tx.commit().await?;
        rows::stored_in_order(records, &created, existing)
    }

    async fn spend(&self, period: Period) -> Result<Spend> {
        let row = sqlx::query(
            "WITH r AS (SELECT max($1, COALESCE(MAX(reset_at), $1)) AS from_ts \
             FROM budget_resets WHERE reset_at >= $1 AND reset_at < $2) \
             SELECT r.from_ts AS from_ts, COALESCE(SUM(u.cost_micro_usd), 0) AS spent, \
             COUNT(u.call_id) AS n FROM r LEFT JOIN api_usage_log u \
             ON u.created_at >= r.from_ts AND u.created_at < $2 GROUP BY r.from_ts",
        )
        .bind(micros(period.start))
        .bind(micros(period.end))
        .fetch_one(&self.pool)
        .await?;
        let from: Option<i64> = row.try_get("from_ts")?;
        Ok(Spend {
            spent_micro_usd: row.try_get("spent")?,
            record_count: to_u64(row.try_get("n")?, "count")?,
            counted_from: match from {
                Some(v) => time(v, "counted_from")?,
                None => counted_from(period, None),
            },
        })
    }

    async fn summary(&self, range: TimeRange, keys: &[GroupKey]) -> Result<Vec<SummaryRow>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
        for (key, alias) in [
            (GroupKey::Provider, "provider"),
            (GroupKey::Model, "model"),
            (GroupKey::User, "user_id"),
            (GroupKey::Day, "day"),
        ] {
            let expr = if keys.contains(&key) {
                key_expr(key)
            } else {
                "''"
            };
            qb.push(format_args!("{expr} AS {alias}, "));
        }
        qb.push(
            "COALESCE(SUM(input_tokens), 0) AS input_tokens, \
             COALESCE(SUM(output_tokens), 0) AS output_tokens, \
             COALESCE(SUM(cost_micro_usd), 0) AS cost, COUNT(*) AS n \
             FROM api_usage_log WHERE 1",
        );
        push_range(&mut qb, range);
        if !keys.is_empty() {
            let exprs: Vec<&str> = keys.iter().map(|k| key_expr(*k)).collect();
            qb.push(format_args!(" GROUP BY {}", exprs.join(", ")));
        }
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(rows::summary_row).collect()
    }

    async fn list(&self, query: &ListQuery, limit: u32) -> Result<Vec<UsageRecord>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM api_usage_log WHERE 1"));
        push_range(&mut qb, query.range);
        for (column, value) in [
            ("api_provider", &query.provider),
            ("model_name", &query.model),
            ("user_id", &query.user_id),
            ("session_id", &query.session_id),
            ("request_id", &query.request_id),
        ] {
            if let Some(v) = value {
                qb.push(format_args!(" AND {column} = "))
                    .push_bind(v.clone());
            }
        }
        if let Some(after) = &query.after {
            qb.push(" AND (created_at, call_id) < (")
                .push_bind(micros(after.created_at))
                .push(", ")
                .push_bind(after.call_id.clone())
                .push(")");
        }
        qb.push(" ORDER BY created_at DESC, call_id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(record).collect()
    }

    async fn record_reset(&self, reset: &BudgetReset) -> Result<ResetStored> {
        let inserted = sqlx::query(
            "INSERT INTO budget_resets (reset_id, reset_at, actor, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (reset_id) DO NOTHING",
        )
        .bind(&reset.reset_id)
        .bind(micros(reset.reset_at))
        .bind(&reset.actor)
        .bind(&reset.reason)
        .bind(micros(Utc::now()))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(ResetStored::Created);
        }
        let row = sqlx::query(
            "SELECT reset_id, reset_at, actor, reason FROM budget_resets WHERE reset_id = $1",
        )
        .bind(&reset.reset_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(ResetStored::Existing(BudgetReset {
            reset_id: row.try_get("reset_id")?,
            reset_at: time(row.try_get("reset_at")?, "reset_at")?,
            actor: row.try_get("actor")?,
            reason: row.try_get("reason")?,
        }))
    }

    async fn oldest_before(&self, cutoff: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let oldest: Option<i64> =
            sqlx::query_scalar("SELECT MIN(created_at) FROM api_usage_log WHERE created_at < $1")
                .bind(micros(cutoff))
                .fetch_one(&self.pool)
                .await?;
        oldest.map(|v| time(v, "created_at")).transpose()
    }

    async fn retire(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        action: RetentionAction,
        dry_run: bool,
    ) -> Result<Retired> {
        let (start, end) = (micros(start), micros(end));
        // The write lock first: nothing can land in the range between the count and the move.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(cost_micro_usd), 0) AS cost \
             FROM api_usage_log WHERE created_at >= $1 AND created_at < $2",
        )
        .bind(start)
        .bind(end)
        .fetch_one(&mut *tx)
        .await?;
        let retired = Retired {
            rows: to_u64(row.try_get("n")?, "count")?,
            cost_micro_usd: row.try_get("cost")?,
        };
        if dry_run || retired.rows == 0 {
            return Ok(retired);
        }
        if action == RetentionAction::Archive {
            sqlx::query(
                "INSERT INTO api_usage_log_archive (call_id, created_at, api_provider, \
                 model_name, input_tokens, output_tokens, cost_micro_usd, price_version, user_id, \
                 session_id, calling_service, tier, outcome, latency_ms, operation, recorded_at, \
                 request_id, archived_at) SELECT call_id, created_at, api_provider, model_name, \
                 input_tokens, output_tokens, cost_micro_usd, price_version, user_id, session_id, \
                 calling_service, tier, outcome, latency_ms, operation, recorded_at, request_id, \
                 $3 \
                 FROM api_usage_log WHERE created_at >= $1 AND created_at < $2 \
                 ON CONFLICT (call_id) DO NOTHING",
            )
            .bind(start)
            .bind(end)
            .bind(micros(Utc::now()))
            .execute(&mut *tx)
            .await?;
        }
        let deleted =
            sqlx::query("DELETE FROM api_usage_log WHERE created_at >= $1 AND created_at < $2")
                .bind(start)
                .bind(end)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if deleted != retired.rows {
            return Err(StorageError::Internal(format!(
                "retention counted {} rows but deleted {deleted}",
                retired.rows
            )));
        }
        tx.commit().await?;
        Ok(retired)
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats::of(&self.pool)
    }
}
