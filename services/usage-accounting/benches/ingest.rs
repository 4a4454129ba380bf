//! Sustained ingest on PostgreSQL: records/s for single `RecordUsage` calls
//! (sequential and 16 in flight) and for batches of 100, 500 and 1000, plus
//! the replay of an already-stored batch (the router's outbox after an
//! outage). Measured at the ledger (domain + storage), where the work is;
//! gRPC adds its own per-call cost on top.
//!
//! The ledger first holds `INGEST_PRELOAD_ROWS` rows (default 20 000 000,
//! `0` for an empty ledger), generated in bulk by PostgreSQL itself and
//! spread over the last twelve months (one partition each), so the figures
//! are those of a ledger with history: the id claims go into an index of
//! that many ids, the rows into this month's partition.
//!
//! `cargo bench -p usage-accounting --bench ingest` (needs PostgreSQL on
//! 127.0.0.1:5432, like the tests; not run in CI). Results: docs/BENCHMARKS.md.
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
    rt.block_on(preload(&db.url));
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

/// Rows generated per statement while preloading.
const PRELOAD_CHUNK: i64 = 1_000_000;

/// Fills the ledger with `INGEST_PRELOAD_ROWS` rows of the last twelve months.
async fn preload(url: &str) {
    let rows: i64 = std::env::var("INGEST_PRELOAD_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    if rows <= 0 {
        return;
    }
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let started = Instant::now();
    for months_ago in 0..13 {
        sqlx::query(
            "SELECT fe_ensure_month_partition('api_usage_log', now() - make_interval(months => $1))",
        )
        .bind(months_ago)
        .execute(&pool)
        .await
        .unwrap();
    }
    let mut from = 0;
    while from < rows {
        let to = (from + PRELOAD_CHUNK).min(rows);
        // One id and one instant per g, spread over 365 days.
        sqlx::query(
            "WITH g AS (SELECT 'pre-' || lpad(n::text, 12, '0') AS id, \
               now() - ((n * 7919) % 31536000) * interval '1 second' AS at, n \
               FROM generate_series($1::bigint, $2::bigint - 1) n), \
             ids AS (INSERT INTO api_usage_call_ids (call_id, created_at) \
               SELECT id, at FROM g) \
             INSERT INTO api_usage_log (call_id, created_at, api_provider, model_name, \
               input_tokens, output_tokens, cost_micro_usd, price_version, user_id, session_id, \
               calling_service, tier, outcome, latency_ms, operation) \
             SELECT id, at, (ARRAY['azure','anthropic','bedrock'])[n % 3 + 1], 'gpt-4o-mini', \
               1200, 300, 360, '2025-01', 'learner-' || (n % 100000), 'session-' || (n % 500000), \
               'llm-router', 'cost_effective', 'success', 850, 'chat' FROM g",
        )
        .bind(from)
        .bind(to)
        .execute(&pool)
        .await
        .unwrap();
        from = to;
        eprintln!(
            "ingest: preloaded {from} of {rows} rows ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    eprintln!(
        "ingest: ledger holds {rows} rows over 12 months, generated in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

criterion_group!(benches, ingest);
criterion_main!(benches);
