//! The ledger's conformance suite: every rule, run on PostgreSQL and on the
//! embedded SQLite (each test on its own fresh database).

#[path = "conformance/ingest.rs"]
mod ingest;
#[path = "conformance/reports.rs"]
mod reports;
#[path = "conformance/retention.rs"]
mod retention;

use crate::support::{TestLedger, at};
use ingest::*;
use reports::*;
use retention::*;
use usage_accounting::domain::{ListDraft, RecordDraft, UsageRecord};

/// One `#[tokio::test]` per backend for each suite function.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let ledger = crate::support::TestLedger::postgres().await;
                    super::$name(&ledger).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let ledger = crate::support::TestLedger::sqlite().await;
                    super::$name(&ledger).await;
                }
            )*
        }
    };
}

conformance!(
    the_same_record_again_is_a_duplicate,
    a_different_record_under_a_used_id_is_a_conflict,
    invalid_records_are_rejected_naming_the_field,
    times_are_kept_to_the_microsecond,
    batches_answer_each_record,
    spend_counts_from_the_latest_reset_within_month_boundaries,
    budget_resets_are_idempotent,
    summaries_group_and_order_by_cost,
    list_pages_are_stable_while_records_arrive,
    list_filters_and_bad_tokens,
    retention_archives_whole_old_months,
    retention_can_delete,
);

/// A change to a valid record, and the field it should be caught on.
pub(super) type Mutation = (fn(&mut RecordDraft), &'static str);

pub(super) async fn all_time(t: &TestLedger) -> (i64, u64) {
    let s = t
        .ledger
        .spend(
            Some(at("1970-01-01T00:00:00Z")),
            Some(at("9999-01-01T00:00:00Z")),
        )
        .await
        .unwrap();
    (s.spent_micro_usd, s.record_count)
}

pub(super) async fn list_all(t: &TestLedger) -> Vec<UsageRecord> {
    let page = t
        .ledger
        .list(&ListDraft {
            page_size: 500,
            ..ListDraft::default()
        })
        .await
        .unwrap();
    assert!(page.next.is_none());
    page.records
}
