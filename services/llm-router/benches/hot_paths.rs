//! The router's own per-call work: the price lookup and exact cost (the
//! vendors' per-request and per-chunk work is `llm-providers`' `hot_paths`).
//!
//! `cargo bench -p llm-router --bench hot_paths` (add `-- --quick` for a
//! short run).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llm_providers::TokenUsage;
use llm_router::money::Micros;
use llm_router::pricing::{Price, PriceTable};

fn cost(c: &mut Criterion) {
    let mut prices = PriceTable::new("2025-10-01");
    prices.insert(
        "azure",
        "gpt-4o",
        Price {
            input_per_mtok: Micros(2_500_000),
            output_per_mtok: Micros(10_000_000),
        },
    );
    let mut g = c.benchmark_group("usage");
    g.throughput(Throughput::Elements(1));
    g.bench_function("cost_lookup_and_compute", |b| {
        b.iter(|| {
            prices.cost(
                "azure",
                black_box("gpt-4o-2024-11-20"),
                TokenUsage::new(200, 18),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, cost);
criterion_main!(benches);
