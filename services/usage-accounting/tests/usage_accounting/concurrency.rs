//! 50 concurrent senders replay the same 1,000 records, each in its own
//! random order and mix of single calls and batches (as router replicas and
//! their outboxes do): exactly 1,000 rows, each created exactly once, and
//! totals equal to an independent sum. On both backends.

use crate::support::{TestLedger, at, rec};
use chrono::Duration;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use usage_accounting::domain::{ItemOutcome, RecordDraft};

const SENDERS: u64 = 50;
const RECORDS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_counts_each_record_once() {
    replay(TestLedger::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_counts_each_record_once() {
    replay(TestLedger::sqlite().await).await;
}

fn records(rng: &mut StdRng) -> Vec<RecordDraft> {
    // Spread over a month boundary, with costs up to $50.
    let base = at("2025-01-25T00:00:00Z");
    (0..RECORDS)
        .map(|i| {
            let when = base + Duration::microseconds(rng.random_range(0..14 * 86_400_000_000));
            let provider = ["azure", "anthropic", "bedrock", "vertex"][i % 4];
            let mut r = rec(
                &format!("req-{i:04}"),
                when,
                provider,
                rng.random_range(0..50_000_000),
            );
            r.input_tokens = rng.random_range(0..100_000);
            r.output_tokens = rng.random_range(0..10_000);
            r
        })
        .collect()
}

async fn replay(t: TestLedger) {
    let mut rng = StdRng::seed_from_u64(7);
    let records = records(&mut rng);
    let expected_cost: i64 = records.iter().map(|r| r.cost_micro_usd).sum();
    let expected_input: u64 = records.iter().map(|r| r.input_tokens).sum();

    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let ledger = t.ledger.clone();
            let mut mine = records.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(1_000 + sender);
                mine.shuffle(&mut rng);
                let mut results: Vec<(String, ItemOutcome)> = Vec::with_capacity(RECORDS);
                let mut rest = &mine[..];
                while !rest.is_empty() {
                    // Mostly batches of up to 100, sometimes a single call.
                    let n = if rng.random_bool(0.2) {
                        1
                    } else {
                        rng.random_range(1..=100)
                    };
                    let (chunk, tail) = rest.split_at(n.min(rest.len()));
                    rest = tail;
                    if let [one] = chunk {
                        let outcome = ledger.record(one.clone()).await.unwrap();
                        results.push((one.call_id.clone(), outcome));
                    } else {
                        let outcomes = ledger.record_batch(chunk).await.unwrap();
                        results.extend(chunk.iter().map(|r| r.call_id.clone()).zip(outcomes));
                    }
                }
                results
            })
        })
        .collect();

    let mut created: HashMap<String, usize> = HashMap::new();
    for sender in senders {
        for (id, outcome) in sender.await.unwrap() {
            match outcome {
                ItemOutcome::Created => *created.entry(id).or_default() += 1,
                ItemOutcome::Duplicate => {}
                other => panic!("{id}: unexpected {other:?}"),
            }
        }
    }
    assert_eq!(created.len(), RECORDS, "every record created once");
    assert!(created.values().all(|n| *n == 1), "no record created twice");

    let spend = t
        .ledger
        .spend(
            Some(at("2025-01-01T00:00:00Z")),
            Some(at("2025-03-01T00:00:00Z")),
        )
        .await
        .unwrap();
    assert_eq!(spend.record_count, RECORDS as u64);
    assert_eq!(spend.spent_micro_usd, expected_cost);
    let summary = t.ledger.summary(None, None, &[1]).await.unwrap();
    assert_eq!(summary.total.request_count, RECORDS as u64);
    assert_eq!(summary.total.cost_micro_usd, expected_cost);
    assert_eq!(summary.total.input_tokens, expected_input);
    assert_eq!(summary.rows.len(), 4);
}
