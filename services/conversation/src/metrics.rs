//! The service's own metrics (closed label vocabularies only).

use crate::storage::PoolStats;
use std::time::Duration;

/// How an exchange ended: `completed`, `failed`, `partial` (cut mid-reply),
/// or `replayed` (a retry answered from storage).
pub fn exchange(status: &'static str, mode: &'static str, elapsed: Option<Duration>) {
    metrics::counter!("conversation_messages_total", "status" => status).increment(1);
    if let Some(elapsed) = elapsed {
        metrics::histogram!(
            "conversation_tutor_reply_duration_seconds",
            "mode" => mode,
            "status" => status
        )
        .record(elapsed.as_secs_f64());
    }
}

pub fn pool(stats: PoolStats) {
    let idle = stats.idle.min(stats.size);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "active").set(f64::from(stats.size - idle));
}
