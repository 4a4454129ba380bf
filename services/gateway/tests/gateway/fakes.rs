//! Deterministic in-test backends: the conversation service (with ownership
//! by the subject metadata, like the real one), the router (LlmRouter and
//! RouterAdmin) and the usage ledger. Each records the metadata it receives.
//!
//! Magic inputs make them fail on purpose:
//! - conversation `GetSession`: id `fail-<grpc code number>` answers that code
//!   with no reason; `reason-<snake_case reason>` answers a `ServiceError`.
//! - conversation messages: content `budget`, `providers`, `cut` (stream cut
//!   after a delta), `drop` (stream ends without a terminal frame).
//! - router models: `budget-exhausted`, `all-down`, `cut-stream`,
//!   `drop-stream`, `slow` (answers after 3 s).

#[path = "fake_conversation.rs"]
mod conversation;
#[path = "fake_router.rs"]
mod router;
#[path = "fake_usage.rs"]
mod usage;

pub use conversation::FakeConversation;
pub use router::{FAKE_MODELS_CREATED, FakeRouter};
pub use usage::FakeUsage;

use futures::Stream;
use parking_lot::Mutex;
use service_kit::{ErrorCode, ServiceError};
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Status};

pub type FrameStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// What a backend saw of one call.
#[derive(Debug, Clone)]
pub struct Seen {
    pub rpc: &'static str,
    pub request_id: Option<String>,
    pub subject: Option<String>,
    pub traceparent: Option<String>,
    pub deadline: Option<String>,
}

#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    fn record<T>(&self, rpc: &'static str, req: &Request<T>) -> Option<String> {
        let get = |k: &str| {
            req.metadata()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let seen = Seen {
            rpc,
            request_id: get("x-request-id"),
            subject: service_kit::auth::development_subject(req.metadata()),
            traceparent: get("traceparent"),
            deadline: get("grpc-timeout"),
        };
        let subject = seen.subject.clone();
        self.0.lock().push(seen);
        subject
    }

    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().clone()
    }

    pub fn last(&self, rpc: &str) -> Seen {
        self.all()
            .into_iter()
            .rev()
            .find(|s| s.rpc == rpc)
            .unwrap_or_else(|| panic!("no {rpc} call recorded"))
    }
}

pub fn subject_of(subject: Option<String>) -> Result<String, Status> {
    subject.ok_or_else(|| Status::unauthenticated("no subject"))
}

pub fn budget() -> Status {
    ServiceError::new(
        ErrorCode::BudgetExceeded,
        "the monthly AI budget is exhausted",
    )
    .into_status()
}

pub fn providers_down() -> Status {
    ServiceError::new(
        ErrorCode::AllProvidersFailed,
        "all providers failed: azure: HTTP 503 after 4 attempts; anthropic: timeout after 30 s",
    )
    .into_status()
}

pub fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}
