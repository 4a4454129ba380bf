//! The ListUsage page token: an opaque position in the newest-first order.
//!
//! The list is ordered by `(created_at, call_id)` descending, a total
//! order over rows that never changes, and a page continues strictly after
//! the last row returned. So rows that arrive while a client pages (newer
//! ones, or late deliveries older than its position) never shift what it
//! has still to see: nothing is repeated or skipped. The token also carries a
//! fingerprint of the query's range and filters, so a token replayed with
//! other filters is refused instead of silently paging something else.

use super::ValidationError;
use super::report::ListQuery;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

const VERSION: &str = "v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    pub created_at: DateTime<Utc>,
    pub call_id: String,
    fingerprint: u32,
}

impl PageCursor {
    /// The position just after a returned row, for `query`.
    pub fn after(created_at: DateTime<Utc>, call_id: &str, query: &ListQuery) -> Self {
        Self {
            created_at,
            call_id: call_id.to_owned(),
            fingerprint: fingerprint(query),
        }
    }

    pub fn encode(&self) -> String {
        let raw = format!(
            "{VERSION}.{}.{:08x}.{}",
            self.created_at.timestamp_micros(),
            self.fingerprint,
            self.call_id
        );
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a token made by [`PageCursor::encode`] for the same query.
    pub fn decode(token: &str, query: &ListQuery) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new("page_token", "not a token this service issued");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        let raw = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = raw.splitn(4, '.');
        let (Some(VERSION), Some(micros), Some(print), Some(call_id)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let created_at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(bad)?;
        let print = u32::from_str_radix(print, 16).map_err(|_| bad())?;
        if print != fingerprint(query) || call_id.is_empty() {
            return Err(ValidationError::new(
                "page_token",
                "was issued for a different period or filters",
            ));
        }
        Ok(Self {
            created_at,
            call_id: call_id.to_owned(),
            fingerprint: print,
        })
    }
}

/// A checksum of what selects the rows (not the page size, which may change
/// between pages).
fn fingerprint(q: &ListQuery) -> u32 {
    let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros().to_string());
    let fields = [
        micros(q.range.start),
        micros(q.range.end),
        q.provider.clone(),
        q.model.clone(),
        q.user_id.clone(),
        q.session_id.clone(),
    ];
    let mut hasher = crc32fast::Hasher::new();
    // Only when set, so that tokens issued before the filter existed still continue.
    let request_id = q.request_id.clone().map(|id| format!("request_id={id}"));
    for field in fields.into_iter().chain(request_id.map(Some)) {
        // Length-prefixed so that ("ab", "") and ("a", "b") differ.
        match field {
            None => hasher.update(b"-"),
            Some(v) => {
                hasher.update(format!("{}:", v.len()).as_bytes());
                hasher.update(v.as_bytes());
            }
        }
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::ListDraft;

    fn query(provider: &str) -> ListQuery {
        ListDraft {
            provider: provider.into(),
            ..ListDraft::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn tokens_round_trip_and_bind_to_their_filters() {
        let t = DateTime::from_timestamp_micros(1_740_000_000_123_456).unwrap();
        let cursor = PageCursor::after(t, "req.with.dots", &query("azure"));
        let token = cursor.encode();
        assert_eq!(PageCursor::decode(&token, &query("azure")).unwrap(), cursor);
        let err = PageCursor::decode(&token, &query("anthropic")).unwrap_err();
        assert_eq!(err.field, "page_token");
    }

    #[test]
    fn garbage_tokens_are_refused() {
        for token in ["", "!!", "djEuMS4y", &URL_SAFE_NO_PAD.encode("v1.x.0.id")] {
            assert!(PageCursor::decode(token, &query("")).is_err(), "{token}");
        }
    }
}
