//! HTTP DTOs and their conversions from and to the gRPC messages. No
//! business rules here: shapes, names and formats only.

pub mod admin;
pub mod talk;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body of the app and admin APIs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `budget_exceeded`, `invalid_argument`.
    pub code: String,
    pub message: String,
    /// The request's `X-Request-ID`.
    pub request_id: String,
}

/// RFC 3339 UTC with milliseconds, or `None` for an unset timestamp.
pub fn rfc3339(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    let ts = ts?;
    let nanos = u32::try_from(ts.nanos).ok()?;
    DateTime::<Utc>::from_timestamp(ts.seconds, nanos)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Integer micro-USD as a decimal USD string: `1234567` → `"1.234567"`.
pub fn usd(micro: i64) -> String {
    let sign = if micro < 0 { "-" } else { "" };
    let abs = micro.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// Empty strings from proto3 become absent fields.
pub fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// The UTC calendar month `YYYY-MM` as `[start, end)`.
pub fn month_bounds(month: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let bad = || format!("month must be YYYY-MM, got {month:?}");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let start = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
    let end = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .ok_or_else(bad)?;
    let at_midnight =
        |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default());
    Ok((at_midnight(start), at_midnight(end)))
}

/// The current UTC month as `YYYY-MM`.
pub fn current_month(now: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", now.year(), now.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact() {
        assert_eq!(usd(0), "0.000000");
        assert_eq!(usd(1_234_567), "1.234567");
        assert_eq!(usd(-5), "-0.000005");
        assert_eq!(usd(i64::MIN), "-9223372036854.775808");
    }

    #[test]
    fn months() {
        let (s, e) = month_bounds("2026-12").unwrap();
        assert_eq!(s.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(e.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        assert!(month_bounds("2026-13").is_err());
        assert!(month_bounds("nope").is_err());
    }

    #[test]
    fn timestamps_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 11, 3, 4, 5, 6).unwrap();
        assert_eq!(
            rfc3339(Some(&timestamp(t))).unwrap(),
            "2026-11-03T04:05:06.000Z"
        );
        assert_eq!(rfc3339(None), None);
    }
}
