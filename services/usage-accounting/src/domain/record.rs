//! A usage record: what one LLM call cost, validated.
//!
//! Callers send a [`RecordDraft`] (the wire fields as they came); only
//! [`RecordDraft::validate`] makes a [`UsageRecord`], and storage rebuilds
//! stored rows through the same path, so every record in the system obeys the
//! same rules. Two records under one call id are the same call only if
//! every field is equal ([`UsageRecord::differing_fields`]).

use super::ValidationError;
use super::time::{from_parts, truncate_micros};
use chrono::{DateTime, Utc};

/// At most this many records in one `RecordUsageBatch`.
pub const MAX_BATCH: usize = 1000;
/// Longest id or name, in bytes.
pub const MAX_TEXT_BYTES: usize = 256;
/// The largest cost one record may carry: `estimated_cost_usd` is NUMERIC(18, 6).
pub const MAX_COST_MICRO_USD: i64 = 999_999_999_999_999_999;
/// Records are from the Unix era (this also keeps stored micros non-negative).
const MIN_RECORD_SECONDS: i64 = 0;

/// A record as it arrived, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordDraft {
    pub call_id: String,
    /// Seconds and nanos since the Unix epoch.
    pub created_at: Option<(i64, i32)>,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micro_usd: i64,
    pub price_version: String,
    pub user_id: String,
    pub session_id: String,
    pub calling_service: String,
    pub tier: String,
    /// The wire number of the outcome (see [`Outcome::from_wire`]).
    pub outcome: i32,
    pub latency_ms: u64,
    pub operation: String,
    /// The caller's correlation id; empty when unknown.
    pub request_id: String,
}

/// The unique id of one call: the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(String);

impl CallId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        required_text(field, raw).map(|s| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token count or duration that fits the ledger's BIGINT columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Count(i64);

impl Count {
    pub fn new(field: &str, n: u64) -> Result<Self, ValidationError> {
        i64::try_from(n).map(Self).map_err(|_| {
            ValidationError::new(field, format!("{n} is out of range (at most {})", i64::MAX))
        })
    }

    pub fn get(self) -> u64 {
        self.0.unsigned_abs()
    }

    pub fn as_i64(self) -> i64 {
        self.0
    }
}

/// Integer micro-USD, never negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct MicroUsd(i64);

impl MicroUsd {
    pub fn new(field: &str, n: i64) -> Result<Self, ValidationError> {
        if n < 0 {
            return Err(ValidationError::new(field, format!("{n} is negative")));
        }
        if n > MAX_COST_MICRO_USD {
            return Err(ValidationError::new(
                field,
                format!("{n} is out of range (at most {MAX_COST_MICRO_USD})"),
            ));
        }
        Ok(Self(n))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// How the call ended. The wire numbers are the proto enum's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Failed,
    Partial,
    Cancelled,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Self::Success, Self::Failed, Self::Partial, Self::Cancelled];

    pub fn from_wire(field: &str, n: i32) -> Result<Self, ValidationError> {
        match n {
            0 => Err(ValidationError::new(
                field,
                "required (OUTCOME_UNSPECIFIED)",
            )),
            1 => Ok(Self::Success),
            2 => Ok(Self::Failed),
            3 => Ok(Self::Partial),
            4 => Ok(Self::Cancelled),
            other => Err(ValidationError::new(
                field,
                format!("unknown outcome {other}"),
            )),
        }
    }

    pub fn wire(self) -> i32 {
        match self {
            Self::Success => 1,
            Self::Failed => 2,
            Self::Partial => 3,
            Self::Cancelled => 4,
        }
    }

    /// The name stored in the `outcome` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Partial => "partial",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// The model tier the caller asked for; `None` when it named a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Tier {
    #[default]
    None,
    Sota,
    CostEffective,
}

impl Tier {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "" => Ok(Self::None),
            "sota" => Ok(Self::Sota),
            "cost_effective" => Ok(Self::CostEffective),
            other => Err(ValidationError::new(
                field,
                format!("unknown tier {other:?} (expected \"sota\", \"cost_effective\" or empty)"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Sota => "sota",
            Self::CostEffective => "cost_effective",
        }
    }
}

/// What kind of call it was; `Unspecified` when the caller did not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Operation {
    #[default]
    Unspecified,
    Chat,
    Embedding,
}

impl Operation {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "" => Ok(Self::Unspecified),
            "chat" => Ok(Self::Chat),
            "embedding" => Ok(Self::Embedding),
            other => Err(ValidationError::new(
                field,
                format!("unknown operation {other:?} (expected \"chat\", \"embedding\" or empty)"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "",
            Self::Chat => "chat",
            Self::Embedding => "embedding",
        }
    }
}

/// One LLM call in the ledger. Built only by [`RecordDraft::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub call_id: CallId,
    /// Microsecond precision, from 1970 on.
    pub created_at: DateTime<Utc>,
    pub provider: String,
    pub model: String,
    pub input_tokens: Count,
    pub output_tokens: Count,
    pub cost: MicroUsd,
    pub price_version: String,
    pub user_id: String,
    pub session_id: String,
    pub calling_service: String,
    pub tier: Tier,
    pub outcome: Outcome,
    pub latency_ms: Count,
    pub operation: Operation,
    /// The caller's correlation id (`X-Request-ID`): many calls may share it.
    pub request_id: String,
}

impl RecordDraft {
    /// The record, or the first thing wrong with it (its field named).
    pub fn validate(&self) -> Result<UsageRecord, ValidationError> {
        let (seconds, nanos) = self
            .created_at
            .ok_or_else(|| ValidationError::new("created_at", "required"))?;
        if seconds < MIN_RECORD_SECONDS {
            return Err(ValidationError::new(
                "created_at",
                "must not be before 1970-01-01T00:00:00Z",
            ));
        }
        let created_at = truncate_micros(from_parts("created_at", seconds, nanos)?);
        Ok(UsageRecord {
            call_id: CallId::parse("call_id", &self.call_id)?,
            created_at,
            provider: required_text("provider", &self.provider)?.to_owned(),
            model: required_text("model", &self.model)?.to_owned(),
            input_tokens: Count::new("input_tokens", self.input_tokens)?,
            output_tokens: Count::new("output_tokens", self.output_tokens)?,
            cost: MicroUsd::new("cost_micro_usd", self.cost_micro_usd)?,
            price_version: optional_text("price_version", &self.price_version)?,
            user_id: optional_text("user_id", &self.user_id)?,
            session_id: optional_text("session_id", &self.session_id)?,
            calling_service: optional_text("calling_service", &self.calling_service)?,
            tier: Tier::parse("tier", &self.tier)?,
            outcome: Outcome::from_wire("outcome", self.outcome)?,
            latency_ms: Count::new("latency_ms", self.latency_ms)?,
            operation: Operation::parse("operation", &self.operation)?,
            request_id: optional_text("request_id", &self.request_id)?,
        })
    }
}

impl UsageRecord {
    /// The fields (by wire name) in which `other` differs from this record.
    /// Empty: the same call; anything else under the same id is a conflict.
    pub fn differing_fields(&self, other: &UsageRecord) -> Vec<&'static str> {
        let checks = [
            ("call_id", self.call_id == other.call_id),
            ("created_at", self.created_at == other.created_at),
            ("provider", self.provider == other.provider),
            ("model", self.model == other.model),
            ("input_tokens", self.input_tokens == other.input_tokens),
            ("output_tokens", self.output_tokens == other.output_tokens),
            ("cost_micro_usd", self.cost == other.cost),
            ("price_version", self.price_version == other.price_version),
            ("user_id", self.user_id == other.user_id),
            ("session_id", self.session_id == other.session_id),
            (
                "calling_service",
                self.calling_service == other.calling_service,
            ),
            ("tier", self.tier == other.tier),
            ("outcome", self.outcome == other.outcome),
            ("latency_ms", self.latency_ms == other.latency_ms),
            ("operation", self.operation == other.operation),
            ("request_id", self.request_id == other.request_id),
        ];
        checks
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(name, _)| name)
            .collect()
    }

    /// The record as a draft again (storage rebuilds rows through `validate`).
    pub fn to_draft(&self) -> RecordDraft {
        RecordDraft {
            call_id: self.call_id.as_str().to_owned(),
            created_at: Some((
                self.created_at.timestamp(),
                i32::try_from(self.created_at.timestamp_subsec_nanos()).unwrap_or(0),
            )),
            provider: self.provider.clone(),
            model: self.model.clone(),
            input_tokens: self.input_tokens.get(),
            output_tokens: self.output_tokens.get(),
            cost_micro_usd: self.cost.get(),
            price_version: self.price_version.clone(),
            user_id: self.user_id.clone(),
            session_id: self.session_id.clone(),
            calling_service: self.calling_service.clone(),
            tier: self.tier.as_str().to_owned(),
            outcome: self.outcome.wire(),
            latency_ms: self.latency_ms.get(),
            operation: self.operation.as_str().to_owned(),
            request_id: self.request_id.clone(),
        }
    }
}

/// A required id or name: not blank, bounded, no control characters.
pub(crate) fn required_text<'a>(field: &str, raw: &'a str) -> Result<&'a str, ValidationError> {
    if raw.trim().is_empty() {
        return Err(ValidationError::new(field, "required"));
    }
    checked_text(field, raw)
}

pub(crate) fn optional_text(field: &str, raw: &str) -> Result<String, ValidationError> {
    checked_text(field, raw).map(str::to_owned)
}

/// An optional exact-match filter: empty means "any".
pub(crate) fn checked_filter(field: &str, raw: &str) -> Result<Option<String>, ValidationError> {
    if raw.is_empty() {
        return Ok(None);
    }
    checked_text(field, raw).map(|s| Some(s.to_owned()))
}

/// Free text a person wrote (a reset's reason): tab, line feed and carriage
/// return are allowed, as the router and the gateway allow them, other
/// control characters (NUL first) are not.
pub(crate) fn free_text(field: &str, raw: &str) -> Result<String, ValidationError> {
    if raw.len() > MAX_TEXT_BYTES {
        return Err(ValidationError::new(
            field,
            format!("{} bytes is too long (at most {MAX_TEXT_BYTES})", raw.len()),
        ));
    }
    if let Some(c) = service_kit::text::disallowed_control(raw) {
        return Err(ValidationError::new(
            field,
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    Ok(raw.to_owned())
}

fn checked_text<'a>(field: &str, raw: &'a str) -> Result<&'a str, ValidationError> {
    if raw.len() > MAX_TEXT_BYTES {
        return Err(ValidationError::new(
            field,
            format!("{} bytes is too long (at most {MAX_TEXT_BYTES})", raw.len()),
        ));
    }
    // PostgreSQL TEXT cannot hold NUL; other control characters only hide ids in logs.
    if raw.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "contains control characters"));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn draft() -> RecordDraft {
        RecordDraft {
            call_id: "req-1".into(),
            created_at: Some((1_740_000_000, 123_456_789)),
            provider: "azure".into(),
            model: "gpt-4o".into(),
            input_tokens: 10,
            output_tokens: 20,
            cost_micro_usd: 1_500,
            tier: "sota".into(),
            outcome: 1,
            operation: "chat".into(),
            ..RecordDraft::default()
        }
    }

    #[test]
    fn a_valid_draft_round_trips() {
        let record = draft().validate().unwrap();
        assert_eq!(record.created_at.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(record.to_draft().validate().unwrap(), record);
    }

    #[test]
    fn each_rule_names_its_field() {
        type Mutation = (fn(&mut RecordDraft), &'static str);
        let cases: Vec<Mutation> = vec![
            (|d| d.call_id = " ".into(), "call_id"),
            (|d| d.created_at = None, "created_at"),
            (|d| d.created_at = Some((-1, 0)), "created_at"),
            (|d| d.provider.clear(), "provider"),
            (|d| d.model.clear(), "model"),
            (|d| d.input_tokens = u64::MAX, "input_tokens"),
            (|d| d.output_tokens = 1 << 63, "output_tokens"),
            (|d| d.cost_micro_usd = -1, "cost_micro_usd"),
            (|d| d.cost_micro_usd = i64::MAX, "cost_micro_usd"),
            (|d| d.user_id = "a\0b".into(), "user_id"),
            (|d| d.session_id = "x".repeat(257), "session_id"),
            (|d| d.tier = "gold".into(), "tier"),
            (|d| d.outcome = 0, "outcome"),
            (|d| d.outcome = 9, "outcome"),
            (|d| d.latency_ms = u64::MAX, "latency_ms"),
            (|d| d.operation = "stream".into(), "operation"),
        ];
        for (mutate, field) in cases {
            let mut d = draft();
            mutate(&mut d);
            assert_eq!(d.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn differing_fields_name_every_difference() {
        let a = draft().validate().unwrap();
        let mut d = draft();
        d.cost_micro_usd += 1;
        d.tier = String::new();
        let b = d.validate().unwrap();
        assert_eq!(a.differing_fields(&b), ["cost_micro_usd", "tier"]);
        assert!(a.differing_fields(&a).is_empty());
    }
}
