//! Every call through the real path leaves exactly one row in the real
//! ledger, also across a usage-accounting outage. Each test runs on both
//! backends: Redis (store and stream outbox) and the embedded defaults
//! (memory store, SQLite outbox).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fluentedge_proto::router::v1 as pb;
use fluentedge_proto::usage::v1 as usage_pb;
use pb::stream_complete_response::Frame;
use provider_sim::Vendor;
use tonic::Code;

use crate::stack::*;
use crate::support::fault;

fn assert_row(row: &usage_pb::UsageRecord, provider: &str, model: &str, usage: &pb::Usage) {
    assert_eq!(
        (row.provider.as_str(), row.model.as_str()),
        (provider, model),
        "{row:?}"
    );
    assert_eq!(
        (row.input_tokens, row.output_tokens),
        (usage.input_tokens, usage.output_tokens),
        "{row:?}"
    );
    assert_eq!(row.cost_micro_usd, usage.cost_micro_usd, "{row:?}");
    assert_eq!(row.price_version, usage.price_version, "{row:?}");
}

async fn every_call_leaves_exactly_one_ledger_row(backend: Backend) {
    // The failures below would open azure's breaker (5 failed attempts), which
    // is not what this test is about: the embedding at the end goes to azure.
    let mut s = Stack::start(backend, &[("ROUTER_BREAKER_FAILURES", "10")]).await;
    let client = &mut s.router.client;

    // Unary.
    let done = client
        .complete(call("u-1", pb::Tier::Sota, "Hello there"))
        .await
        .unwrap()
        .into_inner();
    let row = s.ledger.record("u-1").await;
    assert_row(&row, "azure", "gpt-4o", done.usage.as_ref().unwrap());
    assert_eq!(row.outcome, usage_pb::Outcome::Success as i32);
    assert_eq!(
        (row.tier.as_str(), row.operation.as_str()),
        ("sota", "chat")
    );
    assert_eq!(
        (
            row.user_id.as_str(),
            row.session_id.as_str(),
            row.calling_service.as_str()
        ),
        // The calling service is the one whose token was verified (this
        // test calls as an operator), not what the body claims.
        ("learner-7", "session-1", "operator")
    );
    assert!(row.cost_micro_usd > 0);

    // Streamed.
    let frames = stream(client, call("s-1", pb::Tier::CostEffective, "Hello there"))
        .await
        .unwrap();
    let Some(Frame::End(end)) = frames.last() else {
        panic!("{frames:?}")
    };
    let row = s.ledger.record("s-1").await;
    assert_row(&row, "azure", "gpt-4o-mini", end.usage.as_ref().unwrap());
    assert_eq!(row.outcome, usage_pb::Outcome::Success as i32);

    // A stream cut after its first tokens: the partial usage, billed.
    s.sim
        .set_fault(Vendor::Azure, fault("cut-after=3"), Some(1));
    let frames = stream(client, call("c-1", pb::Tier::Sota, "Hello there"))
        .await
        .unwrap();
    let Some(Frame::Error(error)) = frames.last() else {
        panic!("{frames:?}")
    };
    assert_eq!(error.reason, "stream_interrupted");
    let partial = error.usage.clone().unwrap();
    assert!(partial.output_tokens > 0 && partial.cost_micro_usd > 0);
    let row = s.ledger.record("c-1").await;
    assert_row(&row, "azure", "gpt-4o", &partial);
    assert_eq!(row.outcome, usage_pb::Outcome::Partial as i32);

    // Every provider failing: a failed call, nothing billed, under the last one tried.
    for v in [
        Vendor::Azure,
        Vendor::Anthropic,
        Vendor::Bedrock,
        Vendor::Vertex,
    ] {
        s.sim.set_fault(v, fault("status=503"), None);
    }
    let status = client
        .complete(call("f-1", pb::Tier::Sota, "Hello there"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let row = s.ledger.record("f-1").await;
    assert_eq!(row.outcome, usage_pb::Outcome::Failed as i32);
    assert_eq!(row.provider, "vertex");
    assert_eq!(
        (row.input_tokens, row.output_tokens, row.cost_micro_usd),
        (0, 0, 0)
    );
    s.sim.clear_faults();

    // Embeddings.
    let embedded = client
        .embed(pb::EmbedRequest {
            call_id: "e-1".into(),
            inputs: vec!["hello".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let row = s.ledger.record("e-1").await;
    assert_row(
        &row,
        "azure",
        "text-embedding-3-small",
        embedded.usage.as_ref().unwrap(),
    );
    assert_eq!(row.operation, "embedding");

    // Nothing else, nothing twice; the budget agrees with the ledger.
    let rows = s.ledger.records().await;
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.call_id.as_str()).collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(ids, BTreeSet::from(["c-1", "e-1", "f-1", "s-1", "u-1"]));
    let ledger_total: i64 = rows.iter().map(|r| r.cost_micro_usd).sum();
    let router = &s.router;
    eventually(Duration::from_secs(10), "budget spent = ledger", || async {
        let b = router.budget().await;
        b.spent_micro_usd == ledger_total && b.reserved_micro_usd == 0
    })
    .await;
    let budget = s.router.budget().await;
    let store = match backend {
        Backend::Redis => "redis",
        Backend::Embedded => "memory",
    };
    assert_eq!(budget.store, store);
    assert_eq!(s.ledger.spend().await.spent_micro_usd, ledger_total);
    s.router.stop().await;
}

/// The manuals' drill stops usage-accounting for 30 s; here 5 s under a
/// steady load shows the same: nothing in the call path waits for the ledger
/// (records go to the outbox while it is down), and redelivery is by record,
/// so the length of the outage only changes how many records wait (bounded
/// by `USAGE_OUTBOX_MAX`), not the outcome.
async fn usage_accounting_stopped_under_load_loses_no_record(backend: Backend) {
    let mut s = Stack::start(backend, &[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let mut client = s.router.client.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("load-{w}-{n}");
                n += 1;
                let r = client
                    .complete(call(&id, pb::Tier::CostEffective, "Hello there"))
                    .await;
                assert!(r.is_ok(), "{id}: {r:?}");
                ids.push(id);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            ids
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.ledger.kill().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    s.ledger.restart().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let mut calls = BTreeSet::new();
    for w in workers {
        calls.extend(w.await.unwrap());
    }
    assert!(calls.len() > 100, "{} calls", calls.len());
    let ledger = &s.ledger;
    let expected = calls.len() as u64;
    eventually(
        Duration::from_secs(90),
        "every record delivered",
        || async { ledger.spend().await.record_count >= expected },
    )
    .await;
    let rows = s.ledger.records().await;
    let ids: BTreeSet<String> = rows.iter().map(|r| r.call_id.clone()).collect();
    assert_eq!(
        rows.len(),
        calls.len(),
        "rows = calls: none lost, none twice"
    );
    assert_eq!(ids, calls);
    s.router.stop().await;
}

/// SIGTERM (here: the shutdown future) flushes what waits in memory into the
/// durable outbox; the next router delivers it.
async fn records_waiting_at_shutdown_reach_the_ledger_through_the_next_router(backend: Backend) {
    let Stack {
        sim,
        mut ledger,
        mut router,
        env,
    } = Stack::start(backend, &[]).await;
    ledger.kill().await;
    for i in 0..5 {
        router
            .client
            .complete(call(&format!("w-{i}"), pb::Tier::CostEffective, "Hi"))
            .await
            .unwrap();
    }
    router.stop().await;
    ledger.restart().await;
    assert!(ledger.records().await.is_empty());
    let next = Router::start(&env).await;
    let ledger = &ledger;
    eventually(
        Duration::from_secs(30),
        "the outbox is delivered",
        || async { ledger.records().await.len() == 5 },
    )
    .await;
    next.stop().await;
    drop(sim);
}

/// A direct gRPC caller's `x-request-id` is the request id of its calls'
/// ledger rows (the call id stays the row's key); whatever id the call
/// carried, the router echoes it and records the same.
async fn a_direct_callers_request_id_is_on_its_ledger_rows(backend: Backend) {
    let mut s = Stack::start(backend, &[]).await;
    let client = &mut s.router.client;
    // The request context is what the client interceptor sends as `x-request-id`.
    service_kit::RequestContext::new("direct-request-1".into(), None)
        .scope(client.complete(call("direct-1", pb::Tier::CostEffective, "Hello")))
        .await
        .unwrap();
    let row = s.ledger.record("direct-1").await;
    assert_eq!(
        (row.call_id.as_str(), row.request_id.as_str()),
        ("direct-1", "direct-request-1")
    );

    let answer = client
        .complete(call("direct-2", pb::Tier::CostEffective, "Hello"))
        .await
        .unwrap();
    let echoed = answer
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let row = s.ledger.record("direct-2").await;
    assert_eq!(row.request_id, echoed);
    assert_ne!(row.request_id, row.call_id);
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod redis {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Redis).await } )*
        }
        mod embedded {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Embedded).await } )*
        }
    };
}

on_both_backends!(
    every_call_leaves_exactly_one_ledger_row,
    a_direct_callers_request_id_is_on_its_ledger_rows,
    usage_accounting_stopped_under_load_loses_no_record,
    records_waiting_at_shutdown_reach_the_ledger_through_the_next_router,
);
