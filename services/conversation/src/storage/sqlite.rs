//! The embedded SQLite store: the default when no `DATABASE_URL` is set, so
//! the service runs on a bare machine. Same schema and semantics as
//! PostgreSQL; timestamps are INTEGER microseconds, ids UUID text. Write
//! transactions start with `BEGIN IMMEDIATE`, so two writers queue on the
//! database lock instead of failing when a read lock would need upgrading.

use super::{
    Inserted, PoolStats, Result, RetryClaim, SessionCursor, StorageError, Store, corrupt, to_i64,
    to_u32, to_u64,
};
use crate::domain::model::{ExchangeOutcome, NewLearnerMessage, NewSession};
use crate::domain::{Learner, Message, ProfileUpdate, Session, Usage};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const LEARNER_COLS: &str = "id, display_name, level, native_language, created_at, updated_at";
const SESSION_COLS: &str =
    "id, owner_id, scenario_id, level, title, archived, message_count, created_at, updated_at";
const MESSAGE_COLS: &str = "id, session_id, seq, role, content, status, input_tokens, \
     output_tokens, cost_micro_usd, provider, model, call_id, client_message_id, reply_to, \
     attempts, error_reason, created_at, updated_at";
const OWNED_LIVE_SESSION: &str = "EXISTS (SELECT 1 FROM sessions s \
     WHERE s.id = messages.session_id AND s.owner_id = $2 AND s.deleted_at IS NULL)";

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`, lazily.
    pub fn open_lazy(path: &Path, max_connections: u32) -> Self {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        Self { pool }
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(row: &SqliteRow, col: &str) -> Result<DateTime<Utc>> {
    let v: i64 = row.try_get(col)?;
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(format!("{col} = {v}")))
}

fn uuid(row: &SqliteRow, col: &str) -> Result<Uuid> {
    let v: String = row.try_get(col)?;
    Uuid::parse_str(&v).map_err(|e| corrupt(format!("{col}: {e}")))
}

fn id(u: Uuid) -> String {
    u.as_hyphenated().to_string()
}

fn learner(row: &SqliteRow) -> Result<Learner> {
    let level: Option<String> = row.try_get("level")?;
    Ok(Learner {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        level: level.map(|l| l.parse()).transpose().map_err(corrupt)?,
        native_language: row.try_get("native_language")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn session(row: &SqliteRow) -> Result<Session> {
    let level: String = row.try_get("level")?;
    Ok(Session {
        id: uuid(row, "id")?,
        owner_id: row.try_get("owner_id")?,
        scenario_id: row.try_get("scenario_id")?,
        level: level.parse().map_err(corrupt)?,
        title: row.try_get("title")?,
        archived: row.try_get("archived")?,
        message_count: to_u32(row.try_get("message_count")?),
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn message(row: &SqliteRow) -> Result<Message> {
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    let reply_to: Option<String> = row.try_get("reply_to")?;
    Ok(Message {
        id: uuid(row, "id")?,
        session_id: uuid(row, "session_id")?,
        seq: row.try_get("seq")?,
        role: role.parse().map_err(corrupt)?,
        content: row.try_get("content")?,
        status: status.parse().map_err(corrupt)?,
        usage: Usage {
            input_tokens: to_u64(row.try_get("input_tokens")?),
            output_tokens: to_u64(row.try_get("output_tokens")?),
            cost_micro_usd: row.try_get("cost_micro_usd")?,
        },
        provider: row.try_get("provider")?,
        model: row.try_get("model")?,
        call_id: row.try_get("call_id")?,
        client_message_id: row.try_get("client_message_id")?,
        reply_to: reply_to
            .map(|r| Uuid::parse_str(&r))
            .transpose()
            .map_err(|e| corrupt(format!("reply_to: {e}")))?,
        attempts: to_u32(row.try_get("attempts")?),
        error_reason: row.try_get("error_reason")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    // Every dynamic string here is built from the constants above, never from input.
    sqlx::AssertSqlSafe(text)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ensure_learner(&self, learner_id: &str, now: DateTime<Utc>) -> Result<Learner> {
        let select = || sql(format!("SELECT {LEARNER_COLS} FROM learners WHERE id = $1"));
        // Read first: the common case needs no write lock.
        if let Some(row) = sqlx::query(select())
            .bind(learner_id)
            .fetch_optional(&self.pool)
            .await?
        {
            return learner(&row);
        }
        sqlx::query(
            "INSERT INTO learners (id, created_at, updated_at) VALUES ($1, $2, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(learner_id)
        .bind(micros(now))
        .execute(&self.pool)
        .await?;
        learner(
            &sqlx::query(select())
                .bind(learner_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn update_learner(
        &self,
        learner_id: &str,
        update: &ProfileUpdate,
        now: DateTime<Utc>,
    ) -> Result<Learner> {
        let row = sqlx::query(sql(format!(
            "INSERT INTO learners (id, display_name, level, native_language, created_at, updated_at) \
             VALUES ($1, COALESCE($2, ''), $3, COALESCE($4, ''), $5, $5) \
             ON CONFLICT (id) DO UPDATE SET \
               display_name = COALESCE($2, learners.display_name), \
               level = COALESCE($3, learners.level), \
               native_language = COALESCE($4, learners.native_language), \
               updated_at = $5 \
             RETURNING {LEARNER_COLS}"
        )))
        .bind(learner_id)
        .bind(update.display_name.as_deref())
        .bind(update.level.map(|l| l.as_str()))
        .bind(update.native_language.as_deref())
        .bind(micros(now))
        .fetch_one(&self.pool)
        .await?;
        learner(&row)
    }

    async fn create_session(&self, new: &NewSession) -> Result<Session> {
        let row = sqlx::query(sql(format!(
            "INSERT INTO sessions (id, owner_id, scenario_id, level, title, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {SESSION_COLS}"
        )))
        .bind(id(new.id))
        .bind(&new.owner_id)
        .bind(&new.scenario_id)
        .bind(new.level.as_str())
        .bind(&new.title)
        .bind(micros(new.now))
        .fetch_one(&self.pool)
        .await?;
        session(&row)
    }

    async fn get_session(&self, owner: &str, session_id: Uuid) -> Result<Option<Session>> {
        let row = sqlx::query(sql(format!(
            "SELECT {SESSION_COLS} FROM sessions \
             WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL"
        )))
        .bind(id(session_id))
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session).transpose()
    }

    async fn list_sessions(
        &self,
        owner: &str,
        include_archived: bool,
        after: Option<SessionCursor>,
        limit: u32,
    ) -> Result<Vec<Session>> {
        let base = "FROM sessions WHERE owner_id = $1 AND deleted_at IS NULL \
                    AND ($2 OR NOT archived)";
        let order = "ORDER BY created_at DESC, id DESC LIMIT $3";
        let rows = match after {
            None => {
                sqlx::query(sql(format!("SELECT {SESSION_COLS} {base} {order}")))
                    .bind(owner)
                    .bind(include_archived)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(c) => {
                sqlx::query(sql(format!(
                    "SELECT {SESSION_COLS} {base} AND (created_at, id) < ($4, $5) {order}"
                )))
                .bind(owner)
                .bind(include_archived)
                .bind(i64::from(limit))
                .bind(micros(c.created_at))
                .bind(id(c.id))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(session).collect()
    }

    async fn set_archived(
        &self,
        owner: &str,
        session_id: Uuid,
        archived: bool,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET archived = $3, updated_at = $4 \
             WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL",
        )
        .bind(id(session_id))
        .bind(owner)
        .bind(archived)
        .bind(micros(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_session(
        &self,
        owner: &str,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET deleted_at = $3, updated_at = $3 \
             WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL",
        )
        .bind(id(session_id))
        .bind(owner)
        .bind(micros(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_learner_message(&self, new: &NewLearnerMessage) -> Result<Inserted> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET last_seq = last_seq + 1, message_count = message_count + 1, \
             updated_at = $3 WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL \
             RETURNING last_seq",
        )
        .bind(id(new.session_id))
        .bind(&new.owner_id)
        .bind(micros(new.now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else {
            return Ok(Inserted::SessionNotFound);
        };
        let existing = sqlx::query(sql(format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE session_id = $1 AND client_message_id = $2"
        )))
        .bind(id(new.session_id))
        .bind(&new.client_message_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            // Dropping the transaction rolls back the seq we took.
            return Ok(Inserted::Existing(message(&row)?));
        }
        let row = sqlx::query(sql(format!(
            "INSERT INTO messages (id, session_id, seq, role, content, status, call_id, \
             client_message_id, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, 'learner', $4, 'pending', $5, $6, 1, $7, $7) \
             RETURNING {MESSAGE_COLS}"
        )))
        .bind(id(new.id))
        .bind(id(new.session_id))
        .bind(seq)
        .bind(&new.content)
        .bind(&new.call_id)
        .bind(&new.client_message_id)
        .bind(micros(new.now))
        .fetch_one(&mut *tx)
        .await?;
        let stored = message(&row)?;
        tx.commit().await?;
        Ok(Inserted::New(stored))
    }

    async fn claim_retry(&self, claim: &RetryClaim) -> Result<Option<Message>> {
        let row = sqlx::query(sql(format!(
            "UPDATE messages SET status = 'pending', attempts = attempts + 1, call_id = $3, \
             error_reason = NULL, updated_at = $4 \
             WHERE id = $1 AND role = 'learner' AND attempts = $2 \
               AND (status = 'failed' OR (status = 'pending' AND updated_at < $5)) \
             RETURNING {MESSAGE_COLS}"
        )))
        .bind(id(claim.message_id))
        .bind(i64::from(claim.seen_attempts))
        .bind(&claim.call_id)
        .bind(micros(claim.now))
        .bind(micros(claim.stale_before))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(message).transpose()
    }

    async fn reply_to(&self, learner_message_id: Uuid) -> Result<Option<Message>> {
        let row = sqlx::query(sql(format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE reply_to = $1"
        )))
        .bind(id(learner_message_id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(message).transpose()
    }

    async fn history(
        &self,
        owner: &str,
        session_id: Uuid,
        before_seq: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let rows = sqlx::query(sql(format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE session_id = $1 AND {OWNED_LIVE_SESSION} \
             AND seq < $3 AND status = 'completed' ORDER BY seq DESC LIMIT $4"
        )))
        .bind(id(session_id))
        .bind(owner)
        .bind(before_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows.iter().map(message).collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    async fn finish_exchange(
        &self,
        outcome: &ExchangeOutcome,
    ) -> Result<(Message, Option<Message>)> {
        let learner_id = id(outcome.learner_message_id);
        let now = micros(outcome.now);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let learner_row = sqlx::query(
            "SELECT session_id, created_at FROM messages WHERE id = $1 AND role = 'learner'",
        )
        .bind(&learner_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StorageError::Internal("no such learner message".into()))?;
        let session_id: String = learner_row.try_get("session_id")?;
        let learner_created: i64 = learner_row.try_get("created_at")?;

        let tutor = match &outcome.reply {
            None => None,
            Some(reply) => {
                let replaced = sqlx::query(sql(format!(
                    "UPDATE messages SET content = $2, status = $3, input_tokens = $4, \
                     output_tokens = $5, cost_micro_usd = $6, provider = $7, model = $8, \
                     call_id = $9, updated_at = $10 WHERE reply_to = $1 \
                     RETURNING {MESSAGE_COLS}"
                )))
                .bind(&learner_id)
                .bind(&reply.content)
                .bind(reply.status.as_str())
                .bind(to_i64(reply.usage.input_tokens))
                .bind(to_i64(reply.usage.output_tokens))
                .bind(reply.usage.cost_micro_usd)
                .bind(&reply.provider)
                .bind(&reply.model)
                .bind(&reply.call_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let row = match replaced {
                    Some(row) => row,
                    None => {
                        let seq: i64 = sqlx::query_scalar(
                            "UPDATE sessions SET last_seq = last_seq + 1, \
                             message_count = message_count + 1, updated_at = $2 \
                             WHERE id = $1 RETURNING last_seq",
                        )
                        .bind(&session_id)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                        // The reply never sorts before the message it answers.
                        let created = now.max(learner_created.saturating_add(1));
                        sqlx::query(sql(format!(
                            "INSERT INTO messages (id, session_id, seq, role, content, status, \
                             input_tokens, output_tokens, cost_micro_usd, provider, model, \
                             call_id, reply_to, attempts, created_at, updated_at) \
                             VALUES ($1, $2, $3, 'tutor', $4, $5, $6, $7, $8, $9, $10, $11, \
                             $12, 0, $13, $14) RETURNING {MESSAGE_COLS}"
                        )))
                        .bind(id(Uuid::now_v7()))
                        .bind(&session_id)
                        .bind(seq)
                        .bind(&reply.content)
                        .bind(reply.status.as_str())
                        .bind(to_i64(reply.usage.input_tokens))
                        .bind(to_i64(reply.usage.output_tokens))
                        .bind(reply.usage.cost_micro_usd)
                        .bind(&reply.provider)
                        .bind(&reply.model)
                        .bind(&reply.call_id)
                        .bind(&learner_id)
                        .bind(created)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?
                    }
                };
                Some(message(&row)?)
            }
        };
        let learner_row = sqlx::query(sql(format!(
            "UPDATE messages SET status = $2, error_reason = $3, updated_at = $4 \
             WHERE id = $1 RETURNING {MESSAGE_COLS}"
        )))
        .bind(&learner_id)
        .bind(outcome.learner_status.as_str())
        .bind(outcome.error_reason.as_deref())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let learner = message(&learner_row)?;
        tx.commit().await?;
        Ok((learner, tutor))
    }

    async fn list_messages(
        &self,
        owner: &str,
        session_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let rows = sqlx::query(sql(format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE session_id = $1 AND {OWNED_LIVE_SESSION} \
             AND seq > $3 ORDER BY seq LIMIT $4"
        )))
        .bind(id(session_id))
        .bind(owner)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message).collect()
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }
}
