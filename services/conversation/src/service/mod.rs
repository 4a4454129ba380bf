//! The conversation service's logic, between the gRPC adapters and storage /
//! the router: sessions and profiles (`sessions.rs`), the tutor's exchanges
//! (`tutor.rs`), page tokens (`paging.rs`). Knows nothing of tonic.

mod error;
pub mod paging;
mod reply;
mod sessions;
mod tutor;

pub use error::Error;
pub use tutor::{ReplyEvent, StreamStarted};

use crate::clients::router::TutorModel;
use crate::config::{Config, TutorTier};
use crate::domain::Catalogue;
use crate::storage::DynStore;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::task::TaskTracker;

/// The time, injectable for tests.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock, truncated to microseconds (what both databases store),
/// so a value read back equals the value written.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

/// How the tutor is asked.
#[derive(Debug, Clone)]
pub struct TutorSettings {
    pub tier: TutorTier,
    pub model: Option<String>,
    pub max_tokens: u32,
    pub history_token_budget: u64,
    pub pending_timeout: Duration,
}

impl TutorSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            tier: config.tutor_tier,
            model: config.tutor_model.clone(),
            max_tokens: config.tutor_max_tokens,
            history_token_budget: config.history_token_budget,
            pending_timeout: config.pending_timeout,
        }
    }
}

/// The conversation service. Cheap to clone.
#[derive(Clone)]
pub struct Conversations {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    router: Arc<dyn TutorModel>,
    scenarios: Catalogue,
    tutor: TutorSettings,
    clock: Arc<dyn Clock>,
    /// Exchanges still running (they outlive a caller that went away).
    tasks: TaskTracker,
    /// Set once the database is migrated; until then every call is UNAVAILABLE.
    ready: AtomicBool,
}

impl Conversations {
    pub fn new(
        store: DynStore,
        router: Arc<dyn TutorModel>,
        scenarios: Catalogue,
        tutor: TutorSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                router,
                scenarios,
                tutor,
                clock,
                tasks: TaskTracker::new(),
                ready: AtomicBool::new(false),
            }),
        }
    }

    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::Release);
    }

    /// Every call but the scenario list needs the database migrated.
    fn check_ready(&self) -> Result<(), Error> {
        if self.inner.ready.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(Error::Starting)
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Waits (at most `grace`) for running exchanges to store their outcome.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.inner.tasks.close();
        tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_ok()
    }
}

/// The caller's subject, required by every call.
pub fn require_subject(subject: Option<&str>) -> Result<&str, Error> {
    match subject.map(str::trim) {
        Some(s) if !s.is_empty() && s.len() <= 256 => Ok(s),
        Some(s) if !s.is_empty() => Err(Error::Unauthenticated(
            "the service token's subject is longer than 256 characters",
        )),
        _ => Err(Error::Unauthenticated(
            "no authenticated learner: the service token names no subject",
        )),
    }
}
