//! Property: for random records (many on month edges) and random periods,
//! GetSpend and GetUsageSummary equal an independent in-test sum, on both
//! backends. Each case writes into its own "era" (months no other case
//! touches) of one database, so cases are cheap and still see other cases'
//! rows around them, which must not leak into their totals.

use crate::support::{TestLedger, at, rec};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use usage_accounting::domain::time::add_months;

const PROVIDERS: [&str; 3] = ["azure", "anthropic", "bedrock"];

#[derive(Debug, Clone)]
struct Rec {
    month: i32,
    /// Where in the month: an edge or an offset in seconds.
    place: Place,
    provider: usize,
    cost: i64,
    input: u64,
}

#[derive(Debug, Clone)]
enum Place {
    First,
    Second,
    Last,
    Seconds(i64),
}

#[derive(Debug, Clone)]
struct Case {
    records: Vec<Rec>,
    /// Start: a month edge plus an offset (µs, may be 0); length in µs or a whole month.
    start_month: i32,
    start_offset_us: i64,
    length: Option<i64>,
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        Just(Place::First),
        Just(Place::Second),
        Just(Place::Last),
        (0..28 * 86_400i64).prop_map(Place::Seconds),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let record = (
        0..4i32,
        place(),
        0..PROVIDERS.len(),
        0..5_000_000_000i64,
        0..1_000_000u64,
    )
        .prop_map(|(month, place, provider, cost, input)| Rec {
            month,
            place,
            provider,
            cost,
            input,
        });
    (
        prop::collection::vec(record, 0..60),
        0..4i32,
        prop_oneof![Just(0i64), 0..20 * 86_400_000_000i64],
        prop::option::of(1..70 * 86_400_000_000i64),
    )
        .prop_map(|(records, start_month, start_offset_us, length)| Case {
            records,
            start_month,
            start_offset_us,
            length,
        })
}

/// Each case's months: 8 months apart, so periods (at most 4 + 3 months) never meet.
static ERA: AtomicI32 = AtomicI32::new(0);

fn month(era_start: DateTime<Utc>, n: i32) -> DateTime<Utc> {
    add_months(era_start, n).unwrap()
}

async fn check(t: &TestLedger, case: Case) -> Result<(), TestCaseError> {
    let era = ERA.fetch_add(1, Ordering::SeqCst);
    let era_start = month(at("2030-01-01T00:00:00Z"), era * 8);
    let times: Vec<DateTime<Utc>> = case
        .records
        .iter()
        .map(|r| {
            let start = month(era_start, r.month);
            let end = month(era_start, r.month + 1);
            match r.place {
                Place::First => start,
                Place::Second => start + Duration::microseconds(1),
                Place::Last => end - Duration::microseconds(1),
                Place::Seconds(s) => start + Duration::seconds(s),
            }
        })
        .collect();
    let drafts: Vec<_> = case
        .records
        .iter()
        .zip(&times)
        .enumerate()
        .map(|(i, (r, when))| {
            let mut d = rec(
                &format!("era{era}-{i}"),
                *when,
                PROVIDERS[r.provider],
                r.cost,
            );
            d.input_tokens = r.input;
            d
        })
        .collect();
    t.ledger.record_batch(&drafts).await.unwrap();

    let start = month(era_start, case.start_month) + Duration::microseconds(case.start_offset_us);
    let end = match case.length {
        Some(us) => start + Duration::microseconds(us),
        None => month(era_start, case.start_month + 1),
    };
    let inside: Vec<usize> = (0..times.len())
        .filter(|&i| times[i] >= start && times[i] < end)
        .collect();

    let spend = t.ledger.spend(Some(start), Some(end)).await.unwrap();
    let expected_cost: i64 = inside.iter().map(|&i| case.records[i].cost).sum();
    prop_assert_eq!(spend.spent_micro_usd, expected_cost);
    prop_assert_eq!(spend.record_count, inside.len() as u64);

    // By provider and UTC day.
    let mut expected: BTreeMap<(String, String), (i64, u64, u64)> = BTreeMap::new();
    for &i in &inside {
        let key = (
            PROVIDERS[case.records[i].provider].to_owned(),
            times[i].format("%Y-%m-%d").to_string(),
        );
        let e = expected.entry(key).or_default();
        e.0 += case.records[i].cost;
        e.1 += case.records[i].input;
        e.2 += 1;
    }
    let summary = t
        .ledger
        .summary(Some(start), Some(end), &[1, 4])
        .await
        .unwrap();
    let got: BTreeMap<(String, String), (i64, u64, u64)> = summary
        .rows
        .iter()
        .map(|r| {
            (
                (r.provider.clone(), r.day.clone()),
                (r.cost_micro_usd, r.input_tokens, r.request_count),
            )
        })
        .collect();
    prop_assert_eq!(got.len(), summary.rows.len());
    prop_assert_eq!(&got, &expected);
    prop_assert_eq!(summary.total.cost_micro_usd, expected_cost);
    prop_assert_eq!(summary.total.request_count, inside.len() as u64);
    // Highest cost first.
    prop_assert!(
        summary
            .rows
            .windows(2)
            .all(|w| w[0].cost_micro_usd >= w[1].cost_micro_usd)
    );
    Ok(())
}

fn run(make: fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = TestLedger>>>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ledger = rt.block_on(make());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(), |case| rt.block_on(check(&ledger, case)));
    // The pool and the test database go inside the runtime.
    rt.block_on(async move { drop(ledger) });
    result.unwrap();
}

#[test]
fn postgres_totals_equal_an_independent_sum() {
    run(|| Box::pin(TestLedger::postgres()));
}

#[test]
fn sqlite_totals_equal_an_independent_sum() {
    run(|| Box::pin(TestLedger::sqlite()));
}
