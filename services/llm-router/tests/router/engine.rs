//! The engine's seams: the call records it hands to usage delivery (partial
//! streams included), and the runtime pin of the primary provider.

use std::sync::Arc;

use futures::StreamExt;
use llm_router::engine::{
    CallObserver, CallOutcome, CallRecord, Caller, ChatCall, Engine, EngineFrame, Operation,
    PinCell, Resilience,
};
use llm_router::resilience::{BreakerConfig, Breakers, RetryBudgets, RetryPolicy};
use llm_router::routing::{Target, Tier};
use parking_lot::Mutex;
use provider_sim::{SimConfig, Simulator, Vendor};
use service_kit::Env;

use crate::support::*;

#[derive(Default)]
struct Recorder(Mutex<Vec<CallRecord>>);

impl CallObserver for Recorder {
    fn call_finished(&self, record: CallRecord) {
        self.0.lock().push(record);
    }
}

fn engine(sim: &Simulator, recorder: &Arc<Recorder>) -> Engine {
    service_kit::install_crypto_provider();
    let env = Env::from_pairs([("SIMULATOR_URL", sim.base_url())]);
    let settings = llm_router::routing::load(&env).unwrap();
    let observer: Arc<dyn CallObserver> = recorder.clone();
    // No retries: one attempt per candidate keeps the counts below exact.
    let resilience = Resilience::new(
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        },
        RetryBudgets::default(),
        Arc::new(Breakers::new(
            BreakerConfig::default(),
            llm_router::clock::system(),
        )),
    );
    Engine::connect(&settings)
        .unwrap()
        .with_observer(observer)
        .with_resilience(resilience)
}

fn call(text: &str) -> ChatCall {
    ChatCall {
        call_id: "req-1".into(),
        target: Target::Tier(Tier::Sota),
        request: chat(text),
        caller: Caller {
            user_id: "learner-7".into(),
            session_id: "s-1".into(),
            service: "conversation".into(),
            request_id: "rq-1".into(),
        },
        deadline: None,
    }
}

#[tokio::test]
async fn every_call_leaves_one_record_with_its_cost() {
    let sim = sim().await;
    let recorder = Arc::new(Recorder::default());
    let engine = engine(&sim, &recorder);
    let done = engine.complete(call("Hello there")).await.unwrap();
    sim.set_fault(Vendor::Azure, fault("status=500"), None);
    sim.set_fault(Vendor::Anthropic, fault("status=500"), None);
    sim.set_fault(Vendor::Bedrock, fault("status=500"), None);
    sim.set_fault(Vendor::Vertex, fault("status=500"), None);
    assert!(engine.complete(call("Hello there")).await.is_err());

    let records = recorder.0.lock().clone();
    assert_eq!(records.len(), 2);
    let ok = &records[0];
    assert_eq!(ok.outcome, CallOutcome::Succeeded);
    assert_eq!(ok.operation, Operation::Chat);
    assert_eq!(ok.call_id, "req-1");
    assert_eq!(ok.caller.request_id, "rq-1");
    assert_eq!(ok.caller.user_id, "learner-7");
    assert_eq!(ok.usage, done.usage);
    assert_eq!(ok.cost, done.cost);
    assert_eq!(ok.candidate.as_ref().unwrap().to_string(), "azure/gpt-4o");
    let failed = &records[1];
    assert_eq!(failed.outcome, CallOutcome::Failed);
    assert_eq!(failed.attempts, 4);
    assert!(failed.usage.is_zero() && failed.cost.micros.0 == 0);
    // Recorded under the last candidate tried.
    assert_eq!(
        failed.candidate.as_ref().unwrap().provider.as_ref(),
        "vertex"
    );
}

#[tokio::test]
async fn a_cancelled_stream_still_records_its_partial_usage() {
    // Slow chunks, so that the caller leaves mid-answer.
    service_kit::install_crypto_provider();
    let sim = Simulator::spawn(SimConfig {
        chunk_delay: std::time::Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let recorder = Arc::new(Recorder::default());
    let engine = Arc::new(engine(&sim, &recorder));
    let mut stream = engine.stream(call("Hello there")).await.unwrap();
    assert!(matches!(
        stream.next().await,
        Some(EngineFrame::Start { .. })
    ));
    assert!(matches!(stream.next().await, Some(EngineFrame::Delta(_))));
    drop(stream);
    let records = recorder.0.lock().clone();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.outcome, CallOutcome::Cancelled);
    assert_eq!(r.operation, Operation::ChatStream);
    assert!(
        r.usage.input_tokens > 0 && r.usage.output_tokens > 0,
        "{r:?}"
    );
    assert!(r.cost.micros.0 > 0);
}

#[tokio::test]
async fn the_runtime_pin_beats_the_fallback_order() {
    let sim = sim().await;
    let recorder = Arc::new(Recorder::default());
    let pin = Arc::new(PinCell::default());
    let engine = engine(&sim, &recorder).with_pin_source(pin.clone());
    pin.set(Some("vertex"));
    let done = engine.complete(call("Hi")).await.unwrap();
    assert_eq!(&*done.provider, "vertex");
    pin.set(None);
    let done = engine.complete(call("Hi")).await.unwrap();
    assert_eq!(&*done.provider, "azure");
}
