//! The service's own metrics (closed label vocabularies only).

use crate::storage::PoolStats;
use service_kit::metrics::{DB_POOL_CONNECTIONS, Family, Kind};
use std::time::Duration;

pub const FAMILIES: &[Family] = &[
    Family::new(
        "conversation_messages_total",
        Kind::Counter,
        "Exchanges (learner message and tutor reply), by how they ended.",
    ),
    Family::new(
        "conversation_tutor_reply_duration_seconds",
        Kind::Histogram,
        "Time to a tutor reply, by mode (unary, streamed) and how it ended.",
    ),
    DB_POOL_CONNECTIONS,
];

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

#[cfg(test)]
mod tests {
    #[test]
    fn every_recorded_metric_has_help() {
        service_kit::metrics::assert_described(env!("CARGO_MANIFEST_DIR"), super::FAMILIES);
    }
}
