//! Per-subject rate limit: GCRA (a token bucket kept as one instant per
//! subject), in memory, sharded to keep lock contention low. Each replica
//! limits on its own; the limit is a guard against runaway clients, the
//! budget breaker in the router is what protects the money.

use crate::auth::Principal;
use crate::errors::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use service_kit::ErrorCode;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const SHARDS: usize = 16;
/// A shard this large is swept of subjects whose bucket is full again.
const SWEEP_AT: usize = 4096;

#[derive(Default)]
struct Shard {
    /// subject → its theoretical arrival time (GCRA).
    schedule: HashMap<Arc<str>, Instant>,
    /// The size that triggers the next sweep: doubled past what a sweep
    /// leaves, so sweeps stay amortised O(1) however many subjects are active.
    sweep_at: usize,
}

pub struct RateLimiter {
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of now a subject's schedule may run (the burst).
    tolerance: Duration,
    hasher: RandomState,
    shards: [Mutex<Shard>; SHARDS],
    min_sweep: usize,
}

impl RateLimiter {
    /// `per_minute` requests per minute, all of which may come at once.
    /// `None` when `per_minute` is 0 (no limit).
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        Self::with_sweep(per_minute, SWEEP_AT)
    }

    fn with_sweep(per_minute: u32, min_sweep: usize) -> Option<Self> {
        if per_minute == 0 {
            return None;
        }
        let interval = Duration::from_secs(60) / per_minute;
        Some(Self {
            interval,
            tolerance: interval * (per_minute - 1),
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| {
                Mutex::new(Shard {
                    schedule: HashMap::new(),
                    sweep_at: min_sweep,
                })
            }),
            min_sweep,
        })
    }

    /// `Ok` when `subject` may make a request now, else how long to wait.
    pub fn check(&self, subject: &Arc<str>) -> Result<(), Duration> {
        let now = Instant::now();
        let shard = &self.shards[self.hasher.hash_one(&**subject) as usize % SHARDS];
        let mut shard = shard.lock();
        let tat = shard.schedule.get(subject).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        if shard.schedule.len() >= shard.sweep_at {
            // Subjects whose schedule is in the past are indistinguishable from new ones.
            shard.schedule.retain(|_, t| *t > now);
            shard.sweep_at = (shard.schedule.len() * 2).max(self.min_sweep);
        }
        shard.schedule.insert(subject.clone(), tat + self.interval);
        Ok(())
    }
}

/// Middleware (after authentication): 429 with `Retry-After` past the limit.
pub async fn limit(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    if let Some(principal) = req.extensions().get::<Principal>()
        && let Err(wait) = limiter.check(&principal.subject)
    {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return ApiError::new(
            ErrorCode::RateLimited,
            format!("rate limit exceeded for this caller; retry in {secs} s"),
        )
        .with_retry_after(secs.max(1))
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn allows_the_burst_then_paces() {
        let limiter = RateLimiter::per_minute(3).unwrap();
        let alice: Arc<str> = "alice".into();
        let bob: Arc<str> = "bob".into();
        for _ in 0..3 {
            assert!(limiter.check(&alice).is_ok());
        }
        let wait = limiter.check(&alice).unwrap_err();
        assert_eq!(wait, Duration::from_secs(20));
        assert!(
            limiter.check(&bob).is_ok(),
            "subjects have their own buckets"
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(limiter.check(&alice).is_ok());
        assert!(limiter.check(&alice).is_err());
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(RateLimiter::per_minute(0).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_subjects_are_swept() {
        let limiter = RateLimiter::with_sweep(60, 4).unwrap();
        let size = || {
            limiter
                .shards
                .iter()
                .map(|s| s.lock().schedule.len())
                .sum::<usize>()
        };
        for i in 0..1000 {
            assert!(limiter.check(&format!("s{i}").into()).is_ok());
        }
        // All active: nothing may be forgotten (that would reset their buckets).
        assert_eq!(size(), 1000);
        tokio::time::advance(Duration::from_secs(2)).await;
        let fresh = SHARDS * 400;
        for i in 0..fresh {
            assert!(limiter.check(&format!("t{i}").into()).is_ok());
        }
        // Every shard grew past its threshold again and dropped its idle subjects.
        assert!(size() <= fresh, "{}", size());
    }
}
