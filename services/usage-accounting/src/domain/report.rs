//! Report shapes: spend, grouped summaries, the filtered record list.

use super::ValidationError;
use super::cursor::PageCursor;
use super::record::checked_filter;
use super::time::TimeRange;
use chrono::{DateTime, Utc};

/// Exact spend of a period, counted from its latest budget reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spend {
    pub spent_micro_usd: i64,
    pub record_count: u64,
    /// The period start, or the latest reset inside the period.
    pub counted_from: DateTime<Utc>,
}

/// A summary grouping key. The wire numbers are the proto enum's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKey {
    Provider,
    Model,
    User,
    /// UTC calendar day, `YYYY-MM-DD`.
    Day,
}

impl GroupKey {
    pub fn from_wire(n: i32) -> Result<Self, ValidationError> {
        match n {
            1 => Ok(Self::Provider),
            2 => Ok(Self::Model),
            3 => Ok(Self::User),
            4 => Ok(Self::Day),
            0 => Err(ValidationError::new(
                "group_by",
                "GROUP_BY_UNSPECIFIED is not a grouping key",
            )),
            other => Err(ValidationError::new(
                "group_by",
                format!("unknown grouping key {other}"),
            )),
        }
    }

    /// The keys of a request, in order; each at most once.
    pub fn parse_all(wire: &[i32]) -> Result<Vec<Self>, ValidationError> {
        let mut keys = Vec::with_capacity(wire.len());
        for &n in wire {
            let key = Self::from_wire(n)?;
            if keys.contains(&key) {
                return Err(ValidationError::new(
                    "group_by",
                    format!("{key:?} is repeated"),
                ));
            }
            keys.push(key);
        }
        Ok(keys)
    }
}

/// One group's totals; the key fields not grouped by are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryRow {
    pub provider: String,
    pub model: String,
    pub user_id: String,
    pub day: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micro_usd: i64,
    pub request_count: u64,
}

impl SummaryRow {
    fn sort_key(&self) -> (std::cmp::Reverse<i64>, &str, &str, &str, &str) {
        (
            std::cmp::Reverse(self.cost_micro_usd),
            &self.provider,
            &self.model,
            &self.user_id,
            &self.day,
        )
    }
}

/// Grouped totals, highest cost first, and their grand total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: Vec<SummaryRow>,
    pub total: SummaryRow,
}

/// A sum left the 64-bit range (only with absurd token counts or costs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a total does not fit in 64 bits")]
pub struct Overflow;

impl Summary {
    /// Orders the groups (cost descending, then keys bytewise, the same on
    /// every backend) and adds them up exactly.
    pub fn from_groups(mut rows: Vec<SummaryRow>) -> Result<Self, Overflow> {
        rows.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut total = SummaryRow::default();
        for row in &rows {
            total.input_tokens = total
                .input_tokens
                .checked_add(row.input_tokens)
                .ok_or(Overflow)?;
            total.output_tokens = total
                .output_tokens
                .checked_add(row.output_tokens)
                .ok_or(Overflow)?;
            total.cost_micro_usd = total
                .cost_micro_usd
                .checked_add(row.cost_micro_usd)
                .ok_or(Overflow)?;
            total.request_count = total
                .request_count
                .checked_add(row.request_count)
                .ok_or(Overflow)?;
        }
        Ok(Self { rows, total })
    }
}

/// Records per ListUsage page: 1 to 500, 50 when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub const DEFAULT: u32 = 50;
    pub const MAX: u32 = 500;

    pub fn new(n: u32) -> Result<Self, ValidationError> {
        match n {
            0 => Ok(Self(Self::DEFAULT)),
            n if n <= Self::MAX => Ok(Self(n)),
            n => Err(ValidationError::new(
                "page_size",
                format!("{n} is too large (at most {})", Self::MAX),
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A ListUsage query: the range and exact-match filters (empty: any), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub range: TimeRange,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// The caller's correlation id (many calls may share it).
    pub request_id: Option<String>,
    pub page_size: PageSize,
    /// Continue strictly after this position.
    pub after: Option<PageCursor>,
}

/// The raw ListUsage request fields.
#[derive(Debug, Clone, Default)]
pub struct ListDraft {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub provider: String,
    pub model: String,
    pub user_id: String,
    pub session_id: String,
    pub request_id: String,
    pub page_size: u32,
    pub page_token: String,
}

impl ListDraft {
    pub fn validate(&self) -> Result<ListQuery, ValidationError> {
        let mut query = ListQuery {
            range: TimeRange::new(self.start, self.end)?,
            provider: checked_filter("provider", &self.provider)?,
            model: checked_filter("model", &self.model)?,
            user_id: checked_filter("user_id", &self.user_id)?,
            session_id: checked_filter("session_id", &self.session_id)?,
            request_id: checked_filter("request_id", &self.request_id)?,
            page_size: PageSize::new(self.page_size)?,
            after: None,
        };
        if !self.page_token.is_empty() {
            query.after = Some(PageCursor::decode(&self.page_token, &query)?);
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(provider: &str, cost: i64) -> SummaryRow {
        SummaryRow {
            provider: provider.into(),
            cost_micro_usd: cost,
            request_count: 1,
            ..SummaryRow::default()
        }
    }

    #[test]
    fn summaries_sort_by_cost_then_key_and_total_exactly() {
        let s = Summary::from_groups(vec![row("b", 5), row("a", 5), row("c", 9)]).unwrap();
        let order: Vec<_> = s.rows.iter().map(|r| r.provider.as_str()).collect();
        assert_eq!(order, ["c", "a", "b"]);
        assert_eq!(s.total.cost_micro_usd, 19);
        assert_eq!(s.total.request_count, 3);
        assert!(Summary::from_groups(vec![row("a", i64::MAX), row("b", 1)]).is_err());
    }

    #[test]
    fn group_keys_are_checked() {
        assert_eq!(
            GroupKey::parse_all(&[1, 4]).unwrap(),
            [GroupKey::Provider, GroupKey::Day]
        );
        assert!(GroupKey::parse_all(&[0]).is_err());
        assert!(GroupKey::parse_all(&[7]).is_err());
        assert!(GroupKey::parse_all(&[2, 2]).is_err());
    }

    #[test]
    fn page_sizes() {
        assert_eq!(PageSize::new(0).unwrap().get(), 50);
        assert_eq!(PageSize::new(500).unwrap().get(), 500);
        assert!(PageSize::new(501).is_err());
    }
}
