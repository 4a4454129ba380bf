//! The whole path: this service → the real llm-router binary → the provider
//! simulator, on both databases. Build the router first
//! (`cargo build -p llm-router`; `cargo nextest run --workspace` does).

use crate::support::{
    Backend, all_messages, as_, collect_stream, create_session, on_both_databases, send, spawn_app,
};
use fluentedge_proto::conversation::v1 as pb;
use provider_sim::{Fault, SimConfig, Simulator, Vendor};
use test_support::ChildProcess;

const ALICE: &str = "learner-alice";

struct Stack {
    sim: Simulator,
    _router: ChildProcess,
    router_url: String,
    _dir: tempfile::TempDir,
}

async fn stack() -> Stack {
    let sim = Simulator::spawn(SimConfig::default()).await.unwrap();
    // The router's files (its usage outbox) go here, not in the working directory.
    let dir = tempfile::tempdir().unwrap();
    let router = ChildProcess::spawn(
        "llm-router",
        &[
            ("ROUTER_LISTEN_ADDR", "127.0.0.1:0".into()),
            ("SIMULATOR_URL", sim.base_url()),
            ("AI_MONTHLY_BUDGET_USD", "1000".into()),
            // No usage-accounting here: the router keeps its records in its outbox.
            (
                "USAGE_OUTBOX_PATH",
                dir.path().join("outbox.db").display().to_string(),
            ),
        ],
    );
    let router_url = format!("http://{}", router.bound_addr().await);
    Stack {
        sim,
        _router: router,
        router_url,
        _dir: dir,
    }
}

/// Model-API requests the simulator received, all vendors.
fn sim_calls(sim: &Simulator) -> usize {
    Vendor::ALL.iter().map(|v| sim.request_count(*v)).sum()
}

/// The body of the latest model-API request the simulator received.
fn last_prompt(sim: &Simulator) -> String {
    sim.requests()
        .into_iter()
        .rev()
        .find(|r| !r.is_token_request())
        .map(|r| r.body_text())
        .unwrap()
}

on_both_databases!(
    a_conversation_through_the_real_router,
    a_provider_failing_mid_stream_keeps_the_learners_message,
);

async fn a_conversation_through_the_real_router(backend: Backend) {
    let stack = stack().await;
    // About 33 estimated tokens a turn here: a budget of 50 keeps one turn.
    let app = spawn_app(
        backend,
        &stack.router_url,
        &[("HISTORY_TOKEN_BUDGET", "50")],
    )
    .await;
    let mut client = app.client().await;
    let session = create_session(&mut client, ALICE, "restaurant_order").await;

    // Unary.
    let first = client
        .send_message(as_(ALICE, send(&session.id, "alpha marker message", "r-1")))
        .await
        .unwrap()
        .into_inner();
    let tutor = first.tutor_message.unwrap();
    assert_eq!(tutor.status, pb::MessageStatus::Completed as i32);
    assert!(
        tutor.content.contains("alpha marker message"),
        "{}",
        tutor.content
    );
    assert!(
        tutor.input_tokens > 0 && tutor.output_tokens > 0,
        "{tutor:?}"
    );
    assert!(!tutor.provider.is_empty() && !tutor.model.is_empty());
    let learner = first.learner_message.unwrap();
    assert_eq!(tutor.call_id, format!("conv-{}", learner.id));
    let prompt = last_prompt(&stack.sim);
    assert!(
        prompt.contains("a waiter"),
        "the persona reached the provider: {prompt}"
    );

    // Streaming.
    let streamed = collect_stream(
        &mut client,
        ALICE,
        send(&session.id, "bravo marker message", "r-2"),
    )
    .await
    .unwrap();
    let completed = streamed.completed.expect("completed frame");
    assert!(streamed.deltas.len() > 1);
    assert_eq!(streamed.deltas.concat(), completed.content);
    assert!(completed.content.contains("bravo marker message"));

    // The history sent is trimmed to the budget: turn one is dropped whole.
    client
        .send_message(as_(
            ALICE,
            send(&session.id, "charlie marker message", "r-3"),
        ))
        .await
        .unwrap();
    let prompt = last_prompt(&stack.sim);
    assert!(prompt.contains("bravo marker message") && prompt.contains("charlie marker message"));
    assert!(
        !prompt.contains("alpha"),
        "the oldest turn is over the budget: {prompt}"
    );

    // A retry is answered from storage: the providers see nothing.
    let calls = sim_calls(&stack.sim);
    let again = client
        .send_message(as_(ALICE, send(&session.id, "alpha marker message", "r-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.tutor_message.unwrap(), tutor);
    let replayed = collect_stream(
        &mut client,
        ALICE,
        send(&session.id, "bravo marker message", "r-2"),
    )
    .await
    .unwrap();
    assert_eq!(replayed.completed.unwrap(), completed);
    assert_eq!(sim_calls(&stack.sim), calls);
    assert_eq!(all_messages(&mut client, ALICE, &session.id).await.len(), 6);
    app.stop().await;
}

async fn a_provider_failing_mid_stream_keeps_the_learners_message(backend: Backend) {
    let stack = stack().await;
    let app = spawn_app(backend, &stack.router_url, &[]).await;
    let mut client = app.client().await;
    let session = create_session(&mut client, ALICE, "job_interview").await;
    // Every provider breaks off after two chunks of its answer.
    let fault: Fault = "status=500;cut-after=2".parse().unwrap();
    for vendor in Vendor::ALL {
        stack.sim.set_fault(vendor, fault.clone(), None);
    }
    let streamed = collect_stream(
        &mut client,
        ALICE,
        send(&session.id, "I am a good fit for this job.", "x-1"),
    )
    .await
    .unwrap();
    assert!(streamed.completed.is_none());
    let error = streamed.error.expect("a terminal error frame");
    assert!(
        !error.reason.is_empty() && error.grpc_code != 0,
        "{error:?}"
    );
    let partial = error.tutor_message.expect("what arrived is kept");
    assert_eq!(partial.status, pb::MessageStatus::Partial as i32);
    assert_eq!(partial.content, streamed.deltas.concat());
    assert!(!partial.content.is_empty());

    let stored = all_messages(&mut client, ALICE, &session.id).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].status, pb::MessageStatus::Failed as i32);
    assert_eq!(stored[0].content, "I am a good fit for this job.");
    assert_eq!(stored[1], partial);

    // Once the providers recover, retrying the same message completes it.
    stack.sim.clear_faults();
    let retry = client
        .send_message(as_(
            ALICE,
            send(&session.id, "I am a good fit for this job.", "x-1"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        retry.learner_message.unwrap().status,
        pb::MessageStatus::Completed as i32
    );
    let tutor = retry.tutor_message.unwrap();
    assert_eq!(tutor.id, partial.id);
    assert_eq!(tutor.status, pb::MessageStatus::Completed as i32);
    app.stop().await;
}
