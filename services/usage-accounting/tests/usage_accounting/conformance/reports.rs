//! Reports: spend with resets and month edges, summaries, the paged list.

use crate::support::{TestLedger, at, just_before, rec, wire};
use chrono::Duration;
use usage_accounting::domain::{ListDraft, ResetDraft};
use usage_accounting::ledger::LedgerError;

pub(super) async fn spend_counts_from_the_latest_reset_within_month_boundaries(t: &TestLedger) {
    let feb = at("2025-02-01T00:00:00Z");
    let mar = at("2025-03-01T00:00:00Z");
    let records = [
        rec("jan-last", just_before(feb), "azure", 1),
        rec("feb-first", feb, "azure", 10),
        rec("feb-mid", at("2025-02-15T00:00:00Z"), "azure", 100),
        rec("feb-last", just_before(mar), "azure", 1_000),
        rec("mar-first", mar, "azure", 10_000),
    ];
    t.ledger.record_batch(&records).await.unwrap();
    let spend = t.ledger.spend(Some(feb), Some(mar)).await.unwrap();
    assert_eq!((spend.spent_micro_usd, spend.record_count), (1_110, 3));
    assert_eq!(spend.counted_from, feb);

    // A reset inside the period: only what came at or after it counts.
    let reset = |id: &str, when| ResetDraft {
        reset_id: id.into(),
        reset_at: wire(when),
        actor: "ops@example.com".into(),
        reason: "test".into(),
    };
    assert!(
        t.ledger
            .record_reset(&reset("r1", at("2025-02-10T00:00:00Z")))
            .await
            .unwrap()
    );
    let spend = t.ledger.spend(Some(feb), Some(mar)).await.unwrap();
    assert_eq!((spend.spent_micro_usd, spend.record_count), (1_100, 2));
    assert_eq!(spend.counted_from, at("2025-02-10T00:00:00Z"));
    // The latest reset wins; one exactly at a record's time counts that record.
    t.ledger
        .record_reset(&reset("r2", at("2025-02-15T00:00:00Z")))
        .await
        .unwrap();
    let spend = t.ledger.spend(Some(feb), Some(mar)).await.unwrap();
    assert_eq!((spend.spent_micro_usd, spend.record_count), (1_100, 2));
    assert_eq!(spend.counted_from, at("2025-02-15T00:00:00Z"));
    // Resets outside the period change nothing in it; March starts afresh.
    t.ledger.record_reset(&reset("r3", mar)).await.unwrap();
    let spend = t.ledger.spend(Some(feb), Some(mar)).await.unwrap();
    assert_eq!(spend.spent_micro_usd, 1_100);
    let april = at("2025-04-01T00:00:00Z");
    let spend = t.ledger.spend(Some(mar), Some(april)).await.unwrap();
    assert_eq!((spend.spent_micro_usd, spend.counted_from), (10_000, mar));
    // January, unaffected.
    let jan = t
        .ledger
        .spend(Some(at("2025-01-01T00:00:00Z")), Some(feb))
        .await
        .unwrap();
    assert_eq!((jan.spent_micro_usd, jan.record_count), (1, 1));
    // An empty period spends nothing.
    let empty = t
        .ledger
        .spend(Some(april), Some(at("2025-05-01T00:00:00Z")))
        .await
        .unwrap();
    assert_eq!((empty.spent_micro_usd, empty.record_count), (0, 0));

    for (start, end, field) in [
        (None, Some(mar), "period_start"),
        (Some(feb), None, "period_end"),
        (Some(mar), Some(feb), "period_end"),
    ] {
        match t.ledger.spend(start, end).await {
            Err(LedgerError::Invalid(e)) => assert_eq!(e.field, field),
            other => panic!("expected {field} to be refused, got {other:?}"),
        }
    }
}

pub(super) async fn budget_resets_are_idempotent(t: &TestLedger) {
    let reset = ResetDraft {
        reset_id: "reset-1".into(),
        reset_at: wire(at("2025-02-10T00:00:00Z")),
        actor: "ops@example.com".into(),
        reason: "new contract".into(),
    };
    assert!(t.ledger.record_reset(&reset).await.unwrap());
    assert!(!t.ledger.record_reset(&reset).await.unwrap());
    let moved = ResetDraft {
        reset_at: wire(at("2025-02-11T00:00:00Z")),
        ..reset.clone()
    };
    assert!(matches!(
        t.ledger.record_reset(&moved).await,
        Err(LedgerError::Conflict(_))
    ));
    let anonymous = ResetDraft {
        reset_id: "reset-2".into(),
        actor: String::new(),
        ..reset.clone()
    };
    assert!(matches!(
        t.ledger.record_reset(&anonymous).await,
        Err(LedgerError::Invalid(e)) if e.field == "actor"
    ));
}

pub(super) async fn summaries_group_and_order_by_cost(t: &TestLedger) {
    let day1 = at("2025-02-01T00:00:00Z");
    let day2 = at("2025-02-02T23:59:59.999999Z");
    let mut records = vec![
        rec("a1", day1, "azure", 300),
        rec("a2", day2, "azure", 200),
        rec("b1", day1, "anthropic", 1_000),
        rec("b2", day2, "bedrock", 50),
        rec("outside", at("2025-03-01T00:00:00Z"), "azure", 99_999),
    ];
    records[1].user_id = "learner-2".into();
    records[3].model = "azure-model".into();
    t.ledger.record_batch(&records).await.unwrap();
    let (start, end) = (Some(day1), Some(at("2025-03-01T00:00:00Z")));

    let by_provider = t.ledger.summary(start, end, &[1]).await.unwrap();
    let rows: Vec<_> = by_provider
        .rows
        .iter()
        .map(|r| (r.provider.as_str(), r.cost_micro_usd, r.request_count))
        .collect();
    assert_eq!(
        rows,
        [
            ("anthropic", 1_000, 1),
            ("azure", 500, 2),
            ("bedrock", 50, 1)
        ]
    );
    assert!(
        by_provider
            .rows
            .iter()
            .all(|r| r.model.is_empty() && r.day.is_empty())
    );
    assert_eq!(by_provider.total.cost_micro_usd, 1_550);
    assert_eq!(by_provider.total.request_count, 4);
    assert_eq!(by_provider.total.input_tokens, 400);
    assert_eq!(by_provider.total.output_tokens, 200);

    let by_model = t.ledger.summary(start, end, &[2]).await.unwrap();
    let rows: Vec<_> = by_model
        .rows
        .iter()
        .map(|r| (r.model.as_str(), r.cost_micro_usd))
        .collect();
    assert_eq!(rows, [("anthropic-model", 1_000), ("azure-model", 550)]);

    let by_user_day = t.ledger.summary(start, end, &[3, 4]).await.unwrap();
    let rows: Vec<_> = by_user_day
        .rows
        .iter()
        .map(|r| (r.user_id.as_str(), r.day.as_str(), r.cost_micro_usd))
        .collect();
    assert_eq!(
        rows,
        [
            ("learner-1", "2025-02-01", 1_300),
            ("learner-2", "2025-02-02", 200),
            ("learner-1", "2025-02-02", 50),
        ]
    );

    let total = t.ledger.summary(start, end, &[]).await.unwrap();
    assert_eq!(total.rows.len(), 1);
    assert_eq!(total.rows[0], total.total);
    assert_eq!(total.total.cost_micro_usd, 1_550);
    // Open ends: everything.
    let everything = t.ledger.summary(None, None, &[1, 2, 3, 4]).await.unwrap();
    assert_eq!(everything.total.cost_micro_usd, 1_550 + 99_999);
    assert_eq!(everything.rows.len(), 5);
    // Nothing in range: no groups, zero totals.
    let none = t
        .ledger
        .summary(Some(at("2030-01-01T00:00:00Z")), None, &[1])
        .await
        .unwrap();
    assert!(none.rows.is_empty());
    assert_eq!(none.total.request_count, 0);

    for keys in [&[0][..], &[5], &[1, 1]] {
        assert!(matches!(
            t.ledger.summary(start, end, keys).await,
            Err(LedgerError::Invalid(e)) if e.field == "group_by"
        ));
    }
}

pub(super) async fn list_pages_are_stable_while_records_arrive(t: &TestLedger) {
    let base = at("2025-02-10T00:00:00Z");
    // 30 records, several sharing a timestamp (the id breaks the tie).
    let initial: Vec<_> = (0..30)
        .map(|i| {
            rec(
                &format!("r{i:02}"),
                base + Duration::seconds(i / 3),
                "azure",
                1,
            )
        })
        .collect();
    t.ledger.record_batch(&initial).await.unwrap();
    let mut expected: Vec<_> = initial.iter().map(|r| r.call_id.clone()).collect();
    expected.sort_by_key(|id| {
        let i: i64 = id[1..].parse().unwrap();
        std::cmp::Reverse((i / 3, id.clone()))
    });

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = t
            .ledger
            .list(&ListDraft {
                page_size: 7,
                page_token: token.clone(),
                ..ListDraft::default()
            })
            .await
            .unwrap();
        assert!(page.records.len() <= 7);
        seen.extend(page.records.iter().map(|r| r.call_id.as_str().to_owned()));
        pages += 1;
        // Records arrive between pages: newer ones, and late ones at the
        // very position of the cursor and before it.
        let n = pages;
        let newer = rec(&format!("new{n}"), base + Duration::hours(1), "azure", 1);
        let late = rec(&format!("late{n}"), base - Duration::hours(1), "azure", 1);
        t.ledger.record_batch(&[newer, late]).await.unwrap();
        match page.next {
            Some(next) => token = next.encode(),
            None => break,
        }
    }
    // Every record that was there at the start, once each, in order; the
    // late arrivals older than the cursor show up after them; no newer one.
    let initial_seen: Vec<_> = seen
        .iter()
        .filter(|id| id.starts_with('r'))
        .cloned()
        .collect();
    assert_eq!(initial_seen, expected);
    assert!(!seen.iter().any(|id| id.starts_with("new")));
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a record was repeated: {seen:?}");
    assert_eq!(pages, 5);
}

pub(super) async fn list_filters_and_bad_tokens(t: &TestLedger) {
    let when = at("2025-02-10T00:00:00Z");
    let mut a = rec("a", when, "azure", 1);
    a.session_id = "s-a".into();
    let mut b = rec("b", when + Duration::seconds(1), "anthropic", 2);
    b.user_id = "learner-2".into();
    let mut c = rec("c", at("2025-03-10T00:00:00Z"), "azure", 3);
    // One caller request, two calls.
    c.request_id = "rq-a".into();
    t.ledger.record_batch(&[a, b, c]).await.unwrap();

    let ids = |draft: ListDraft| async move {
        let page = t.ledger.list(&draft).await.unwrap();
        page.records
            .into_iter()
            .map(|r| r.call_id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(ListDraft::default()).await, ["c", "b", "a"]);
    let by = |f: fn(&mut ListDraft)| {
        let mut d = ListDraft::default();
        f(&mut d);
        d
    };
    assert_eq!(ids(by(|d| d.provider = "azure".into())).await, ["c", "a"]);
    assert_eq!(ids(by(|d| d.model = "anthropic-model".into())).await, ["b"]);
    assert_eq!(ids(by(|d| d.user_id = "learner-2".into())).await, ["b"]);
    assert_eq!(ids(by(|d| d.session_id = "s-a".into())).await, ["a"]);
    assert_eq!(ids(by(|d| d.request_id = "rq-a".into())).await, ["c", "a"]);
    assert_eq!(ids(by(|d| d.request_id = "rq-b".into())).await, ["b"]);
    assert_eq!(
        ids(by(|d| d.end = Some(at("2025-03-01T00:00:00Z")))).await,
        ["b", "a"]
    );
    assert_eq!(
        ids(by(|d| d.start = Some(at("2025-02-10T00:00:00.000001Z")))).await,
        ["c", "b"]
    );

    // A token only continues the query it came from.
    let first = t
        .ledger
        .list(&ListDraft {
            page_size: 1,
            ..ListDraft::default()
        })
        .await
        .unwrap();
    let token = first.next.unwrap().encode();
    let refused = |d: ListDraft| async move {
        match t.ledger.list(&d).await {
            Err(LedgerError::Invalid(e)) => e,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    };
    let e = refused(ListDraft {
        provider: "azure".into(),
        page_token: token.clone(),
        ..ListDraft::default()
    })
    .await;
    assert_eq!(e.field, "page_token");
    let e = refused(ListDraft {
        page_token: "not-a-token".into(),
        ..ListDraft::default()
    })
    .await;
    assert_eq!(e.field, "page_token");
    let e = refused(ListDraft {
        page_size: 501,
        ..ListDraft::default()
    })
    .await;
    assert_eq!(e.field, "page_size");
    // The page size may change between pages.
    let rest = t
        .ledger
        .list(&ListDraft {
            page_size: 10,
            page_token: token,
            ..ListDraft::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.records.len(), 2);
    assert!(rest.next.is_none());
}
