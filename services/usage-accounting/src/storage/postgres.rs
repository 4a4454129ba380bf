//! The PostgreSQL ledger (production), partitioned by month
//! (`postgres_partitions`).
//!
//! Inserts are one `INSERT … SELECT FROM UNNEST(arrays) … ON CONFLICT DO
//! NOTHING` statement, whatever the batch size: atomic, one round trip, one
//! prepared statement. Records are offered sorted by call id, so
//! concurrent batches sharing ids take their index locks in the same order and
//! cannot deadlock each other.

use super::postgres_partitions as partitions;
use super::rows::{self, COLUMNS};
use super::{
    LedgerStore, PoolStats, ResetStored, Result, RetentionAction, Retired, counted_from, to_u64,
};
use crate::domain::{
    BudgetReset, GroupKey, ListQuery, Period, Spend, Stored, SummaryRow, TimeRange, UsageRecord,
};
use chrono::{DateTime, Utc};
use service_kit::database::{PoolOptions, postgres_pool};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};
use std::collections::{HashMap, HashSet};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

// The id claims its row in api_usage_call_ids first (the ledger is
// partitioned by month, so its own keys cannot be unique by id alone); only
// the records whose claim succeeded are written, in the same statement.
const INSERT: &str = "WITH t AS (SELECT * FROM UNNEST($1::text[], $2::timestamptz[], \
     $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[], $8::text[], $9::text[], \
     $10::text[], $11::text[], $12::text[], $13::text[], $14::int8[], $15::text[], $16::text[]) \
     AS t(call_id, created_at, api_provider, model_name, input_tokens, output_tokens, \
     cost_micro_usd, price_version, user_id, session_id, calling_service, tier, outcome, \
     latency_ms, operation, request_id)), \
     claimed AS (INSERT INTO api_usage_call_ids (call_id, created_at) \
     SELECT call_id, created_at FROM t ON CONFLICT (call_id) DO NOTHING \
     RETURNING call_id) \
     INSERT INTO api_usage_log (call_id, created_at, api_provider, model_name, input_tokens, \
     output_tokens, cost_micro_usd, price_version, user_id, session_id, calling_service, tier, \
     outcome, latency_ms, operation, request_id) \
     SELECT t.* FROM t JOIN claimed USING (call_id) \
     RETURNING call_id";

// A stored id's row, found through its created_at (partition pruning and the
// (created_at, call_id) index), in the ledger or the archive. An id with
// neither was in a month retention deleted.
const EXISTING: &str = "SELECT d.call_id AS claimed_id, u.call_id, u.created_at, \
     u.api_provider, u.model_name, u.input_tokens, u.output_tokens, u.cost_micro_usd, \
     u.price_version, u.user_id, u.session_id, u.calling_service, u.tier, u.outcome, \
     u.latency_ms, u.operation, u.request_id \
     FROM api_usage_call_ids d \
     LEFT JOIN LATERAL (SELECT * FROM api_usage_log l \
       WHERE l.created_at = d.created_at AND l.call_id = d.call_id \
       UNION ALL SELECT * FROM api_usage_log_archive a \
       WHERE a.created_at = d.created_at AND a.call_id = d.call_id LIMIT 1) u ON TRUE \
     WHERE d.call_id = ANY($1)";

const SPEND: &str = "WITH r AS (SELECT GREATEST($1::timestamptz, MAX(reset_at)) AS from_ts \
     FROM budget_resets WHERE reset_at >= $1 AND reset_at < $2) \
     SELECT r.from_ts, COALESCE(SUM(u.cost_micro_usd), 0)::BIGINT AS spent, \
     COUNT(u.call_id) AS n FROM r LEFT JOIN api_usage_log u \
     ON u.created_at >= r.from_ts AND u.created_at < $2 GROUP BY r.from_ts";

/// Deadlocks and serialisation failures are retried this many times.
const RETRIES: usize = 3;

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// A pool that connects on first use (start-up must not fail while the
    /// database is still coming up: readiness waits for it instead).
    pub fn connect_lazy(url: &str, max_connections: u32) -> Result<Self> {
        let pool = postgres_pool(url, PoolOptions::new(max_connections))?;
        Ok(Self { pool })
    }

    /// The stored row of each id, or `None` for an id whose month retention deleted.
    async fn existing(&self, ids: &[String]) -> Result<HashMap<String, Option<UsageRecord>>> {
        let rows = sqlx::query(EXISTING)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("claimed_id")?;
                let found: Option<String> = row.try_get("call_id")?;
                let stored = match found {
                    Some(_) => Some(record(row)?),
                    None => None,
                };
                Ok((id, stored))
            })
            .collect()
    }

    async fn insert_claimed(&self, columns: &Columns) -> Result<HashSet<String>> {
        let mut attempt = 0;
        loop {
            match columns.insert(&self.pool).await {
                Ok(ids) => return Ok(ids.into_iter().collect()),
                Err(e) if is_retryable(&e) && attempt < RETRIES => attempt += 1,
                // A month with no partition yet (a record from before the
                // partitions prepared ahead, or far ahead): create it, retry.
                Err(e) if partitions::is_missing_partition(&e) && attempt < RETRIES => {
                    partitions::ensure_months(&self.pool, columns.created.iter().copied()).await?;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn record(row: &PgRow) -> Result<UsageRecord> {
    let created_at: DateTime<Utc> = row.try_get("created_at")?;
    rows::record(row, created_at)
}

fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// The `UNNEST` arrays, one per column.
#[derive(Default)]
struct Columns {
    ids: Vec<String>,
    created: Vec<DateTime<Utc>>,
    providers: Vec<String>,
    models: Vec<String>,
    input: Vec<i64>,
    output: Vec<i64>,
    cost: Vec<i64>,
    price_versions: Vec<String>,
    users: Vec<String>,
    sessions: Vec<String>,
    callers: Vec<String>,
    tiers: Vec<String>,
    outcomes: Vec<String>,
    latency: Vec<i64>,
    operations: Vec<String>,
    request_ids: Vec<String>,
}

impl Columns {
    fn of(records: &[&UsageRecord]) -> Self {
        let mut c = Self::default();
        for r in records {
            c.ids.push(r.call_id.as_str().to_owned());
            c.created.push(r.created_at);
            c.providers.push(r.provider.clone());
            c.models.push(r.model.clone());
            c.input.push(r.input_tokens.as_i64());
            c.output.push(r.output_tokens.as_i64());
            c.cost.push(r.cost.get());
            c.price_versions.push(r.price_version.clone());
            c.users.push(r.user_id.clone());
            c.sessions.push(r.session_id.clone());
            c.callers.push(r.calling_service.clone());
            c.tiers.push(r.tier.as_str().to_owned());
            c.outcomes.push(r.outcome.as_str().to_owned());
            c.latency.push(r.latency_ms.as_i64());
            c.operations.push(r.operation.as_str().to_owned());
            c.request_ids.push(r.request_id.clone());
        }
        c
    }

    async fn insert(&self, pool: &PgPool) -> std::result::Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(INSERT)
            .bind(&self.ids)
            .bind(&self.created)
            .bind(&self.providers)
            .bind(&self.models)
            .bind(&self.input)
            .bind(&self.output)
            .bind(&self.cost)
            .bind(&self.price_versions)
            .bind(&self.users)
            .bind(&self.sessions)
            .bind(&self.callers)
            .bind(&self.tiers)
            .bind(&self.outcomes)
            .bind(&self.latency)
            .bind(&self.operations)
            .bind(&self.request_ids)
            .fetch_all(pool)
            .await
    }
}

fn key_expr(key: GroupKey) -> &'static str {
    match key {
        GroupKey::Provider => "api_provider",
        GroupKey::Model => "model_name",
        GroupKey::User => "user_id",
        GroupKey::Day => "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    }
}

fn push_range(qb: &mut QueryBuilder<Postgres>, range: TimeRange) {
    if let Some(start) = range.start {
        qb.push(" AND created_at >= ").push_bind(start);
    }
    if let Some(end) = range.end {
        qb.push(" AND created_at < ").push_bind(end);
    }
}

#[async_trait::async_trait]
impl LedgerStore for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        partitions::prepare(&self.pool, Utc::now()).await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_new(&self, records: &[UsageRecord]) -> Result<Vec<Stored>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut sorted: Vec<&UsageRecord> = records.iter().collect();
        sorted.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        let columns = Columns::of(&sorted);
        let created = self.insert_claimed(&columns).await?;
        let missing: Vec<String> = columns
            .ids
            .iter()
            .filter(|id| !created.contains(*id))
            .cloned()
            .collect();
        let existing = if missing.is_empty() {
            HashMap::new()
        } else {
            self.existing(&missing).await?
        };
        rows::stored_in_order(records, &created, existing)
    }

    async fn spend(&self, period: Period) -> Result<Spend> {
        let row = sqlx::query(SPEND)
            .bind(period.start)
            .bind(period.end)
            .fetch_one(&self.pool)
            .await?;
        let from: Option<DateTime<Utc>> = row.try_get("from_ts")?;
        Ok(Spend {
            spent_micro_usd: row.try_get("spent")?,
            record_count: to_u64(row.try_get("n")?, "count")?,
            counted_from: from.unwrap_or_else(|| counted_from(period, None)),
        })
    }

    async fn summary(&self, range: TimeRange, keys: &[GroupKey]) -> Result<Vec<SummaryRow>> {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
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
            qb.push(format_args!("{expr}::text AS {alias}, "));
        }
        qb.push(
            "COALESCE(SUM(input_tokens), 0)::BIGINT AS input_tokens, \
             COALESCE(SUM(output_tokens), 0)::BIGINT AS output_tokens, \
             COALESCE(SUM(cost_micro_usd), 0)::BIGINT AS cost, COUNT(*) AS n \
             FROM api_usage_log WHERE TRUE",
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
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {COLUMNS} FROM api_usage_log WHERE TRUE"
        ));
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
                .push_bind(after.created_at)
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
            "INSERT INTO budget_resets (reset_id, reset_at, actor, reason) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (reset_id) DO NOTHING",
        )
        .bind(&reset.reset_id)
        .bind(reset.reset_at)
        .bind(&reset.actor)
        .bind(&reset.reason)
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
            reset_at: row.try_get("reset_at")?,
            actor: row.try_get("actor")?,
            reason: row.try_get("reason")?,
        }))
    }

    async fn oldest_before(&self, cutoff: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(created_at) FROM api_usage_log WHERE created_at < $1")
                .bind(cutoff)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn retire(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        action: RetentionAction,
        dry_run: bool,
    ) -> Result<Retired> {
        partitions::retire(&self.pool, start, end, action, dry_run).await
    }

    async fn prepare_partitions(&self, now: DateTime<Utc>) -> Result<()> {
        partitions::prepare(&self.pool, now).await
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats::of(&self.pool)
    }
}
