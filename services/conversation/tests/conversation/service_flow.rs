//! The service against the fake router: the conversation flow, history, retries, profiles, health.

use crate::fake_router::{FakeRouter, USAGE};
use crate::support::{
    ALICE, BOB, Backend, Db, all_messages, as_, collect_stream, create_session, eventually,
    on_both_databases, send, setup, spawn_on,
};
use fluentedge_proto::conversation::v1 as pb;
use fluentedge_proto::router::v1 as router_pb;
use tonic::Code;

on_both_databases!(
    the_full_flow_unary,
    the_full_flow_streaming,
    history_is_trimmed_to_the_token_budget,
    a_retried_send_never_makes_a_second_exchange,
    profiles_and_session_defaults,
    health_waits_for_the_database,
);

async fn the_full_flow_unary(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let scenarios = client
        .list_scenarios(as_(ALICE, pb::ListScenariosRequest {}))
        .await
        .unwrap()
        .into_inner()
        .scenarios;
    assert!(scenarios.len() >= 8);
    let interview = scenarios.iter().find(|s| s.id == "job_interview").unwrap();
    assert!(!interview.goals.is_empty() && !interview.opening_line.is_empty());

    let session = create_session(&mut client, ALICE, "job_interview").await;
    assert_eq!(session.title, "Job interview");
    assert_eq!(session.level, pb::CefrLevel::B1 as i32);
    let mut request = as_(
        ALICE,
        send(&session.id, "I have five years of experience.", "c-1"),
    );
    request
        .metadata_mut()
        .insert("x-request-id", "req-flow-1".parse().unwrap());
    let reply = client.send_message(request).await.unwrap().into_inner();
    let learner = reply.learner_message.unwrap();
    let tutor = reply.tutor_message.unwrap();
    assert_eq!(learner.role, pb::MessageRole::Learner as i32);
    assert_eq!(learner.status, pb::MessageStatus::Completed as i32);
    assert_eq!(learner.content, "I have five years of experience.");
    assert_eq!(learner.client_message_id, "c-1");
    assert_eq!(tutor.role, pb::MessageRole::Tutor as i32);
    assert_eq!(tutor.status, pb::MessageStatus::Completed as i32);
    assert_eq!(
        tutor.content,
        "Tutor says: I have five years of experience."
    );
    assert_eq!(
        (
            tutor.input_tokens,
            tutor.output_tokens,
            tutor.cost_micro_usd
        ),
        (
            USAGE.input_tokens,
            USAGE.output_tokens,
            USAGE.cost_micro_usd
        )
    );
    assert_eq!(
        (tutor.provider.as_str(), tutor.model.as_str()),
        ("fake", "fake-model")
    );
    assert_eq!(tutor.call_id, format!("conv-{}", learner.id));

    // What the router was asked, and with which context.
    let calls = router.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert!(!call.streaming);
    assert_eq!(call.subject.as_deref(), Some(ALICE));
    assert_eq!(call.call_id_header.as_deref(), Some("req-flow-1"));
    let req = &call.request;
    assert_eq!(req.call_id, tutor.call_id);
    assert_eq!(req.tier, router_pb::Tier::CostEffective as i32);
    assert_eq!(req.max_tokens, 400);
    let caller = req.caller.as_ref().unwrap();
    assert_eq!(
        (
            caller.user_id.as_str(),
            caller.session_id.as_str(),
            caller.service.as_str()
        ),
        (ALICE, session.id.as_str(), "conversation")
    );
    assert_eq!(req.messages.len(), 2);
    assert_eq!(req.messages[0].role, router_pb::Role::System as i32);
    assert!(
        req.messages[0].content.contains("hiring manager"),
        "{}",
        req.messages[0].content
    );
    assert!(req.messages[0].content.contains("CEFR B1"));
    assert_eq!(req.messages[1].role, router_pb::Role::User as i32);

    // A second turn carries the first as history.
    client
        .send_message(as_(
            ALICE,
            send(&session.id, "I led a team of four.", "c-2"),
        ))
        .await
        .unwrap();
    let second = &router.calls()[1].request;
    let roles: Vec<i32> = second.messages.iter().map(|m| m.role).collect();
    use router_pb::Role;
    assert_eq!(
        roles,
        [
            Role::System as i32,
            Role::User as i32,
            Role::Assistant as i32,
            Role::User as i32
        ]
    );
    assert_eq!(second.messages[2].content, tutor.content);

    let stored = all_messages(&mut client, ALICE, &session.id).await;
    assert_eq!(stored.len(), 4);
    assert_eq!(stored[0], learner);
    assert_eq!(stored[1], tutor);
    let got = client
        .get_session(as_(
            ALICE,
            pb::GetSessionRequest {
                session_id: session.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.message_count, 4);
    app.stop().await;
}

async fn the_full_flow_streaming(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "restaurant_order").await;
    let streamed = collect_stream(
        &mut client,
        ALICE,
        send(&session.id, "A table for two, please.", "s-1"),
    )
    .await
    .unwrap();
    let accepted = streamed.accepted.unwrap();
    assert_eq!(
        accepted.status,
        pb::MessageStatus::Pending as i32,
        "accepted before the reply"
    );
    assert_eq!(accepted.content, "A table for two, please.");
    assert!(streamed.deltas.len() > 1, "streamed in pieces");
    let completed = streamed.completed.expect("terminal completed frame");
    assert!(streamed.error.is_none());
    assert_eq!(streamed.after_terminal, 0);
    assert_eq!(streamed.deltas.concat(), completed.content);
    assert_eq!(completed.content, "Tutor says: A table for two, please.");
    assert_eq!(completed.status, pb::MessageStatus::Completed as i32);
    assert_eq!(completed.cost_micro_usd, USAGE.cost_micro_usd);
    assert_eq!(completed.call_id, format!("conv-{}", accepted.id));
    assert!(router.calls()[0].streaming);
    let stored = all_messages(&mut client, ALICE, &session.id).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].status, pb::MessageStatus::Completed as i32);
    assert_eq!(stored[1], completed);
    app.stop().await;
}

async fn history_is_trimmed_to_the_token_budget(backend: Backend) {
    // Each 36-character message costs 13 estimated tokens, a turn 26: a budget
    // of 60 holds two whole turns, not three.
    let (app, router, mut client) = setup(backend, &[("HISTORY_TOKEN_BUDGET", "60")]).await;
    let session = create_session(&mut client, ALICE, "colleague_small_talk").await;
    // The fake tutor answers "Tutor says: <text>": 12 + 24 = 36 characters.
    let texts: Vec<String> = (1..=4)
        .map(|i| format!("turn {i} of the chat, hi!!"))
        .collect();
    for text in &texts[..3] {
        assert_eq!(text.len(), 24);
        client
            .send_message(as_(ALICE, send(&session.id, text, "")))
            .await
            .unwrap();
    }
    let stored = all_messages(&mut client, ALICE, &session.id).await;
    assert!(
        stored
            .iter()
            .all(|m| m.content.chars().count() == 24 || m.content.chars().count() == 36)
    );
    client
        .send_message(as_(ALICE, send(&session.id, &texts[3], "")))
        .await
        .unwrap();
    let last = &router.calls()[3].request;
    let contents: Vec<&str> = last
        .messages
        .iter()
        .skip(1)
        .map(|m| m.content.as_str())
        .collect();
    let expected_tutor = |i: usize| format!("Tutor says: {}", texts[i]);
    assert_eq!(
        contents,
        [
            texts[1].as_str(),
            expected_tutor(1).as_str(),
            texts[2].as_str(),
            expected_tutor(2).as_str(),
            texts[3].as_str()
        ],
        "the oldest turn was dropped whole"
    );
    app.stop().await;
}

async fn a_retried_send_never_makes_a_second_exchange(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "hotel_check_in").await;
    let first = client
        .send_message(as_(ALICE, send(&session.id, "I have a booking.", "dup-1")))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .send_message(as_(ALICE, send(&session.id, "I have a booking.", "dup-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again, "the stored exchange, unchanged");
    let streamed = collect_stream(
        &mut client,
        ALICE,
        send(&session.id, "I have a booking.", "dup-1"),
    )
    .await
    .unwrap();
    assert_eq!(streamed.accepted.as_ref(), first.learner_message.as_ref());
    assert_eq!(streamed.completed.as_ref(), first.tutor_message.as_ref());
    assert_eq!(
        streamed.deltas.concat(),
        first.tutor_message.as_ref().unwrap().content
    );
    assert_eq!(router.calls().len(), 1, "the router was asked once");
    assert_eq!(all_messages(&mut client, ALICE, &session.id).await.len(), 2);

    // The same id with other text is a client bug, not a retry.
    let err = client
        .send_message(as_(ALICE, send(&session.id, "Something else", "dup-1")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains("dup-1"), "{}", err.message());
    assert_eq!(router.calls().len(), 1);
    app.stop().await;
}

async fn profiles_and_session_defaults(backend: Backend) {
    let (app, _router, mut client) = setup(backend, &[]).await;
    let profile = client
        .get_profile(as_(ALICE, pb::GetProfileRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(profile.learner_id, ALICE);
    assert_eq!(profile.level, pb::CefrLevel::Unspecified as i32);
    assert!(profile.created_at.is_some());
    let updated = client
        .update_profile(as_(
            ALICE,
            pb::UpdateProfileRequest {
                display_name: Some("Aiko".into()),
                level: pb::CefrLevel::A2 as i32,
                native_language: Some("ja".into()),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            updated.display_name.as_str(),
            updated.level,
            updated.native_language.as_str()
        ),
        ("Aiko", pb::CefrLevel::A2 as i32, "ja")
    );
    // Fields left out stay as they were.
    let kept = client
        .update_profile(as_(ALICE, pb::UpdateProfileRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (kept.display_name.as_str(), kept.level),
        ("Aiko", pb::CefrLevel::A2 as i32)
    );
    // New sessions take the profile's level unless the request names one.
    let s = create_session(&mut client, ALICE, "job_interview").await;
    assert_eq!(s.level, pb::CefrLevel::A2 as i32);
    let c1 = client
        .create_session(as_(
            ALICE,
            pb::CreateSessionRequest {
                scenario_id: "job_interview".into(),
                level: pb::CefrLevel::C1 as i32,
                title: "  Mock interview  ".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (c1.level, c1.title.as_str()),
        (pb::CefrLevel::C1 as i32, "Mock interview")
    );
    // Bob's profile is his own.
    let bob = client
        .get_profile(as_(BOB, pb::GetProfileRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (bob.learner_id.as_str(), bob.display_name.as_str()),
        (BOB, "")
    );
    app.stop().await;
}

async fn health_waits_for_the_database(backend: Backend) {
    let router = FakeRouter::spawn().await;
    // A database that cannot be reached: the service serves NOT_SERVING and UNAVAILABLE.
    let db = Db::create(backend).await;
    let url = match &db {
        Db::Postgres(_) => "postgres://postgres@127.0.0.1:1/none".to_owned(),
        // A directory is no database file: opening it fails until it is fixed.
        Db::Sqlite(dir) => format!("sqlite://{}", dir.path().display()),
    };
    let app = spawn_on(db, &router.url(), &[("DATABASE_URL", url.as_str())]).await;
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    eventually(|| async { (app.health().await == not_serving).then_some(()) }).await;
    let mut client = app.client().await;
    let err = client
        .get_profile(as_(ALICE, pb::GetProfileRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(app.health().await, not_serving, "still not serving");
    app.stop().await;
    // The real database: SERVING once migrated.
    let (ok, _router, _client) = setup(backend, &[]).await;
    ok.stop().await;
}
