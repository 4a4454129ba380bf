//! Timestamps, periods and calendar months (UTC).
//!
//! The ledger stores time at microsecond precision (PostgreSQL's). A record's
//! time is truncated to the microsecond, a period bound is rounded *up* to it:
//! a record at `t` µs lies in `[start, end)` exactly when `t >= ceil(start)`
//! and `t < ceil(end)`, so sub-microsecond bounds change nothing.

use super::ValidationError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

/// The range `google.protobuf.Timestamp` allows: 0001-01-01 to 9999-12-31.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

/// A wire timestamp (seconds and nanos since the Unix epoch), checked.
pub fn from_parts(field: &str, seconds: i64, nanos: i32) -> Result<DateTime<Utc>, ValidationError> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(ValidationError::new(
            field,
            format!("{seconds} seconds is outside 0001-01-01..9999-12-31"),
        ));
    }
    let nanos = u32::try_from(nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| ValidationError::new(field, format!("nanos {nanos} is not in 0..1e9")))?;
    DateTime::from_timestamp(seconds, nanos)
        .ok_or_else(|| ValidationError::new(field, "not a valid timestamp"))
}

/// `t` with its sub-microsecond part dropped.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let sub = t.timestamp_subsec_nanos() % 1_000;
    t - Duration::nanoseconds(i64::from(sub))
}

/// `t` rounded up to the next whole microsecond.
pub fn ceil_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let truncated = truncate_micros(t);
    if truncated == t {
        t
    } else {
        truncated + Duration::microseconds(1)
    }
}

/// Midnight UTC on the first day of `t`'s month.
pub fn month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    first_of(t.year(), t.month()).unwrap_or(t)
}

/// The start of the month `months` after (or before, if negative) the month
/// of `t`; `None` outside chrono's range.
pub fn add_months(t: DateTime<Utc>, months: i32) -> Option<DateTime<Utc>> {
    let index = i64::from(t.year()) * 12 + i64::from(t.month0()) + i64::from(months);
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month0 = u32::try_from(index.rem_euclid(12)).ok()?;
    first_of(year, month0 + 1)
}

fn first_of(year: i32, month: u32) -> Option<DateTime<Utc>> {
    let date = NaiveDate::from_ymd_opt(year, month, 1)?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

/// A period with both ends: `[start, end)`, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// Both bounds are required (GetSpend).
    pub fn new(
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<Self, ValidationError> {
        let start = start.ok_or_else(|| ValidationError::new("period_start", "required"))?;
        let end = end.ok_or_else(|| ValidationError::new("period_end", "required"))?;
        let (start, end) = (ceil_micros(start), ceil_micros(end));
        if start >= end {
            return Err(ValidationError::new(
                "period_end",
                "must be after period_start",
            ));
        }
        Ok(Self { start, end })
    }

    /// The calendar month containing `t`.
    pub fn month_of(t: DateTime<Utc>) -> Self {
        Self {
            start: month_start(t),
            end: add_months(t, 1).unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

/// A period whose ends may be open: no start means from the first record, no
/// end means up to the last (GetUsageSummary, ListUsage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl TimeRange {
    pub fn new(
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<Self, ValidationError> {
        let (start, end) = (start.map(ceil_micros), end.map(ceil_micros));
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            return Err(ValidationError::new(
                "period_end",
                "must be after period_start",
            ));
        }
        Ok(Self { start, end })
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }
}

impl From<Period> for TimeRange {
    fn from(p: Period) -> Self {
        Self {
            start: Some(p.start),
            end: Some(p.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn months_roll_over_years() {
        let jan = at("2025-01-01T00:00:00Z");
        assert_eq!(month_start(at("2025-01-31T23:59:59.999999Z")), jan);
        assert_eq!(add_months(jan, -1), Some(at("2024-12-01T00:00:00Z")));
        assert_eq!(add_months(jan, 13), Some(at("2026-02-01T00:00:00Z")));
        assert_eq!(add_months(jan, -25), Some(at("2022-12-01T00:00:00Z")));
        assert_eq!(add_months(jan, i32::MIN), None);
        let feb = Period::month_of(at("2024-02-29T12:00:00Z"));
        assert_eq!(feb.end, at("2024-03-01T00:00:00Z"));
    }

    #[test]
    fn bounds_round_up_and_records_round_down() {
        let t = at("2025-03-01T00:00:00.0000015Z");
        assert_eq!(truncate_micros(t), at("2025-03-01T00:00:00.000001Z"));
        assert_eq!(ceil_micros(t), at("2025-03-01T00:00:00.000002Z"));
        assert_eq!(ceil_micros(truncate_micros(t)), truncate_micros(t));
    }

    #[test]
    fn wire_timestamps_are_checked() {
        assert!(from_parts("t", 0, -1).is_err());
        assert!(from_parts("t", 0, 1_000_000_000).is_err());
        assert!(from_parts("t", MAX_SECONDS + 1, 0).is_err());
        assert!(from_parts("t", MIN_SECONDS - 1, 0).is_err());
        assert_eq!(from_parts("t", 1, 5).unwrap().timestamp_subsec_nanos(), 5);
    }

    #[test]
    fn periods_need_order() {
        let a = at("2025-01-01T00:00:00Z");
        assert!(Period::new(Some(a), Some(a)).is_err());
        assert_eq!(
            Period::new(None, Some(a)).unwrap_err().field,
            "period_start"
        );
        assert!(TimeRange::new(Some(a), None).is_ok());
        assert!(TimeRange::new(Some(a), Some(a)).is_err());
    }
}
