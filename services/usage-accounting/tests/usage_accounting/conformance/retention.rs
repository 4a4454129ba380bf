//! Retention: whole old months archived or deleted, idempotency kept.

use super::{all_time, list_all};
use crate::support::{TestLedger, at, just_before, rec};
use usage_accounting::config::Retention;
use usage_accounting::domain::{ItemOutcome, RecordDraft};
use usage_accounting::ledger::LedgerError;
use usage_accounting::retention;
use usage_accounting::storage::RetentionAction;

async fn seed_months(t: &TestLedger) {
    // Two records in each month from October 2024 to March 2025, one at each edge.
    let mut records = Vec::new();
    let mut month = at("2024-10-01T00:00:00Z");
    for i in 0..6 {
        let next = usage_accounting::domain::time::add_months(month, 1).unwrap();
        records.push(rec(&format!("m{i}-first"), month, "azure", 1 + i));
        records.push(rec(
            &format!("m{i}-last"),
            just_before(next),
            "azure",
            10 * (1 + i),
        ));
        month = next;
    }
    t.ledger.record_batch(&records).await.unwrap();
}

pub(super) async fn retention_archives_whole_old_months(t: &TestLedger) {
    seed_months(t).await;
    let now = at("2025-03-17T09:00:00Z");
    let policy = Retention {
        keep_months: 2,
        action: RetentionAction::Archive,
    };
    // Dry run: counts, moves nothing.
    let preview = retention::run_once(t.store(), policy, now, true)
        .await
        .unwrap();
    let months: Vec<_> = preview
        .iter()
        .map(|m| m.month.format("%Y-%m").to_string())
        .collect();
    assert_eq!(months, ["2024-10", "2024-11", "2024-12"]);
    assert_eq!(preview[0].retired.rows, 2);
    assert_eq!(preview[0].retired.cost_micro_usd, 11);
    assert_eq!(all_time(t).await.1, 12);

    let done = retention::run_once(t.store(), policy, now, false)
        .await
        .unwrap();
    assert_eq!(done, preview);
    // January to March stay, whole; the rest left the ledger.
    let left: Vec<_> = list_all(t)
        .await
        .iter()
        .map(|r| r.call_id.as_str().to_owned())
        .collect();
    assert_eq!(
        left,
        [
            "m5-last", "m5-first", "m4-last", "m4-first", "m3-last", "m3-first"
        ]
    );
    // Nothing more to do on a second run.
    assert!(
        retention::run_once(t.store(), policy, now, false)
            .await
            .unwrap()
            .is_empty()
    );

    // An archived record redelivered is still a duplicate, never a second row.
    let archived = rec("m0-first", at("2024-10-01T00:00:00Z"), "azure", 1);
    assert_eq!(
        t.ledger.record(archived.clone()).await.unwrap(),
        ItemOutcome::Duplicate
    );
    let out = t
        .ledger
        .record_batch(std::slice::from_ref(&archived))
        .await
        .unwrap();
    assert_eq!(out, [ItemOutcome::Duplicate]);
    let changed = RecordDraft {
        cost_micro_usd: 2,
        ..archived
    };
    assert!(matches!(
        t.ledger.record(changed).await,
        Err(LedgerError::Conflict(_))
    ));
    assert_eq!(all_time(t).await.1, 6);
    // Keeping forever does nothing.
    let forever = Retention {
        keep_months: 0,
        action: RetentionAction::Archive,
    };
    assert!(
        retention::run_once(t.store(), forever, now, false)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn retention_can_delete(t: &TestLedger) {
    seed_months(t).await;
    let policy = Retention {
        keep_months: 1,
        action: RetentionAction::Delete,
    };
    let done = retention::run_once(t.store(), policy, at("2025-03-01T00:00:00Z"), false)
        .await
        .unwrap();
    assert_eq!(done.len(), 4);
    assert_eq!(done.iter().map(|m| m.retired.rows).sum::<u64>(), 8);
    assert_eq!(all_time(t).await, (5 + 50 + 6 + 60, 4));
}
