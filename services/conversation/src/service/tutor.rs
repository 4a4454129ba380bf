//! The tutor's exchanges: store the learner's message, ask the router, store
//! the reply with its usage.
//!
//! Each exchange runs in its own tracked task, so a caller that hangs up (or
//! a dropped stream) never leaves it half-stored: the reply is finished and
//! stored, and the next `ListMessages` shows it.
//!
//! Retries: a `client_message_id` already in the session never makes a second
//! exchange. COMPLETED: the stored exchange is returned and the router is not
//! called. PENDING: ABORTED-style conflict ("still being answered") unless the
//! attempt is older than `PENDING_TIMEOUT_MS` (its process died), which a
//! retry takes over. FAILED: a retry asks the tutor again (a new attempt, with
//! its own router call id, whose reply replaces any partial one).

use super::{Conversations, Error};
use crate::clients::router::CompletionRequest;
use crate::domain::model::NewLearnerMessage;
use crate::domain::prompt::{self, LearnerContext};
use crate::domain::{Message, MessageStatus, validate};
use crate::storage::{Inserted, RetryClaim};
use service_kit::{RequestContext, ServiceError};
use std::future::Future;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

/// A piece of a streamed exchange after the learner's message was accepted.
#[derive(Debug, Clone)]
pub enum ReplyEvent {
    Delta(String),
    /// Terminal: the stored reply.
    Completed(Message),
    /// Terminal: why the reply failed, and the partial reply as stored.
    Failed {
        error: ServiceError,
        tutor: Option<Message>,
    },
}

/// A streamed exchange: the learner's message as stored, then the events.
pub struct StreamStarted {
    pub learner: Message,
    pub events: mpsc::Receiver<ReplyEvent>,
}

/// A unary exchange's result.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub learner: Message,
    pub tutor: Message,
}

/// What to do with an accepted message.
enum Accepted {
    /// Answered before: return the stored exchange.
    Replay { learner: Message, tutor: Message },
    /// Ask the tutor.
    Ask {
        learner: Message,
        request: CompletionRequest,
    },
}

/// The router call id of an attempt: deterministic, so the router's
/// budget reservation and usage record are idempotent; a new attempt after a
/// failure gets its own id (the failed one may have billed partial usage).
pub fn router_call_id(learner_message: Uuid, attempt: u32) -> String {
    if attempt <= 1 {
        format!("conv-{learner_message}")
    } else {
        format!("conv-{learner_message}-{attempt}")
    }
}

/// Runs `fut` with the caller's request context (call id, subject) and span,
/// so the router call made inside a spawned task still carries them.
fn in_context<F: Future + Send + 'static>(
    fut: F,
) -> impl Future<Output = F::Output> + Send + 'static
where
    F::Output: Send,
{
    let ctx = RequestContext::current();
    let span = tracing::Span::current();
    async move {
        match ctx {
            Some(ctx) => ctx.scope(fut).await,
            None => fut.await,
        }
    }
    .instrument(span)
}

impl Conversations {
    /// `SendMessage`: the learner's message and the tutor's whole reply.
    pub async fn send_message(
        &self,
        subject: &str,
        session_id: &str,
        content: &str,
        client_message_id: &str,
    ) -> Result<Exchange, Error> {
        self.check_ready()?;
        let this = self.clone();
        let (subject, session_id, content, client_id) = (
            subject.to_owned(),
            session_id.to_owned(),
            content.to_owned(),
            client_message_id.to_owned(),
        );
        let task = self.inner.tasks.spawn(in_context(async move {
            match this
                .accept(&subject, &session_id, &content, &client_id)
                .await?
            {
                Accepted::Replay { learner, tutor } => {
                    crate::metrics::exchange("replayed", "unary", None);
                    tracing::info!(message_id = %learner.id, "tutor.replayed");
                    Ok(Exchange { learner, tutor })
                }
                Accepted::Ask { learner, request } => this.ask_unary(learner, request).await,
            }
        }));
        task.await
            .map_err(|e| Error::Storage(crate::storage::StorageError::Internal(e.to_string())))?
    }

    /// `StreamMessage`: the learner's message as accepted, then the reply's events.
    pub async fn stream_message(
        &self,
        subject: &str,
        session_id: &str,
        content: &str,
        client_message_id: &str,
    ) -> Result<StreamStarted, Error> {
        self.check_ready()?;
        let this = self.clone();
        let (subject, session_id, content, client_id) = (
            subject.to_owned(),
            session_id.to_owned(),
            content.to_owned(),
            client_message_id.to_owned(),
        );
        let (accepted_tx, accepted_rx) = oneshot::channel();
        let (events_tx, events) = mpsc::channel(64);
        self.inner.tasks.spawn(in_context(async move {
            match this
                .accept(&subject, &session_id, &content, &client_id)
                .await
            {
                Err(e) => {
                    let _ = accepted_tx.send(Err(e));
                }
                Ok(Accepted::Replay { learner, tutor }) => {
                    crate::metrics::exchange("replayed", "stream", None);
                    tracing::info!(message_id = %learner.id, "tutor.replayed");
                    let _ = accepted_tx.send(Ok(learner));
                    if !tutor.content.is_empty() {
                        let _ = events_tx
                            .send(ReplyEvent::Delta(tutor.content.clone()))
                            .await;
                    }
                    let _ = events_tx.send(ReplyEvent::Completed(tutor)).await;
                }
                Ok(Accepted::Ask { learner, request }) => {
                    let _ = accepted_tx.send(Ok(learner.clone()));
                    this.ask_streaming(learner, request, events_tx).await;
                }
            }
        }));
        let learner = accepted_rx.await.map_err(|_| {
            Error::Storage(crate::storage::StorageError::Internal(
                "the exchange task ended early".into(),
            ))
        })??;
        Ok(StreamStarted { learner, events })
    }

    /// Validates and stores the learner's message, or finds the earlier one.
    async fn accept(
        &self,
        subject: &str,
        session_id: &str,
        content: &str,
        client_message_id: &str,
    ) -> Result<Accepted, Error> {
        let session_id = super::sessions::parse_session_id(session_id)?;
        validate::content(content)?;
        let client_id = if client_message_id.is_empty() {
            Uuid::new_v4().to_string()
        } else {
            validate::client_message_id(client_message_id)?;
            client_message_id.to_owned()
        };
        let session = self.owned_session(subject, session_id).await?;
        let scenario = self
            .inner
            .scenarios
            .get(&session.scenario_id)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "this session's scenario {:?} is no longer offered; start a new session",
                    session.scenario_id
                ))
            })?
            .clone();
        let now = self.now();
        let id = Uuid::now_v7();
        let new = NewLearnerMessage {
            id,
            owner_id: subject.to_owned(),
            session_id,
            content: content.to_owned(),
            client_message_id: client_id.clone(),
            call_id: router_call_id(id, 1),
            now,
        };
        let learner = match self.inner.store.insert_learner_message(&new).await? {
            Inserted::SessionNotFound => {
                return Err(Error::NotFound(format!("session {session_id} not found")));
            }
            Inserted::New(m) => m,
            Inserted::Existing(m) => match self.existing(m, content, &client_id).await? {
                Ok(replay) => return Ok(replay),
                Err(claimed) => claimed,
            },
        };
        let profile = self.inner.store.ensure_learner(subject, now).await?;
        let history = self
            .inner
            .store
            .history(
                subject,
                session_id,
                learner.seq,
                prompt::max_history_messages(self.inner.tutor.history_token_budget),
            )
            .await?;
        let built = prompt::build(
            &scenario,
            session.level,
            &LearnerContext {
                display_name: profile.display_name,
                native_language: profile.native_language,
            },
            &history,
            &learner.content,
            self.inner.tutor.history_token_budget,
        );
        tracing::debug!(
            message_id = %learner.id,
            history_kept = built.history_kept,
            history_tokens = built.history_tokens,
            "tutor.prompt_built"
        );
        let request = CompletionRequest {
            call_id: learner.call_id.clone(),
            tier: self.inner.tutor.tier,
            model: self.inner.tutor.model.clone(),
            max_tokens: self.inner.tutor.max_tokens,
            messages: built.messages,
            user_id: subject.to_owned(),
            session_id: session_id.to_string(),
        };
        Ok(Accepted::Ask { learner, request })
    }

    /// A retry of a message already stored: `Ok` answers it from storage,
    /// `Err(message)` is the message claimed for a new attempt.
    async fn existing(
        &self,
        m: Message,
        content: &str,
        client_id: &str,
    ) -> Result<Result<Accepted, Message>, Error> {
        if m.content != content {
            return Err(Error::Conflict(format!(
                "client_message_id {client_id:?} was already used for a different message \
                 in this session"
            )));
        }
        let now = self.now();
        let stale_before = now
            - chrono::TimeDelta::from_std(self.inner.tutor.pending_timeout)
                .unwrap_or(chrono::TimeDelta::MAX);
        match m.status {
            MessageStatus::Completed => {
                let tutor = self.inner.store.reply_to(m.id).await?.ok_or_else(|| {
                    Error::Storage(crate::storage::StorageError::Internal(format!(
                        "message {} is completed but has no reply",
                        m.id
                    )))
                })?;
                Ok(Ok(Accepted::Replay { learner: m, tutor }))
            }
            MessageStatus::Pending if m.updated_at >= stale_before => Err(in_progress(client_id)),
            MessageStatus::Pending | MessageStatus::Failed | MessageStatus::Partial => {
                let claim = RetryClaim {
                    message_id: m.id,
                    seen_attempts: m.attempts,
                    call_id: router_call_id(m.id, m.attempts + 1),
                    stale_before,
                    now,
                };
                match self.inner.store.claim_retry(&claim).await? {
                    Some(claimed) => {
                        tracing::info!(
                            message_id = %claimed.id,
                            attempt = claimed.attempts,
                            "tutor.retrying"
                        );
                        Ok(Err(claimed))
                    }
                    None => Err(in_progress(client_id)),
                }
            }
        }
    }
}

fn in_progress(client_id: &str) -> Error {
    Error::InProgress(format!(
        "message {client_id:?} is still being answered; retry later or read it with ListMessages"
    ))
}
