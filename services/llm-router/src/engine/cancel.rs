//! The calls in flight, which shutdown ends once the grace period is over:
//! each is cancelled like a call whose caller went away (its partial usage
//! recorded and settled by its guard), and its caller gets a terminal error
//! (`UNAVAILABLE`, retryable; a stream's last frame says so) instead of a
//! connection reset. Shutdown then waits for them before the last settles
//! and the usage flush.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::request::EngineError;
use super::stream::{EngineFrame, EngineStream, StreamFailure};
use crate::pricing::Cost;
use llm_providers::TokenUsage;

#[derive(Default)]
pub(super) struct InFlightCalls {
    cancel: CancellationToken,
    /// One token per call (held by its guard) and per open stream.
    calls: TaskTracker,
}

impl InFlightCalls {
    /// Counts a call in flight until the token is dropped.
    pub(super) fn token(&self) -> TaskTrackerToken {
        self.calls.token()
    }

    /// Runs a call unless shutdown cancels it first (then the call's future
    /// is dropped, and its guard records and settles it).
    pub(super) async fn unless_cancelled<T>(
        &self,
        call: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        let _counted = self.token();
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(EngineError::ShuttingDown),
            result = call => result,
        }
    }

    /// Relays `stream` until shutdown cancels it: then the stream is dropped
    /// (its guard records and settles the partial usage) and a terminal
    /// error frame ends it.
    pub(super) fn until_cancelled(&self, mut stream: EngineStream, nothing: Cost) -> EngineStream {
        let cancel = self.cancel.clone();
        // Held until the last frame has been taken, so shutdown waits for it.
        let counted = self.token();
        Box::pin(async_stream::stream! {
            let _counted = counted;
            loop {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => {
                        drop(stream);
                        yield EngineFrame::Error {
                            failure: StreamFailure::ShuttingDown,
                            usage: TokenUsage::default(),
                            cost: nothing,
                        };
                        return;
                    }
                    frame = stream.next() => match frame {
                        Some(frame) => yield frame,
                        None => return,
                    },
                }
            }
        })
    }

    /// Cancels every call in flight and waits (up to `bound`) until each
    /// has handed over its record and its caller its last frame.
    pub(super) async fn cancel_all(&self, bound: Duration) -> bool {
        self.cancel.cancel();
        self.calls.close();
        tokio::time::timeout(bound, self.calls.wait()).await.is_ok()
    }
}
