//! Who may do what: ownership isolation, the subject, input validation.

use crate::support::{
    ALICE, BOB, Backend, all_messages, as_, collect_stream, create_session, on_both_databases,
    send, setup,
};
use fluentedge_proto::conversation::v1 as pb;
use tonic::Code;

on_both_databases!(
    learners_never_see_each_others_sessions,
    every_rpc_needs_a_subject,
    bad_input_is_invalid_argument,
);

async fn learners_never_see_each_others_sessions(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "job_interview").await;
    client
        .send_message(as_(ALICE, send(&session.id, "Hello", "a-1")))
        .await
        .unwrap();
    let id = session.id.clone();
    let not_found = |r: Result<(), tonic::Status>| {
        let e = r.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
    };
    not_found(
        client
            .get_session(as_(
                BOB,
                pb::GetSessionRequest {
                    session_id: id.clone(),
                },
            ))
            .await
            .map(drop),
    );
    not_found(
        client
            .list_messages(as_(
                BOB,
                pb::ListMessagesRequest {
                    session_id: id.clone(),
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
    );
    not_found(
        client
            .send_message(as_(BOB, send(&id, "Hijack", "b-1")))
            .await
            .map(drop),
    );
    not_found(
        collect_stream(&mut client, BOB, send(&id, "Hijack", "b-2"))
            .await
            .map(drop),
    );
    not_found(
        client
            .delete_session(as_(
                BOB,
                pb::DeleteSessionRequest {
                    session_id: id.clone(),
                },
            ))
            .await
            .map(drop),
    );
    // A session that never existed answers the same.
    let unknown = uuid::Uuid::now_v7().to_string();
    let e = client
        .get_session(as_(
            BOB,
            pb::GetSessionRequest {
                session_id: unknown.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message().replace(&unknown, "ID"), "session ID not found");
    let bobs = client
        .list_sessions(as_(BOB, pb::ListSessionsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(bobs.sessions.is_empty());
    // Alice's session is untouched and the router was never called for Bob.
    assert_eq!(router.calls().len(), 1);
    let mine = all_messages(&mut client, ALICE, &id).await;
    assert_eq!(mine.len(), 2);
    let alices = client
        .list_sessions(as_(ALICE, pb::ListSessionsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alices.sessions.len(), 1);
    app.stop().await;
}

async fn every_rpc_needs_a_subject(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "job_interview").await;
    let id = session.id;
    let unauthenticated = |r: Result<(), tonic::Status>| {
        assert_eq!(r.unwrap_err().code(), Code::Unauthenticated);
    };
    use tonic::Request as R;
    unauthenticated(
        client
            .list_scenarios(R::new(pb::ListScenariosRequest {}))
            .await
            .map(drop),
    );
    unauthenticated(
        client
            .get_profile(R::new(pb::GetProfileRequest {}))
            .await
            .map(drop),
    );
    unauthenticated(
        client
            .update_profile(R::new(pb::UpdateProfileRequest::default()))
            .await
            .map(drop),
    );
    unauthenticated(
        client
            .create_session(R::new(pb::CreateSessionRequest {
                scenario_id: "job_interview".into(),
                ..Default::default()
            }))
            .await
            .map(drop),
    );
    unauthenticated(
        client
            .get_session(R::new(pb::GetSessionRequest {
                session_id: id.clone(),
            }))
            .await
            .map(drop),
    );
    unauthenticated(
        client
            .list_sessions(R::new(pb::ListSessionsRequest::default()))
            .await
            .map(drop),
    );
    unauthenticated(
        client
            .delete_session(R::new(pb::DeleteSessionRequest {
                session_id: id.clone(),
            }))
            .await
            .map(drop),
    );
    unauthenticated(
        client
            .send_message(R::new(send(&id, "hi", "")))
            .await
            .map(drop),
    );
    unauthenticated(
        client
            .stream_message(R::new(send(&id, "hi", "")))
            .await
            .map(drop),
    );
    unauthenticated(
        client
            .list_messages(R::new(pb::ListMessagesRequest {
                session_id: id.clone(),
                ..Default::default()
            }))
            .await
            .map(drop),
    );
    // An empty subject is no subject.
    unauthenticated(
        client
            .get_profile(as_("", pb::GetProfileRequest {}))
            .await
            .map(drop),
    );
    assert!(router.calls().is_empty());
    app.stop().await;
}

async fn bad_input_is_invalid_argument(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "job_interview").await;
    let id = session.id.clone();
    let invalid = |r: Result<(), tonic::Status>, needle: &str| {
        let e = r.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(
            e.message().contains(needle),
            "{needle:?} not in {:?}",
            e.message()
        );
    };
    invalid(
        client
            .send_message(as_(ALICE, send(&id, "", "")))
            .await
            .map(drop),
        "content",
    );
    invalid(
        client
            .send_message(as_(ALICE, send(&id, " \n ", "")))
            .await
            .map(drop),
        "content",
    );
    invalid(
        client
            .send_message(as_(ALICE, send(&id, &"a".repeat(4001), "")))
            .await
            .map(drop),
        "4000",
    );
    invalid(
        collect_stream(&mut client, ALICE, send(&id, "", ""))
            .await
            .map(drop),
        "content",
    );
    invalid(
        client
            .send_message(as_(ALICE, send(&id, "hi", "bad id!")))
            .await
            .map(drop),
        "client_message_id",
    );
    invalid(
        client
            .send_message(as_(ALICE, send("not-a-uuid", "hi", "")))
            .await
            .map(drop),
        "session_id",
    );
    invalid(
        client
            .get_session(as_(
                ALICE,
                pb::GetSessionRequest {
                    session_id: String::new(),
                },
            ))
            .await
            .map(drop),
        "session_id",
    );
    let create = |scenario: &str, level: i32, title: String| pb::CreateSessionRequest {
        scenario_id: scenario.into(),
        level,
        title,
    };
    invalid(
        client
            .create_session(as_(ALICE, create("karaoke", 0, String::new())))
            .await
            .map(drop),
        "unknown scenario_id",
    );
    invalid(
        client
            .create_session(as_(ALICE, create("", 0, String::new())))
            .await
            .map(drop),
        "scenario_id",
    );
    invalid(
        client
            .create_session(as_(ALICE, create("job_interview", 99, String::new())))
            .await
            .map(drop),
        "level",
    );
    invalid(
        client
            .create_session(as_(ALICE, create("job_interview", 0, "t".repeat(201))))
            .await
            .map(drop),
        "title",
    );
    invalid(
        client
            .update_profile(as_(
                ALICE,
                pb::UpdateProfileRequest {
                    level: 7,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        "level",
    );
    invalid(
        client
            .update_profile(as_(
                ALICE,
                pb::UpdateProfileRequest {
                    native_language: Some("Japanese!".into()),
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        "native_language",
    );
    invalid(
        client
            .list_sessions(as_(
                ALICE,
                pb::ListSessionsRequest {
                    page_size: 101,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        "page_size",
    );
    invalid(
        client
            .list_sessions(as_(
                ALICE,
                pb::ListSessionsRequest {
                    page_token: "garbage".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        "page_token",
    );
    invalid(
        client
            .list_messages(as_(
                ALICE,
                pb::ListMessagesRequest {
                    session_id: id.clone(),
                    page_size: 201,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        "page_size",
    );
    invalid(
        client
            .list_messages(as_(
                ALICE,
                pb::ListMessagesRequest {
                    session_id: id.clone(),
                    page_token: "garbage".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        "page_token",
    );
    // A message token of another session is rejected too.
    let other = create_session(&mut client, ALICE, "job_interview").await;
    for i in 0..3 {
        client
            .send_message(as_(ALICE, send(&other.id, &format!("m{i}"), "")))
            .await
            .unwrap();
    }
    let page = client
        .list_messages(as_(
            ALICE,
            pb::ListMessagesRequest {
                session_id: other.id.clone(),
                page_size: 2,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!page.next_page_token.is_empty());
    invalid(
        client
            .list_messages(as_(
                ALICE,
                pb::ListMessagesRequest {
                    session_id: id.clone(),
                    page_token: page.next_page_token,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        "page_token",
    );
    assert_eq!(
        router.calls().len(),
        3,
        "invalid sends never reach the router"
    );
    assert!(all_messages(&mut client, ALICE, &id).await.is_empty());
    app.stop().await;
}
