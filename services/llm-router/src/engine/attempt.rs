//! One attempt at one candidate: a single provider call, observed (span,
//! metrics, `router.attempt_failed`) and costed. Retries, circuit breakers
//! and the budget wrap these functions; nothing here retries.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tracing::Instrument;

use super::Engine;
use super::observe;
use llm_providers::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ErrorKind, FrameStream, ProviderError,
    StreamFrame, TokenUsage, estimate_tokens,
};

use crate::pricing::Cost;
use crate::routing::Candidate;

/// A successful unary attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub response: ChatResponse,
    /// The provider's usage (estimated when it reported none).
    pub usage: TokenUsage,
    pub cost: Cost,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct EmbedAttempt {
    pub response: EmbedResponse,
    pub cost: Cost,
    pub duration: Duration,
}

/// A stream that has produced its first content (or finished without any):
/// from here on the call is committed to this candidate.
pub struct OpenedStream {
    pub candidate: Candidate,
    /// Frames read up to and including the first content or terminal frame.
    pub head: Vec<StreamFrame>,
    /// The rest of the provider's frames.
    pub rest: FrameStream,
    /// The attempt's span; frames of `rest` are read inside it.
    pub span: tracing::Span,
    pub started: Instant,
}

/// Usage for billing: the provider's report, or an estimate (four
/// characters a token) for whichever side it did not report.
pub fn fill_usage(reported: TokenUsage, prompt_chars: usize, output_chars: usize) -> TokenUsage {
    TokenUsage {
        input_tokens: if reported.input_tokens == 0 {
            estimate_tokens(prompt_chars)
        } else {
            reported.input_tokens
        },
        output_tokens: if reported.output_tokens == 0 {
            estimate_tokens(output_chars)
        } else {
            reported.output_tokens
        },
    }
}

fn not_connected(candidate: &Candidate) -> ProviderError {
    ProviderError::new(
        ErrorKind::Connect,
        format!("provider {} is not connected", candidate.provider),
    )
}

impl Engine {
    /// One unary chat call to `candidate`.
    pub async fn attempt_candidate(
        &self,
        candidate: &Candidate,
        request: &ChatRequest,
    ) -> Result<Attempt, ProviderError> {
        let provider = self
            .provider(candidate)
            .ok_or_else(|| not_connected(candidate))?;
        let span = observe::attempt_span(provider.system(), candidate, "chat");
        let started = Instant::now();
        let result = provider
            .complete(&candidate.model, request)
            .instrument(span.clone())
            .await;
        let duration = started.elapsed();
        match result {
            Ok(response) => {
                let usage = fill_usage(
                    response.usage,
                    request.prompt_chars(),
                    response.content.chars().count(),
                );
                let cost = self.cost(candidate, usage);
                observe::attempt_succeeded(&span, candidate, usage, &cost, duration);
                observe::finish_reason(&span, response.finish_reason);
                Ok(Attempt {
                    response,
                    usage,
                    cost,
                    duration,
                })
            }
            Err(e) => {
                observe::attempt_failed(&span, candidate, &e, duration);
                Err(e)
            }
        }
    }

    /// Opens a stream on `candidate` and reads it until its first content
    /// (or its end). Everything that fails before that is this attempt's
    /// error, so the caller may still fall over to the next candidate.
    pub async fn attempt_stream_candidate(
        &self,
        candidate: &Candidate,
        request: &ChatRequest,
    ) -> Result<OpenedStream, ProviderError> {
        let provider = self
            .provider(candidate)
            .ok_or_else(|| not_connected(candidate))?;
        let span = observe::attempt_span(provider.system(), candidate, "chat");
        let started = Instant::now();
        let opened = async {
            let mut rest = provider.stream(&candidate.model, request).await?;
            let mut head = Vec::new();
            loop {
                match rest.next().await {
                    None => {
                        return Err(ProviderError::stream_cut(
                            "stream ended before its first frame",
                        ));
                    }
                    Some(StreamFrame::Error(e)) => return Err(e),
                    Some(frame) => {
                        let first = frame.is_content() || frame.is_terminal();
                        head.push(frame);
                        if first {
                            return Ok((head, rest));
                        }
                    }
                }
            }
        }
        .instrument(span.clone())
        .await;
        match opened {
            Ok((head, rest)) => {
                observe::time_to_first_token(candidate, started.elapsed());
                Ok(OpenedStream {
                    candidate: candidate.clone(),
                    head,
                    rest,
                    span,
                    started,
                })
            }
            Err(e) => {
                observe::attempt_failed(&span, candidate, &e, started.elapsed());
                Err(e)
            }
        }
    }

    /// One embeddings call to `candidate`.
    pub async fn attempt_embed_candidate(
        &self,
        candidate: &Candidate,
        request: &EmbedRequest,
    ) -> Result<EmbedAttempt, ProviderError> {
        let provider = self
            .provider(candidate)
            .ok_or_else(|| not_connected(candidate))?;
        let span = observe::attempt_span(provider.system(), candidate, "embeddings");
        let started = Instant::now();
        let result = provider
            .embed(&candidate.model, request)
            .instrument(span.clone())
            .await;
        let duration = started.elapsed();
        match result {
            Ok(mut response) => {
                if response.usage.input_tokens == 0 {
                    let chars = request.inputs.iter().map(|s| s.chars().count()).sum();
                    response.usage.input_tokens = estimate_tokens(chars);
                }
                let cost = self.cost(candidate, response.usage);
                observe::attempt_succeeded(&span, candidate, response.usage, &cost, duration);
                Ok(EmbedAttempt {
                    response,
                    cost,
                    duration,
                })
            }
            Err(e) => {
                observe::attempt_failed(&span, candidate, &e, duration);
                Err(e)
            }
        }
    }
}
