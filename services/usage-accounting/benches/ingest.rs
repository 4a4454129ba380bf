//! Sustained ingest on PostgreSQL: records/s for single `RecordUsage` calls
//! (sequential and 16 in flight) and for batches of 100, 500 and 1000, plus
//! the replay of an already-stored batch (the router's outbox after an
//! outage). Measured at the ledger (domain + storage), where the work is;
//! gRPC adds its own per-call cost on top.
//!
//! `cargo bench -p usage-accounting --bench ingest` (needs PostgreSQL on
//! 127.0.0.1:5432, like the tests). Results: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use usage_accounting::Ledger;
use usage_accounting::domain::RecordDraft;
use usage_accounting::storage::{DynStore, PostgresStore};

static NEXT: AtomicU64 = AtomicU64::new(0);

fn record() -> RecordDraft {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let when = Utc::now() - Duration::seconds((n % 86_400) as i64);
    RecordDraft {
        call_id: format!("bench-{n:012}"),
        created_at: Some((when.timestamp(), 0)),
        provider: ["azure", "anthropic", "bedrock"][(n % 3) as usize].into(),
        model: "gpt-4o-mini".into(),
        input_tokens: 1_200,
        output_tokens: 300,
        cost_micro_usd: 360,
        price_version: "2025-01".into(),
        user_id: format!("learner-{}", n % 1000),
        session_id: format!("session-{}", n % 5000),
        calling_service: "llm-router".into(),
        tier: "cost_effective".into(),
        outcome: 1,
        latency_ms: 850,
        operation: "chat".into(),
        request_id: format!("bench-request-{}", n / 4),
    }
}

fn ingest(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The pool spawns its maintenance task on the current runtime.
    let _runtime = rt.enter();
    let db = rt.block_on(test_support::TestDb::create());
    let store: DynStore = Arc::new(PostgresStore::connect_lazy(&db.url, 16).unwrap());
    rt.block_on(store.migrate()).unwrap();
    let ledger = Ledger::new(store);

    let mut group = c.benchmark_group("ingest_postgres");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(5));

    group.throughput(Throughput::Elements(1));
    group.bench_function("single_sequential", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    ledger.record(record()).await.unwrap();
                }
                start.elapsed()
            })
        })
    });

    const IN_FLIGHT: u64 = 16;
    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.bench_function("single_16_in_flight", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let calls = (0..IN_FLIGHT).map(|_| {
                        let ledger = ledger.clone();
                        tokio::spawn(async move { ledger.record(record()).await.unwrap() })
                    });
                    for call in futures::future::join_all(calls).await {
                        call.unwrap();
                    }
                }
                start.elapsed()
            })
        })
    });

    for size in [100u64, 500, 1000] {
        group.throughput(Throughput::Elements(size));
        group.bench_with_input(BenchmarkId::new("batch", size), &size, |b, &size| {
            b.iter_custom(|iters| {
                let batches: Vec<Vec<RecordDraft>> = (0..iters)
                    .map(|_| (0..size).map(|_| record()).collect())
                    .collect();
                rt.block_on(async {
                    let start = Instant::now();
                    for batch in &batches {
                        ledger.record_batch(batch).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }

    let stored: Vec<RecordDraft> = (0..500).map(|_| record()).collect();
    rt.block_on(ledger.record_batch(&stored)).unwrap();
    group.throughput(Throughput::Elements(500));
    group.bench_function("replay_500_duplicates", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    ledger.record_batch(&stored).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    rt.block_on(async move { drop(ledger) });
    drop(db);
}

criterion_group!(benches, ingest);
criterion_main!(benches);
