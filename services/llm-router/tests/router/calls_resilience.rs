//! Retries and circuit breakers on the real call path (in-process router,
//! simulator faults), as operators see them through `ListProviders`.

use std::time::{Duration, Instant};

use fluentedge_proto::router::v1 as pb;
use provider_sim::Vendor;
use tonic::Code;

use crate::stack::*;
use crate::support::fault;

fn provider<'a>(list: &'a pb::ListProvidersResponse, name: &str) -> &'a pb::ProviderStatus {
    list.providers
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} not in {list:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_primary_opens_its_breaker_and_then_gets_no_traffic() {
    let mut s = Stack::start(Backend::Redis, &[]).await;
    s.sim.set_fault(Vendor::Azure, fault("status=500"), None);
    // Every failed attempt counts against azure: the first call makes the
    // manual's 4 attempts (one and 3 retries), then falls back; the second
    // call's first attempt is the fifth failure and opens the breaker, so it
    // is not retried.
    for (i, attempts) in [(0, 5), (1, 2)] {
        let r = s
            .router
            .client
            .complete(call(&format!("b-{i}"), pb::Tier::Sota, "Hello there"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.provider, "anthropic");
        assert_eq!(r.attempts, attempts, "azure attempts + anthropic");
    }
    assert_eq!(s.sim.request_count(Vendor::Azure), 5);
    let list = s.router.providers().await;
    let azure = provider(&list, "azure");
    assert_eq!(
        azure.breaker_state,
        pb::BreakerState::Open as i32,
        "{azure:?}"
    );
    assert_eq!(azure.consecutive_failures, 5);
    assert_eq!(azure.last_error, "server_error");
    assert!(azure.retry_at.is_some());
    assert_eq!(
        provider(&list, "anthropic").breaker_state,
        pb::BreakerState::Closed as i32
    );

    // Open: azure is skipped, calls go straight to the fallback.
    for i in 2..10 {
        let r = s
            .router
            .client
            .complete(call(&format!("b-{i}"), pb::Tier::Sota, "Hello there"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((r.provider.as_str(), r.attempts), ("anthropic", 1));
    }
    assert_eq!(
        s.sim.request_count(Vendor::Azure),
        5,
        "no traffic while open"
    );

    // With the fallbacks down as well, the error names the open breaker too.
    for v in [Vendor::Anthropic, Vendor::Bedrock, Vendor::Vertex] {
        s.sim.set_fault(v, fault("status=503"), None);
    }
    let status = s
        .router
        .client
        .complete(call("b-all", pb::Tier::Sota, "Hello there"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let message = status.message();
    assert!(message.contains("azure/gpt-4o: circuit_open"), "{message}");
    for p in ["anthropic/", "bedrock/", "vertex/"] {
        assert!(message.contains(p), "{p}: {message}");
    }
    assert_eq!(s.sim.request_count(Vendor::Azure), 5);
    s.router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_half_opens_and_one_good_probe_closes_it() {
    let mut s = Stack::start(
        Backend::Embedded,
        &[
            ("ROUTER_BREAKER_FAILURES", "2"),
            ("ROUTER_BREAKER_OPEN_MS", "300"),
            ("ROUTER_MAX_RETRIES", "0"),
        ],
    )
    .await;
    s.sim.set_fault(Vendor::Azure, fault("status=503"), Some(2));
    for i in 0..2 {
        s.router
            .client
            .complete(call(&format!("h-{i}"), pb::Tier::Sota, "Hi"))
            .await
            .unwrap();
    }
    let list = s.router.providers().await;
    assert_eq!(
        provider(&list, "azure").breaker_state,
        pb::BreakerState::Open as i32
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The probe goes through, succeeds, and closes the breaker.
    let r = s
        .router
        .client
        .complete(call("h-probe", pb::Tier::Sota, "Hi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.provider, "azure");
    let list = s.router.providers().await;
    assert_eq!(
        provider(&list, "azure").breaker_state,
        pb::BreakerState::Closed as i32
    );
    s.router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_request_is_not_retried_and_does_not_count_against_the_provider() {
    let mut s = Stack::start(Backend::Embedded, &[]).await;
    s.sim.set_fault(Vendor::Azure, fault("status=400"), None);
    let r = s
        .router
        .client
        .complete(call("bad-1", pb::Tier::Sota, "Hello there"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        s.sim.request_count(Vendor::Azure),
        1,
        "a 400 is not retried"
    );
    assert_eq!((r.provider.as_str(), r.attempts), ("anthropic", 2));
    let list = s.router.providers().await;
    assert_eq!(provider(&list, "azure").consecutive_failures, 0);
    s.router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_its_retry_after() {
    let mut s = Stack::start(Backend::Embedded, &[]).await;
    // Backoff without Retry-After would be about a millisecond here.
    s.sim
        .set_fault(Vendor::Azure, fault("status=429;retry-after=1"), Some(1));
    let started = Instant::now();
    let r = s
        .router
        .client
        .complete(call("rl-1", pb::Tier::Sota, "Hello there"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert_eq!((r.provider.as_str(), r.attempts), ("azure", 2));
    assert_eq!(s.sim.request_count(Vendor::Azure), 2);
    let rendered = service_kit::metrics::render();
    assert!(
        rendered.contains("llm_provider_retries_total{provider=\"azure\"}"),
        "{rendered}"
    );
    s.router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_deadline_stops_retries_before_it() {
    let mut s = Stack::start(Backend::Embedded, &[]).await;
    // Retry-After 2 s would outlive the caller's 1.5 s: no retry, fall over.
    s.sim
        .set_fault(Vendor::Azure, fault("status=429;retry-after=2"), None);
    let mut req = tonic::Request::new(call("dl-1", pb::Tier::Sota, "Hello there"));
    req.set_timeout(Duration::from_millis(1500));
    let r = s.router.client.complete(req).await.unwrap().into_inner();
    assert_eq!(r.provider, "anthropic");
    assert_eq!(s.sim.request_count(Vendor::Azure), 1);
    s.router.stop().await;
}
