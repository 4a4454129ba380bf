//! Failover that spares a dead primary: the real engine (the manual's flow:
//! 3 retries with backoff, breaker at 5 failures, 60 s open) against the
//! provider simulator, the `sota` tier's primary (azure) answering 503 to
//! everything. 100 requests at concurrency 4; the figure is the calls the
//! primary received per request (target ≤ 0.1; it was 0.32 when a
//! candidate's exhausted retries counted one breaker failure). Each run starts
//! a fresh engine (fresh breakers); the summary is over `DEAD_PRIMARY_RUNS`
//! runs (default 5).
//!
//! `cargo bench -p llm-router --bench dead_primary` (also run by `make bench`).
// A benchmark binary: setup failures panic, the figures go to stdout, and its
// workers are awaited before it ends (no shutdown to cut them).
#![allow(clippy::expect_used, clippy::print_stdout, clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use llm_providers::{ChatRequest, Message, Role};
use llm_router::engine::{Caller, ChatCall, Engine};
use llm_router::routing::{Target, Tier};
use provider_sim::{Fault, SimConfig, Simulator, Vendor};
use service_kit::Env;

const REQUESTS: usize = 100;
const CONCURRENCY: usize = 4;

fn call(i: usize) -> ChatCall {
    ChatCall {
        call_id: format!("dead-primary-{i}"),
        target: Target::Tier(Tier::Sota),
        request: ChatRequest {
            messages: vec![Message::new(Role::User, "Hello there")],
            max_tokens: 100,
            ..ChatRequest::default()
        },
        caller: Caller {
            user_id: "bench".into(),
            session_id: "bench".into(),
            service: "bench".into(),
            request_id: format!("dead-primary-request-{i}"),
        },
        deadline: None,
    }
}

/// One run: (calls that reached the dead primary, requests answered, seconds).
async fn run(sim: &Simulator) -> (usize, usize, f64) {
    let env = Env::from_pairs([("SIMULATOR_URL", sim.base_url())]);
    let settings = llm_router::routing::load(&env).expect("routing");
    let engine = Arc::new(Engine::connect(&settings).expect("engine"));
    let before = sim.request_count(Vendor::Azure);
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (engine, next, answered) = (engine.clone(), next.clone(), answered.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= REQUESTS {
                        return;
                    }
                    if engine.complete(call(i)).await.is_ok() {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    (
        sim.request_count(Vendor::Azure) - before,
        answered.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64(),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    service_kit::install_crypto_provider();
    let runs: usize = std::env::var("DEAD_PRIMARY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let sim = Simulator::spawn(SimConfig::default())
        .await
        .expect("simulator");
    sim.set_fault(Vendor::Azure, Fault::status(503), None);
    let mut per_request = Vec::new();
    for r in 0..runs {
        let (calls, answered, secs) = run(&sim).await;
        let ratio = calls as f64 / REQUESTS as f64;
        println!(
            "dead_primary run {r}: {calls} calls reached the dead primary over {REQUESTS} requests \
             at concurrency {CONCURRENCY} = {ratio:.2} per request; {answered} answered by the \
             fallback in {secs:.2} s"
        );
        per_request.push(ratio);
    }
    per_request.sort_by(f64::total_cmp);
    println!(
        "dead_primary: calls per request min {:.2} median {:.2} max {:.2} over {runs} runs (target <= 0.10)",
        per_request[0],
        per_request[per_request.len() / 2],
        per_request[per_request.len() - 1]
    );
}
