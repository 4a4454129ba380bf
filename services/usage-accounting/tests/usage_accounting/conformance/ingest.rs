//! Recording: idempotency, conflicts, validation, batches.

use super::{Mutation, all_time, list_all};
use crate::support::{TestLedger, at, rec};
use usage_accounting::domain::ItemOutcome;
use usage_accounting::ledger::LedgerError;

pub(super) async fn the_same_record_again_is_a_duplicate(t: &TestLedger) {
    let r = rec("req-1", at("2025-02-10T12:00:00Z"), "azure", 1_234_567);
    assert_eq!(
        t.ledger.record(r.clone()).await.unwrap(),
        ItemOutcome::Created
    );
    assert_eq!(
        t.ledger.record(r.clone()).await.unwrap(),
        ItemOutcome::Duplicate
    );
    assert_eq!(
        t.ledger.record(r.clone()).await.unwrap(),
        ItemOutcome::Duplicate
    );
    assert_eq!(all_time(t).await, (1_234_567, 1));
    let stored = list_all(t).await;
    assert_eq!(stored.len(), 1);
    // What comes back is what was sent, field for field.
    assert_eq!(stored[0].to_draft(), r);
}

pub(super) async fn a_different_record_under_a_used_id_is_a_conflict(t: &TestLedger) {
    let original = rec("req-1", at("2025-02-10T12:00:00Z"), "azure", 1_000);
    t.ledger.record(original.clone()).await.unwrap();
    let mutations: Vec<Mutation> = vec![
        (|d| d.cost_micro_usd += 1, "cost_micro_usd"),
        (|d| d.input_tokens += 1, "input_tokens"),
        (|d| d.provider = "anthropic".into(), "provider"),
        (
            |d| d.created_at = Some((d.created_at.unwrap().0 + 1, 0)),
            "created_at",
        ),
        (|d| d.outcome = 3, "outcome"),
        (|d| d.tier.clear(), "tier"),
        (|d| d.user_id = "someone-else".into(), "user_id"),
    ];
    for (mutate, field) in mutations {
        let mut other = original.clone();
        mutate(&mut other);
        match t.ledger.record(other).await {
            Err(LedgerError::Conflict(message)) => {
                assert!(message.contains("req-1"), "{message}");
                assert!(message.contains(field), "{message} should name {field}");
            }
            other => panic!("expected a conflict on {field}, got {other:?}"),
        }
    }
    // Never an overwrite.
    assert_eq!(list_all(t).await[0].to_draft(), original);
    assert_eq!(all_time(t).await, (1_000, 1));
}

pub(super) async fn invalid_records_are_rejected_naming_the_field(t: &TestLedger) {
    let cases: Vec<Mutation> = vec![
        (|d| d.call_id.clear(), "record.call_id"),
        (|d| d.provider = "  ".into(), "record.provider"),
        (|d| d.model.clear(), "record.model"),
        (|d| d.created_at = None, "record.created_at"),
        (|d| d.cost_micro_usd = -5, "record.cost_micro_usd"),
        (|d| d.input_tokens = u64::MAX, "record.input_tokens"),
        (
            |d| d.output_tokens = i64::MAX as u64 + 1,
            "record.output_tokens",
        ),
        (|d| d.latency_ms = u64::MAX, "record.latency_ms"),
        (|d| d.outcome = 0, "record.outcome"),
        (|d| d.outcome = 42, "record.outcome"),
        (|d| d.tier = "premium".into(), "record.tier"),
        (|d| d.operation = "completion".into(), "record.operation"),
        (|d| d.session_id = "nul\0byte".into(), "record.session_id"),
        (|d| d.created_at = Some((0, -1)), "record.created_at"),
    ];
    for (i, (mutate, field)) in cases.into_iter().enumerate() {
        let mut draft = rec(&format!("bad-{i}"), at("2025-02-10T12:00:00Z"), "azure", 1);
        mutate(&mut draft);
        match t.ledger.record(draft).await {
            Err(LedgerError::Invalid(e)) => assert_eq!(e.field, field, "{e}"),
            other => panic!("expected {field} to be rejected, got {other:?}"),
        }
    }
    // The largest values that fit are accepted.
    let mut max = rec(
        "max",
        at("2025-02-10T12:00:00Z"),
        "azure",
        999_999_999_999_999_999,
    );
    max.input_tokens = i64::MAX as u64;
    max.output_tokens = i64::MAX as u64;
    assert_eq!(t.ledger.record(max).await.unwrap(), ItemOutcome::Created);
    assert_eq!(all_time(t).await.1, 1);
}

pub(super) async fn times_are_kept_to_the_microsecond(t: &TestLedger) {
    let mut r = rec("req-ns", at("2025-02-10T12:00:00Z"), "azure", 1);
    r.created_at = Some((r.created_at.unwrap().0, 123_456_789));
    assert_eq!(
        t.ledger.record(r.clone()).await.unwrap(),
        ItemOutcome::Created
    );
    // The same microsecond is the same time (PostgreSQL keeps microseconds).
    r.created_at = Some((r.created_at.unwrap().0, 123_456_001));
    assert_eq!(
        t.ledger.record(r.clone()).await.unwrap(),
        ItemOutcome::Duplicate
    );
    let stored = list_all(t).await;
    assert_eq!(stored[0].created_at.timestamp_subsec_nanos(), 123_456_000);
}

pub(super) async fn batches_answer_each_record(t: &TestLedger) {
    let when = at("2025-03-05T08:00:00Z");
    t.ledger
        .record(rec("old-same", when, "azure", 10))
        .await
        .unwrap();
    t.ledger
        .record(rec("old-diff", when, "azure", 10))
        .await
        .unwrap();
    let batch = vec![
        rec("new-1", when, "azure", 1),
        rec("new-1", when, "azure", 1),
        rec("new-1", when, "azure", 2),
        rec("", when, "azure", 1),
        rec("old-same", when, "azure", 10),
        rec("old-diff", when, "azure", 11),
        rec("new-2", when, "anthropic", 3),
    ];
    let out = t.ledger.record_batch(&batch).await.unwrap();
    assert_eq!(out.len(), batch.len());
    assert_eq!(out[0], ItemOutcome::Created);
    assert_eq!(out[1], ItemOutcome::Duplicate);
    assert!(matches!(&out[2], ItemOutcome::Conflict(c) if c.fields == ["cost_micro_usd"]));
    assert!(matches!(&out[3], ItemOutcome::Invalid(e) if e.field == "call_id"));
    assert_eq!(out[4], ItemOutcome::Duplicate);
    assert!(matches!(&out[5], ItemOutcome::Conflict(_)));
    assert_eq!(out[6], ItemOutcome::Created);
    assert_eq!(all_time(t).await, (10 + 10 + 1 + 3, 4));

    // The whole batch again: nothing new.
    let again = t.ledger.record_batch(&batch).await.unwrap();
    assert_eq!(again[0], ItemOutcome::Duplicate);
    assert_eq!(again[6], ItemOutcome::Duplicate);
    assert_eq!(all_time(t).await.1, 4);

    assert!(t.ledger.record_batch(&[]).await.unwrap().is_empty());
    let full: Vec<_> = (0..1000)
        .map(|i| rec(&format!("full-{i}"), when, "azure", 1))
        .collect();
    let out = t.ledger.record_batch(&full).await.unwrap();
    assert!(out.iter().all(|o| *o == ItemOutcome::Created));
    let mut too_many = full.clone();
    too_many.push(rec("one-more", when, "azure", 1));
    match t.ledger.record_batch(&too_many).await {
        Err(LedgerError::Invalid(e)) => assert_eq!(e.field, "records"),
        other => panic!("expected the batch to be refused, got {other:?}"),
    }
    assert_eq!(all_time(t).await.1, 1004);
}
