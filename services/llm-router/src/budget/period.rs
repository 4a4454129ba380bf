//! The budget period: a calendar month in the configured UTC offset.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};

/// One calendar month, e.g. key `2026-11`, `[start, end)` in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Period {
    pub key: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// The month containing `now`, months beginning at local midnight in `offset`.
    pub fn containing(now: DateTime<Utc>, offset: FixedOffset) -> Period {
        let local = now.with_timezone(&offset);
        let (year, month) = (local.year(), local.month());
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        Period {
            key: format!("{year:04}-{month:02}"),
            start: month_start(year, month, offset).unwrap_or(now),
            end: month_start(next_year, next_month, offset).unwrap_or(now),
        }
    }
}

fn month_start(year: i32, month: u32, offset: FixedOffset) -> Option<DateTime<Utc>> {
    let midnight = NaiveDate::from_ymd_opt(year, month, 1)?.and_hms_opt(0, 0, 0)?;
    Some(
        offset
            .from_local_datetime(&midnight)
            .single()?
            .with_timezone(&Utc),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn utc_months_and_december_rollover() {
        let p = Period::containing(
            utc("2026-12-31T23:59:59.999Z"),
            FixedOffset::east_opt(0).unwrap(),
        );
        assert_eq!(p.key, "2026-12");
        assert_eq!(p.start, utc("2026-12-01T00:00:00Z"));
        assert_eq!(p.end, utc("2027-01-01T00:00:00Z"));
        let next = Period::containing(p.end, FixedOffset::east_opt(0).unwrap());
        assert_eq!(next.key, "2027-01");
    }

    #[test]
    fn offset_months_start_at_local_midnight() {
        let tokyo = FixedOffset::east_opt(9 * 3600).unwrap();
        // 2026-10-31T15:00Z is 2026-11-01T00:00 in Tokyo.
        let p = Period::containing(utc("2026-10-31T15:00:00Z"), tokyo);
        assert_eq!(p.key, "2026-11");
        assert_eq!(p.start, utc("2026-10-31T15:00:00Z"));
        let before = Period::containing(utc("2026-10-31T14:59:59Z"), tokyo);
        assert_eq!(before.key, "2026-10");
    }
}
