//! Idempotent ingest: which records to store, and what each sender is told.
//!
//! A batch is validated record by record; the first valid record under each
//! call id is the one offered to storage, which stores it only if the id
//! is new and otherwise hands back the row it already has. Every item is then
//! judged against the row that stands for its id: the one just created, or the
//! one found. Equal in every field → DUPLICATE; different → a conflict. So a
//! record is never written twice and never overwritten, whatever the order in
//! which senders replay it.

use super::ValidationError;
use super::record::{RecordDraft, UsageRecord};
use std::collections::HashMap;

/// What storage did with one offered record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A new row was written.
    Created,
    /// The id was already recorded; this is the row there.
    Existing(Box<UsageRecord>),
    /// The id was recorded in a month that retention has since deleted: a
    /// redelivery is a duplicate (it was counted then), never a second row.
    Retired,
}

/// A different record already stands under this call id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "call id {call_id:?} is already recorded with a different {}",
    fields.join(", ")
)]
pub struct Conflict {
    pub call_id: String,
    /// The fields that differ (names only: never the values).
    pub fields: Vec<&'static str>,
}

/// What one item of a batch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    Created,
    Duplicate,
    Invalid(ValidationError),
    Conflict(Conflict),
}

#[derive(Debug, Clone)]
enum Item {
    Invalid(ValidationError),
    /// Offered to storage at this index.
    Offered(usize),
    /// A later record under an id offered at this index.
    Repeat(usize, UsageRecord),
}

/// A validated batch: what to offer storage, and how to answer each item.
#[derive(Debug, Clone)]
pub struct IngestPlan {
    offered: Vec<UsageRecord>,
    items: Vec<Item>,
}

impl IngestPlan {
    pub fn new(drafts: &[RecordDraft]) -> Self {
        let mut offered: Vec<UsageRecord> = Vec::new();
        let mut index_of: HashMap<String, usize> = HashMap::new();
        let items = drafts
            .iter()
            .map(|draft| match draft.validate() {
                Err(e) => Item::Invalid(e),
                Ok(record) => match index_of.get(record.call_id.as_str()) {
                    Some(&i) => Item::Repeat(i, record),
                    None => {
                        index_of.insert(record.call_id.as_str().to_owned(), offered.len());
                        offered.push(record);
                        Item::Offered(offered.len() - 1)
                    }
                },
            })
            .collect();
        Self { offered, items }
    }

    /// The records to offer storage: valid, one per call id.
    pub fn offered(&self) -> &[UsageRecord] {
        &self.offered
    }

    /// The answer for each item, in request order, given what storage did
    /// with each offered record (one [`Stored`] per offered record, in order).
    pub fn resolve(&self, stored: &[Stored]) -> Vec<ItemOutcome> {
        let standing = |i: usize| -> Option<&UsageRecord> {
            match stored.get(i)? {
                Stored::Created => self.offered.get(i),
                Stored::Existing(row) => Some(row),
                Stored::Retired => None,
            }
        };
        let judge = |record: &UsageRecord, row: Option<&UsageRecord>| match row {
            None => ItemOutcome::Invalid(ValidationError::new(
                "call_id",
                "was not stored (storage answered for fewer records than offered)",
            )),
            Some(row) => {
                let fields = row.differing_fields(record);
                if fields.is_empty() {
                    ItemOutcome::Duplicate
                } else {
                    ItemOutcome::Conflict(Conflict {
                        call_id: record.call_id.as_str().to_owned(),
                        fields,
                    })
                }
            }
        };
        self.items
            .iter()
            .map(|item| match item {
                Item::Invalid(e) => ItemOutcome::Invalid(e.clone()),
                Item::Offered(i) => match stored.get(*i) {
                    Some(Stored::Created) => ItemOutcome::Created,
                    Some(Stored::Retired) => ItemOutcome::Duplicate,
                    _ => judge(&self.offered[*i], standing(*i)),
                },
                Item::Repeat(i, _) if matches!(stored.get(*i), Some(Stored::Retired)) => {
                    ItemOutcome::Duplicate
                }
                Item::Repeat(i, record) => judge(record, standing(*i)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(id: &str, cost: i64) -> RecordDraft {
        RecordDraft {
            call_id: id.into(),
            created_at: Some((1_740_000_000, 0)),
            provider: "azure".into(),
            model: "gpt-4o".into(),
            cost_micro_usd: cost,
            outcome: 1,
            ..RecordDraft::default()
        }
    }

    #[test]
    fn repeats_are_judged_against_the_standing_row() {
        let drafts = [
            draft("a", 1),
            draft("b", 2),
            draft("a", 1),
            draft("a", 5),
            draft("", 1),
            draft("b", 2),
        ];
        let plan = IngestPlan::new(&drafts);
        assert_eq!(plan.offered().len(), 2);
        // "a" is new; "b" was already stored with a different cost.
        let b_row = draft("b", 3).validate().unwrap();
        let out = plan.resolve(&[Stored::Created, Stored::Existing(Box::new(b_row))]);
        assert_eq!(out[0], ItemOutcome::Created);
        assert!(matches!(&out[1], ItemOutcome::Conflict(c) if c.fields == ["cost_micro_usd"]));
        assert_eq!(out[2], ItemOutcome::Duplicate);
        assert!(matches!(&out[3], ItemOutcome::Conflict(_)));
        assert!(matches!(&out[4], ItemOutcome::Invalid(e) if e.field == "call_id"));
        assert!(matches!(&out[5], ItemOutcome::Conflict(_)));
    }

    #[test]
    fn an_identical_stored_row_is_a_duplicate() {
        let plan = IngestPlan::new(&[draft("a", 1)]);
        let row = draft("a", 1).validate().unwrap();
        assert_eq!(
            plan.resolve(&[Stored::Existing(Box::new(row))]),
            [ItemOutcome::Duplicate]
        );
    }
}
