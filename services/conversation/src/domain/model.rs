//! The records the conversation service keeps.

use super::CefrLevel;
use chrono::{DateTime, Utc};
use std::str::FromStr;
use uuid::Uuid;

/// A learner, identified by the gateway's authenticated subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learner {
    pub id: String,
    pub display_name: String,
    /// The learner's usual level; new sessions default to it.
    pub level: Option<CefrLevel>,
    /// BCP 47 tag, e.g. "ja"; empty when unknown.
    pub native_language: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A profile change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub display_name: Option<String>,
    pub level: Option<CefrLevel>,
    pub native_language: Option<String>,
}

/// A practice session with the tutor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub owner_id: String,
    pub scenario_id: String,
    pub level: CefrLevel,
    pub title: String,
    pub archived: bool,
    /// Visible messages, learner and tutor.
    pub message_count: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a new session is made of (the id and timestamps come from the store's caller).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub owner_id: String,
    pub scenario_id: String,
    pub level: CefrLevel,
    pub title: String,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageRole {
    Learner,
    Tutor,
}

impl MessageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Learner => "learner",
            Self::Tutor => "tutor",
        }
    }
}

impl FromStr for MessageRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "learner" => Ok(Self::Learner),
            "tutor" => Ok(Self::Tutor),
            other => Err(format!("unknown message role {other:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Learner: answered. Tutor: the whole reply.
    Completed,
    /// Learner: the tutor is answering.
    Pending,
    /// Learner: the tutor could not answer (the message is kept and may be retried).
    Failed,
    /// Tutor: the reply was cut; the content is what arrived.
    Partial,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::Partial => "partial",
        }
    }
}

impl FromStr for MessageStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "completed" => Ok(Self::Completed),
            "pending" => Ok(Self::Pending),
            "failed" => Ok(Self::Failed),
            "partial" => Ok(Self::Partial),
            other => Err(format!("unknown message status {other:?}")),
        }
    }
}

/// Tokens and cost of one tutor reply. Money is integer micro-USD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micro_usd: i64,
}

/// One message of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Uuid,
    pub session_id: Uuid,
    /// Position in the session (1, 2, …), allocated in commit order: the
    /// stable cursor of `ListMessages`.
    pub seq: i64,
    pub role: MessageRole,
    pub content: String,
    pub status: MessageStatus,
    pub usage: Usage,
    pub provider: String,
    pub model: String,
    /// The router call id of a tutor reply (or of the learner message's latest attempt).
    pub call_id: String,
    /// Learner messages: the client's idempotency key.
    pub client_message_id: Option<String>,
    /// Tutor messages: the learner message they answer.
    pub reply_to: Option<Uuid>,
    /// Learner messages: how many times the tutor was asked (retries of a failure included).
    pub attempts: u32,
    /// Why the latest attempt failed (a closed snake_case vocabulary), if it did.
    pub error_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A learner message to store (status PENDING, attempt 1).
#[derive(Debug, Clone)]
pub struct NewLearnerMessage {
    pub id: Uuid,
    pub owner_id: String,
    pub session_id: Uuid,
    pub content: String,
    pub client_message_id: String,
    pub call_id: String,
    pub now: DateTime<Utc>,
}

/// The tutor's reply as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TutorReply {
    pub content: String,
    /// `Completed` or `Partial`.
    pub status: MessageStatus,
    pub usage: Usage,
    pub provider: String,
    pub model: String,
    pub call_id: String,
}

/// How an exchange ended, as stored by [`crate::storage::Store::finish_exchange`].
#[derive(Debug, Clone)]
pub struct ExchangeOutcome {
    pub learner_message_id: Uuid,
    /// `Completed` or `Failed`.
    pub learner_status: MessageStatus,
    pub error_reason: Option<String>,
    /// The tutor's reply (complete or partial), if any text arrived.
    pub reply: Option<TutorReply>,
    pub now: DateTime<Utc>,
}
