//! What both ledgers read and answer the same way: the record columns, a row
//! back into a record or a summary line, and the per-record answer of an
//! insert. Only time is stored differently (`timestamptz` / INTEGER
//! microseconds), so callers decode it and pass it in.

use super::{Result, StorageError, rebuild, to_u64};
use crate::domain::{Outcome, RecordDraft, Stored, SummaryRow, UsageRecord};
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::collections::{HashMap, HashSet};

pub(super) const COLUMNS: &str = "call_id, created_at, api_provider, model_name, \
     input_tokens, output_tokens, cost_micro_usd, price_version, user_id, session_id, \
     calling_service, tier, outcome, latency_ms, operation, request_id";

pub(super) fn record<R>(row: &R, created_at: DateTime<Utc>) -> Result<UsageRecord>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let outcome: String = row.try_get("outcome")?;
    rebuild(RecordDraft {
        call_id: row.try_get("call_id")?,
        created_at: Some((
            created_at.timestamp(),
            i32::try_from(created_at.timestamp_subsec_nanos()).unwrap_or(0),
        )),
        provider: row.try_get("api_provider")?,
        model: row.try_get("model_name")?,
        input_tokens: to_u64(row.try_get("input_tokens")?, "input_tokens")?,
        output_tokens: to_u64(row.try_get("output_tokens")?, "output_tokens")?,
        cost_micro_usd: row.try_get("cost_micro_usd")?,
        price_version: row.try_get("price_version")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        calling_service: row.try_get("calling_service")?,
        tier: row.try_get("tier")?,
        outcome: Outcome::from_name(&outcome).map_or(0, Outcome::wire),
        latency_ms: to_u64(row.try_get("latency_ms")?, "latency_ms")?,
        operation: row.try_get("operation")?,
        request_id: row.try_get("request_id")?,
    })
}

/// A summary query's row: the four group columns (empty when not grouped)
/// and the totals.
pub(super) fn summary_row<R>(row: &R) -> Result<SummaryRow>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(SummaryRow {
        provider: row.try_get("provider")?,
        model: row.try_get("model")?,
        user_id: row.try_get("user_id")?,
        day: row.try_get("day")?,
        input_tokens: to_u64(row.try_get("input_tokens")?, "input_tokens")?,
        output_tokens: to_u64(row.try_get("output_tokens")?, "output_tokens")?,
        cost_micro_usd: row.try_get("cost")?,
        request_count: to_u64(row.try_get("n")?, "count")?,
    })
}

/// One answer per offered record, in order: created now, or what is already
/// stored under its id (which must then have been found): the row, or `None`
/// where only the id's claim outlived a retired partition.
pub(super) fn stored_in_order(
    records: &[UsageRecord],
    created: &HashSet<String>,
    mut existing: HashMap<String, Option<UsageRecord>>,
) -> Result<Vec<Stored>> {
    records
        .iter()
        .map(|r| {
            let id = r.call_id.as_str();
            if created.contains(id) {
                return Ok(Stored::Created);
            }
            match existing.remove(id) {
                Some(Some(row)) => Ok(Stored::Existing(Box::new(row))),
                Some(None) => Ok(Stored::Retired),
                None => Err(StorageError::Internal(format!(
                    "call id {id:?} neither stored nor found"
                ))),
            }
        })
        .collect()
}
