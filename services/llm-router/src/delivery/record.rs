//! One usage record per call (mirrors `fluentedge.usage.v1.UsageRecord`).
//! Serialised as JSON in the outbox, so an operator can read a stuck entry
//! with `redis-cli XRANGE` or `sqlite3`.

use crate::money::Micros;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageOutcome {
    /// The call answered in full.
    Success,
    /// The call failed; tokens are what the provider billed anyway.
    Failed,
    /// A stream cut after it started; tokens are the partial usage.
    Partial,
    /// The caller went away mid-call.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The call's unique id: the ledger's idempotency key.
    pub request_id: String,
    pub created_at: DateTime<Utc>,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(rename = "cost_micro_usd", with = "micros")]
    pub cost: Micros,
    pub price_version: String,
    pub user_id: String,
    pub session_id: String,
    /// The service that made the call (`conversation`, `gateway`).
    pub calling_service: String,
    /// `sota`, `cost_effective`, or empty for an explicit model.
    pub tier: String,
    pub outcome: UsageOutcome,
    pub latency_ms: u64,
    /// `chat` or `embedding`.
    pub operation: String,
}

impl UsageRecord {
    pub fn to_json(&self) -> String {
        // Serialising plain fields cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Self, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
}

mod micros {
    use crate::money::Micros;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &Micros, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(m.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Micros, D::Error> {
        i64::deserialize(d).map(Micros)
    }
}
