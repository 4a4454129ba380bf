//! Where learners, sessions and messages live: one [`Store`] trait, a
//! PostgreSQL implementation (production) and an embedded SQLite one (the
//! default without `DATABASE_URL`), both run through one conformance suite.
//!
//! Every read of a session or its messages takes the owner, so a learner's
//! query can never reach another learner's rows; soft-deleted sessions (and
//! with them their messages) are invisible to every read.

mod codec;
mod pg_migrations;
mod postgres;
mod sql;
mod sqlite;

pub use postgres::PostgresStore;
pub use service_kit::database::{PoolStats, StorageError};
pub use sql::SqlStore;
pub use sqlite::SqliteStore;

use crate::domain::model::{ExchangeOutcome, NewLearnerMessage, NewSession};
use crate::domain::{Learner, Message, ProfileUpdate, Session};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

pub type Result<T> = std::result::Result<T, StorageError>;

/// Position in the newest-first session list: the last session returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// The result of storing a learner message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored now (status PENDING, attempt 1).
    New(Message),
    /// A message with the same client_message_id was already in the session.
    Existing(Message),
    /// No such session for this owner (or it was deleted).
    SessionNotFound,
}

/// A retry of a failed (or abandoned) learner message.
#[derive(Debug, Clone)]
pub struct RetryClaim {
    pub message_id: Uuid,
    /// The attempts count the caller saw; the claim fails if another caller moved it.
    pub seen_attempts: u32,
    pub call_id: String,
    /// A PENDING message last touched before this is abandoned (its process died).
    pub stale_before: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations (idempotent).
    async fn migrate(&self) -> Result<()>;

    /// The learner, created with empty fields on first use.
    async fn ensure_learner(&self, id: &str, now: DateTime<Utc>) -> Result<Learner>;

    /// Applies `update` (creating the learner first if needed).
    async fn update_learner(
        &self,
        id: &str,
        update: &ProfileUpdate,
        now: DateTime<Utc>,
    ) -> Result<Learner>;

    /// Stores a new session; its owner must exist ([`Store::ensure_learner`]).
    async fn create_session(&self, new: &NewSession) -> Result<Session>;

    async fn get_session(&self, owner: &str, id: Uuid) -> Result<Option<Session>>;

    /// The owner's sessions, newest first, strictly after `after`.
    async fn list_sessions(
        &self,
        owner: &str,
        include_archived: bool,
        after: Option<SessionCursor>,
        limit: u32,
    ) -> Result<Vec<Session>>;

    /// Archives or unarchives; false when there is no such session.
    async fn set_archived(
        &self,
        owner: &str,
        id: Uuid,
        archived: bool,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Soft delete; false when there is no such session (or it is already deleted).
    async fn delete_session(&self, owner: &str, id: Uuid, now: DateTime<Utc>) -> Result<bool>;

    /// Stores a learner message, unless the session already has one with the
    /// same client_message_id (then that one is returned, untouched).
    async fn insert_learner_message(&self, new: &NewLearnerMessage) -> Result<Inserted>;

    /// Moves a FAILED (or stale PENDING) learner message back to PENDING for a
    /// new attempt; `None` when it is not retryable or another caller won.
    async fn claim_retry(&self, claim: &RetryClaim) -> Result<Option<Message>>;

    /// The tutor's reply to a learner message, if one is stored.
    async fn reply_to(&self, learner_message_id: Uuid) -> Result<Option<Message>>;

    /// Up to `limit` of the most recent COMPLETED messages before `before_seq`,
    /// oldest first.
    async fn history(
        &self,
        owner: &str,
        session_id: Uuid,
        before_seq: i64,
        limit: u32,
    ) -> Result<Vec<Message>>;

    /// Records how an exchange ended: the learner message's status and the
    /// tutor's reply (inserted, or replacing an earlier attempt's partial one).
    /// Returns the learner message and the tutor message as stored.
    async fn finish_exchange(
        &self,
        outcome: &ExchangeOutcome,
    ) -> Result<(Message, Option<Message>)>;

    /// The session's messages with `seq > after_seq`, oldest first.
    async fn list_messages(
        &self,
        owner: &str,
        session_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Message>>;

    fn pool_stats(&self) -> PoolStats;
}

pub type DynStore = Arc<dyn Store>;

/// Saturating conversions between the domain's unsigned counters and SQL's BIGINT.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StorageError {
    StorageError::Internal(format!("unreadable row: {what}"))
}
