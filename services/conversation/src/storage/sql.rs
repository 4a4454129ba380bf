//! The store's SQL and row mapping, written once for both backends; the
//! column types that differ go through [`Codec`].

use super::codec::Codec;
use super::{
    Inserted, PoolStats, Result, RetryClaim, SessionCursor, StorageError, Store, corrupt, to_i64,
    to_u32, to_u64,
};
use crate::domain::model::{ExchangeOutcome, NewLearnerMessage, NewSession};
use crate::domain::{Learner, Message, ProfileUpdate, Session, Usage};
use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use sqlx::migrate::MigrateError;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};
use uuid::Uuid;

const LEARNER_COLS: &str = "id, display_name, level, native_language, created_at, updated_at";
const SESSION_COLS: &str =
    "id, owner_id, scenario_id, level, title, archived, message_count, created_at, updated_at";
const MESSAGE_COLS: &str = "id, session_id, seq, role, content, status, input_tokens, \
     output_tokens, cost_micro_usd, provider, model, call_id, client_message_id, reply_to, \
     attempts, error_reason, created_at, updated_at";

/// Sessions this owner can see: used to guard every message read.
const OWNED_LIVE_SESSION: &str = "EXISTS (SELECT 1 FROM sessions s \
     WHERE s.id = messages.session_id AND s.owner_id = $2 AND s.deleted_at IS NULL)";

/// Brings a backend's schema up to date (each backend records its
/// migrations its own way: see `pg_migrations.rs`).
pub(super) type Migrate<DB> = fn(&Pool<DB>) -> BoxFuture<'_, std::result::Result<(), MigrateError>>;

pub struct SqlStore<DB: sqlx::Database> {
    pool: Pool<DB>,
    migrate: Migrate<DB>,
}

impl<DB: sqlx::Database> SqlStore<DB> {
    pub(super) fn new(pool: Pool<DB>, migrate: Migrate<DB>) -> Self {
        Self { pool, migrate }
    }
}

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    // Every dynamic string here is built from the constants above, never from input.
    sqlx::AssertSqlSafe(text)
}

fn time<DB: Codec>(v: DB::Time, col: &str) -> Result<DateTime<Utc>> {
    DB::read_time(v).ok_or_else(|| corrupt(format!("{col} is not a time")))
}

fn id<DB: Codec>(v: DB::Id, col: &str) -> Result<Uuid> {
    DB::read_id(v).ok_or_else(|| corrupt(format!("{col} is not a UUID")))
}

fn count<DB: Codec>(v: DB::Count) -> u32 {
    to_u32(v.into())
}

// The column types both backends share (the ones that differ are the
// Codec's). Rust does not carry a trait's where-clauses to its users, so the
// list is spelled out on the two impls below rather than on one trait.
impl<DB: Codec> SqlStore<DB>
where
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'r> Option<DB::Id>: Decode<'r, DB>,
{
    fn learner(row: &DB::Row) -> Result<Learner> {
        let level: Option<String> = row.try_get("level")?;
        Ok(Learner {
            id: row.try_get("id")?,
            display_name: row.try_get("display_name")?,
            level: level.map(|l| l.parse()).transpose().map_err(corrupt)?,
            native_language: row.try_get("native_language")?,
            created_at: time::<DB>(row.try_get("created_at")?, "created_at")?,
            updated_at: time::<DB>(row.try_get("updated_at")?, "updated_at")?,
        })
    }

    fn session(row: &DB::Row) -> Result<Session> {
        let level: String = row.try_get("level")?;
        Ok(Session {
            id: id::<DB>(row.try_get("id")?, "id")?,
            owner_id: row.try_get("owner_id")?,
            scenario_id: row.try_get("scenario_id")?,
            level: level.parse().map_err(corrupt)?,
            title: row.try_get("title")?,
            archived: row.try_get("archived")?,
            message_count: count::<DB>(row.try_get("message_count")?),
            created_at: time::<DB>(row.try_get("created_at")?, "created_at")?,
            updated_at: time::<DB>(row.try_get("updated_at")?, "updated_at")?,
        })
    }

    fn message(row: &DB::Row) -> Result<Message> {
        let role: String = row.try_get("role")?;
        let status: String = row.try_get("status")?;
        let reply_to: Option<DB::Id> = row.try_get("reply_to")?;
        Ok(Message {
            id: id::<DB>(row.try_get("id")?, "id")?,
            session_id: id::<DB>(row.try_get("session_id")?, "session_id")?,
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
            reply_to: reply_to.map(|r| id::<DB>(r, "reply_to")).transpose()?,
            attempts: count::<DB>(row.try_get("attempts")?),
            error_reason: row.try_get("error_reason")?,
            created_at: time::<DB>(row.try_get("created_at")?, "created_at")?,
            updated_at: time::<DB>(row.try_get("updated_at")?, "updated_at")?,
        })
    }
}

#[async_trait::async_trait]
impl<DB: Codec> Store for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB> + ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'a> Option<&'a str>: Encode<'a, DB>,
    for<'a> String: Encode<'a, DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB>,
    for<'a, 'r> i64: Encode<'a, DB> + Decode<'r, DB> + Type<DB>,
    for<'a, 'r> bool: Encode<'a, DB> + Decode<'r, DB> + Type<DB>,
    for<'r> Option<DB::Id>: Decode<'r, DB>,
{
    async fn migrate(&self) -> Result<()> {
        (self.migrate)(&self.pool).await?;
        Ok(())
    }

    async fn ensure_learner(&self, id: &str, now: DateTime<Utc>) -> Result<Learner> {
        let select = || sql(format!("SELECT {LEARNER_COLS} FROM learners WHERE id = $1"));
        if let Some(row) = sqlx::query(select())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            return Self::learner(&row);
        }
        sqlx::query(
            "INSERT INTO learners (id, created_at, updated_at) VALUES ($1, $2, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(DB::time(now))
        .execute(&self.pool)
        .await?;
        Self::learner(&sqlx::query(select()).bind(id).fetch_one(&self.pool).await?)
    }

    async fn update_learner(
        &self,
        id: &str,
        update: &ProfileUpdate,
        now: DateTime<Utc>,
    ) -> Result<Learner> {
        let q = sql(format!(
            "INSERT INTO learners (id, display_name, level, native_language, created_at, updated_at) \
             VALUES ($1, COALESCE($2, ''), $3, COALESCE($4, ''), $5, $5) \
             ON CONFLICT (id) DO UPDATE SET \
               display_name = COALESCE($2, learners.display_name), \
               level = COALESCE($3, learners.level), \
               native_language = COALESCE($4, learners.native_language), \
               updated_at = $5 \
             RETURNING {LEARNER_COLS}"
        ));
        let row = sqlx::query(q)
            .bind(id)
            .bind(update.display_name.as_deref())
            .bind(update.level.map(|l| l.as_str()))
            .bind(update.native_language.as_deref())
            .bind(DB::time(now))
            .fetch_one(&self.pool)
            .await?;
        Self::learner(&row)
    }

    async fn create_session(&self, new: &NewSession) -> Result<Session> {
        let q = sql(format!(
            "INSERT INTO sessions (id, owner_id, scenario_id, level, title, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {SESSION_COLS}"
        ));
        let row = sqlx::query(q)
            .bind(DB::id(new.id))
            .bind(&new.owner_id)
            .bind(&new.scenario_id)
            .bind(new.level.as_str())
            .bind(&new.title)
            .bind(DB::time(new.now))
            .fetch_one(&self.pool)
            .await?;
        Self::session(&row)
    }

    async fn get_session(&self, owner: &str, id: Uuid) -> Result<Option<Session>> {
        let q = sql(format!(
            "SELECT {SESSION_COLS} FROM sessions \
             WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL"
        ));
        let row = sqlx::query(q)
            .bind(DB::id(id))
            .bind(owner)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::session).transpose()
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
                .bind(DB::time(c.created_at))
                .bind(DB::id(c.id))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(Self::session).collect()
    }

    async fn set_archived(
        &self,
        owner: &str,
        id: Uuid,
        archived: bool,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET archived = $3, updated_at = $4 \
             WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL",
        )
        .bind(DB::id(id))
        .bind(owner)
        .bind(archived)
        .bind(DB::time(now))
        .execute(&self.pool)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn delete_session(&self, owner: &str, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET deleted_at = $3, updated_at = $3 \
             WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL",
        )
        .bind(DB::id(id))
        .bind(owner)
        .bind(DB::time(now))
        .execute(&self.pool)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn insert_learner_message(&self, new: &NewLearnerMessage) -> Result<Inserted> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        // Lock the session row first: seqs are then handed out in commit order,
        // and a concurrent send with the same client id waits and sees ours.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET last_seq = last_seq + 1, message_count = message_count + 1, \
             updated_at = $3 WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL \
             RETURNING last_seq",
        )
        .bind(DB::id(new.session_id))
        .bind(&new.owner_id)
        .bind(DB::time(new.now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else {
            return Ok(Inserted::SessionNotFound);
        };
        let existing = sqlx::query(sql(format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE session_id = $1 AND client_message_id = $2"
        )))
        .bind(DB::id(new.session_id))
        .bind(&new.client_message_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            // Dropping the transaction rolls back the seq we took.
            return Ok(Inserted::Existing(Self::message(&row)?));
        }
        let row = sqlx::query(sql(format!(
            "INSERT INTO messages (id, session_id, seq, role, content, status, call_id, \
             client_message_id, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, 'learner', $4, 'pending', $5, $6, 1, $7, $7) \
             RETURNING {MESSAGE_COLS}"
        )))
        .bind(DB::id(new.id))
        .bind(DB::id(new.session_id))
        .bind(seq)
        .bind(&new.content)
        .bind(&new.call_id)
        .bind(&new.client_message_id)
        .bind(DB::time(new.now))
        .fetch_one(&mut *tx)
        .await?;
        let stored = Self::message(&row)?;
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
        .bind(DB::id(claim.message_id))
        .bind(DB::count(claim.seen_attempts))
        .bind(&claim.call_id)
        .bind(DB::time(claim.now))
        .bind(DB::time(claim.stale_before))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::message).transpose()
    }

    async fn reply_to(&self, learner_message_id: Uuid) -> Result<Option<Message>> {
        let row = sqlx::query(sql(format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE reply_to = $1"
        )))
        .bind(DB::id(learner_message_id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::message).transpose()
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
        .bind(DB::id(session_id))
        .bind(owner)
        .bind(before_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows.iter().map(Self::message).collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    async fn finish_exchange(
        &self,
        outcome: &ExchangeOutcome,
    ) -> Result<(Message, Option<Message>)> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let learner_row = sqlx::query(
            "SELECT session_id, created_at FROM messages WHERE id = $1 AND role = 'learner'",
        )
        .bind(DB::id(outcome.learner_message_id))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StorageError::Internal("no such learner message".into()))?;
        let session_id = id::<DB>(learner_row.try_get("session_id")?, "session_id")?;
        let learner_created = time::<DB>(learner_row.try_get("created_at")?, "created_at")?;

        let tutor = match &outcome.reply {
            None => None,
            Some(reply) => {
                let replaced = sqlx::query(sql(format!(
                    "UPDATE messages SET content = $2, status = $3, input_tokens = $4, \
                     output_tokens = $5, cost_micro_usd = $6, provider = $7, model = $8, \
                     call_id = $9, updated_at = $10 WHERE reply_to = $1 \
                     RETURNING {MESSAGE_COLS}"
                )))
                .bind(DB::id(outcome.learner_message_id))
                .bind(&reply.content)
                .bind(reply.status.as_str())
                .bind(to_i64(reply.usage.input_tokens))
                .bind(to_i64(reply.usage.output_tokens))
                .bind(reply.usage.cost_micro_usd)
                .bind(&reply.provider)
                .bind(&reply.model)
                .bind(&reply.call_id)
                .bind(DB::time(outcome.now))
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
                        .bind(DB::id(session_id))
                        .bind(DB::time(outcome.now))
                        .fetch_one(&mut *tx)
                        .await?;
                        // The reply never sorts before the message it answers.
                        let created = outcome
                            .now
                            .max(learner_created + TimeDelta::microseconds(1));
                        sqlx::query(sql(format!(
                            "INSERT INTO messages (id, session_id, seq, role, content, status, \
                             input_tokens, output_tokens, cost_micro_usd, provider, model, \
                             call_id, reply_to, attempts, created_at, updated_at) \
                             VALUES ($1, $2, $3, 'tutor', $4, $5, $6, $7, $8, $9, $10, $11, \
                             $12, 0, $13, $14) RETURNING {MESSAGE_COLS}"
                        )))
                        .bind(DB::id(Uuid::now_v7()))
                        .bind(DB::id(session_id))
                        .bind(seq)
                        .bind(&reply.content)
                        .bind(reply.status.as_str())
                        .bind(to_i64(reply.usage.input_tokens))
                        .bind(to_i64(reply.usage.output_tokens))
                        .bind(reply.usage.cost_micro_usd)
                        .bind(&reply.provider)
                        .bind(&reply.model)
                        .bind(&reply.call_id)
                        .bind(DB::id(outcome.learner_message_id))
                        .bind(DB::time(created))
                        .bind(DB::time(outcome.now))
                        .fetch_one(&mut *tx)
                        .await?
                    }
                };
                Some(Self::message(&row)?)
            }
        };
        let learner_row = sqlx::query(sql(format!(
            "UPDATE messages SET status = $2, error_reason = $3, updated_at = $4 \
             WHERE id = $1 RETURNING {MESSAGE_COLS}"
        )))
        .bind(DB::id(outcome.learner_message_id))
        .bind(outcome.learner_status.as_str())
        .bind(outcome.error_reason.as_deref())
        .bind(DB::time(outcome.now))
        .fetch_one(&mut *tx)
        .await?;
        let learner = Self::message(&learner_row)?;
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
        .bind(DB::id(session_id))
        .bind(owner)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::message).collect()
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats::of(&self.pool)
    }
}
