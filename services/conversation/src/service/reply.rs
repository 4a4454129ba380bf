//! Asking the router and storing how the exchange ended: the reply with its
//! usage, or the learner's message kept FAILED (with what arrived, PARTIAL).

use super::tutor::{Exchange, ReplyEvent};
use super::{Conversations, Error};
use crate::clients::router::{CompletionRequest, RouterFailure, StreamEvent};
use crate::domain::model::ExchangeOutcome;
use crate::domain::{Message, MessageStatus, TutorReply, Usage};
use crate::storage::StorageError;
use futures::StreamExt;
use service_kit::{ErrorCode, ServiceError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const RETRY_HINT: &str =
    "your message was saved; send it again with the same client_message_id to retry";

impl Conversations {
    pub(super) async fn ask_unary(
        &self,
        learner: Message,
        request: CompletionRequest,
    ) -> Result<Exchange, Error> {
        let started = Instant::now();
        let call_id = request.call_id.clone();
        match self.inner.router.complete(request).await {
            Ok(c) => {
                let reply = TutorReply {
                    content: c.content,
                    status: MessageStatus::Completed,
                    usage: c.usage,
                    provider: c.provider,
                    model: c.model,
                    call_id,
                };
                let (learner, tutor) = self.finish(&learner, None, Some(reply)).await?;
                let tutor = tutor.ok_or_else(|| {
                    Error::Storage(StorageError::Internal("reply not stored".into()))
                })?;
                self.log_completed(&tutor, "unary", started.elapsed());
                Ok(Exchange { learner, tutor })
            }
            Err(failure) => {
                let error = self
                    .fail(&learner, failure, String::new(), None, "unary", started)
                    .await;
                Err(Error::Router(error.0))
            }
        }
    }

    pub(super) async fn ask_streaming(
        &self,
        learner: Message,
        request: CompletionRequest,
        events: mpsc::Sender<ReplyEvent>,
    ) {
        let started = Instant::now();
        let call_id = request.call_id.clone();
        let mut stream = match self.inner.router.stream(request).await {
            Ok(s) => s,
            Err(failure) => {
                let (error, tutor) = self
                    .fail(&learner, failure, String::new(), None, "stream", started)
                    .await;
                let _ = events.send(ReplyEvent::Failed { error, tutor }).await;
                return;
            }
        };
        let mut text = String::new();
        let (mut provider, mut model) = (String::new(), String::new());
        let ended = loop {
            match stream.next().await {
                Some(StreamEvent::Start {
                    provider: p,
                    model: m,
                }) => (provider, model) = (p, m),
                Some(StreamEvent::Delta(piece)) => {
                    text.push_str(&piece);
                    // The caller may be gone: keep going, the reply is still stored.
                    let _ = events.send(ReplyEvent::Delta(piece)).await;
                }
                Some(StreamEvent::End { usage }) => break Ok(usage),
                Some(StreamEvent::Error(failure)) => break Err(failure),
                None => {
                    break Err(RouterFailure::new(
                        ErrorCode::StreamInterrupted,
                        "the tutor's reply was cut off before it finished",
                    ));
                }
            }
        };
        let reply = |status, usage: Usage, content: String| TutorReply {
            content,
            status,
            usage,
            provider: provider.clone(),
            model: model.clone(),
            call_id: call_id.clone(),
        };
        match ended {
            Ok(usage) => {
                match self
                    .finish(
                        &learner,
                        None,
                        Some(reply(MessageStatus::Completed, usage, text)),
                    )
                    .await
                {
                    Ok((_, Some(tutor))) => {
                        self.log_completed(&tutor, "stream", started.elapsed());
                        let _ = events.send(ReplyEvent::Completed(tutor)).await;
                    }
                    Ok((_, None)) | Err(_) => {
                        let error = ServiceError::internal("the tutor's reply could not be stored");
                        let _ = events.send(ReplyEvent::Failed { error, tutor: None }).await;
                    }
                }
            }
            Err(failure) => {
                let partial = (!text.is_empty())
                    .then(|| reply(MessageStatus::Partial, failure.usage, text.clone()));
                let (error, tutor) = self
                    .fail(&learner, failure, text, partial, "stream", started)
                    .await;
                let _ = events.send(ReplyEvent::Failed { error, tutor }).await;
            }
        }
    }

    /// Stores a failed exchange (the learner's message kept, FAILED; a partial
    /// reply if text arrived) and returns the caller's error.
    async fn fail(
        &self,
        learner: &Message,
        failure: RouterFailure,
        text: String,
        partial: Option<TutorReply>,
        mode: &'static str,
        started: Instant,
    ) -> (ServiceError, Option<Message>) {
        let reason = failure.error.code.reason();
        let stored = self.finish(learner, Some(reason), partial).await;
        let tutor = match stored {
            Ok((_, tutor)) => tutor,
            Err(_) => None,
        };
        let status = if text.is_empty() { "failed" } else { "partial" };
        crate::metrics::exchange(status, mode, Some(started.elapsed()));
        tracing::warn!(
            message_id = %learner.id,
            reason,
            error = %failure.error.message,
            partial_chars = text.chars().count(),
            duration_ms = duration_ms(started.elapsed()),
            "tutor.reply_failed"
        );
        let error = ServiceError::new(
            failure.error.code,
            format!(
                "the tutor could not answer: {}; {RETRY_HINT}",
                failure.error.message
            ),
        );
        (error, tutor)
    }

    async fn finish(
        &self,
        learner: &Message,
        error_reason: Option<&str>,
        reply: Option<TutorReply>,
    ) -> Result<(Message, Option<Message>), Error> {
        let outcome = ExchangeOutcome {
            learner_message_id: learner.id,
            learner_status: if error_reason.is_some() {
                MessageStatus::Failed
            } else {
                MessageStatus::Completed
            },
            error_reason: error_reason.map(str::to_owned),
            reply,
            now: self.now(),
        };
        self.inner
            .store
            .finish_exchange(&outcome)
            .await
            .map_err(|e| {
                tracing::error!(message_id = %learner.id, error = %e, "tutor.store_failed");
                Error::Storage(e)
            })
    }

    fn log_completed(&self, tutor: &Message, mode: &'static str, elapsed: Duration) {
        crate::metrics::exchange("completed", mode, Some(elapsed));
        tracing::info!(
            message_id = %tutor.id,
            provider = %tutor.provider,
            model = %tutor.model,
            input_tokens = tutor.usage.input_tokens,
            output_tokens = tutor.usage.output_tokens,
            cost_micro_usd = tutor.usage.cost_micro_usd,
            duration_ms = duration_ms(elapsed),
            "tutor.reply_completed"
        );
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
