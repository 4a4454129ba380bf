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
    pub call_id: String,
    /// The caller's correlation id (`X-Request-ID`), shared by the calls of
    /// one request; empty when the call came without one.
    #[serde(default)]
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
    /// The W3C `traceparent` of the call's span: the delivery that carries
    /// the record, however much later, links its span to the call's trace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub traceparent: String,
}

impl UsageRecord {
    pub fn to_json(&self) -> String {
        // Serialising plain fields cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Self, String> {
        let mut value: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
        // Entries written before the two ids had two names carry the call id
        // as `request_id` (and no caller's id): read them as they were meant.
        if let Some(fields) = value.as_object_mut()
            && !fields.contains_key("call_id")
            && let Some(call_id) = fields.remove("request_id")
        {
            fields.insert("call_id".into(), call_id);
        }
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_written_before_the_call_id_had_its_name() {
        let old = r#"{"request_id":"call-1","created_at":"2026-01-01T00:00:00Z","provider":"azure","model":"m","input_tokens":1,"output_tokens":2,"cost_micro_usd":3,"price_version":"v","user_id":"u","session_id":"","calling_service":"gateway","tier":"","outcome":"success","latency_ms":4,"operation":"chat"}"#;
        let r = UsageRecord::from_json(old).unwrap();
        assert_eq!((r.call_id.as_str(), r.request_id.as_str()), ("call-1", ""));
        let mut new = r.clone();
        new.request_id = "rq-9".into();
        assert_eq!(UsageRecord::from_json(&new.to_json()).unwrap(), new);
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
