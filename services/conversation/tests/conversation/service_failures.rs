//! The service against a failing router: errors kept, frames terminal, nothing lost.

use crate::fake_router::Script;
use crate::support::{
    ALICE, Backend, all_messages, as_, collect_stream, create_session, eventually,
    on_both_databases, reason, send, setup,
};
use fluentedge_proto::conversation::v1 as pb;
use tonic::Code;

on_both_databases!(
    a_router_error_keeps_the_learners_message,
    a_router_error_mid_stream_ends_with_an_error_frame,
    a_cut_router_stream_is_an_interrupted_reply,
    a_retry_while_the_tutor_is_answering_is_aborted,
    a_dropped_stream_still_stores_the_reply,
);

async fn a_router_error_keeps_the_learners_message(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "doctor_appointment").await;
    router.script([Script::Fail(Code::ResourceExhausted, "budget_exceeded")]);
    let err = client
        .send_message(as_(ALICE, send(&session.id, "I have a headache.", "f-1")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(reason(&err), "budget_exceeded");
    assert!(
        err.message().contains("the tutor could not answer"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("client_message_id"),
        "{}",
        err.message()
    );
    let stored = all_messages(&mut client, ALICE, &session.id).await;
    assert_eq!(stored.len(), 1, "no tutor message without text");
    assert_eq!(stored[0].status, pb::MessageStatus::Failed as i32);
    assert_eq!(stored[0].content, "I have a headache.");

    router.script([Script::Fail(Code::Unavailable, "all_providers_failed")]);
    let err = client
        .send_message(as_(ALICE, send(&session.id, "I have a headache.", "f-1")))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::Unavailable, "all_providers_failed")
    );

    // A retry of a failed message asks again, as a new attempt with its own router call id.
    let ok = client
        .send_message(as_(ALICE, send(&session.id, "I have a headache.", "f-1")))
        .await
        .unwrap()
        .into_inner();
    let learner = ok.learner_message.unwrap();
    assert_eq!(learner.id, stored[0].id);
    assert_eq!(learner.status, pb::MessageStatus::Completed as i32);
    let ids: Vec<String> = router
        .calls()
        .iter()
        .map(|c| c.request.call_id.clone())
        .collect();
    assert_eq!(
        ids,
        [
            format!("conv-{}", learner.id),
            format!("conv-{}-2", learner.id),
            format!("conv-{}-3", learner.id)
        ]
    );
    assert_eq!(ok.tutor_message.unwrap().call_id, ids[2]);
    assert_eq!(all_messages(&mut client, ALICE, &session.id).await.len(), 2);
    app.stop().await;
}

async fn a_router_error_mid_stream_ends_with_an_error_frame(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "team_standup").await;
    router.script([Script::ErrorAfter(2, "all_providers_failed")]);
    let streamed = collect_stream(
        &mut client,
        ALICE,
        send(&session.id, "Yesterday I fixed the build.", "m-1"),
    )
    .await
    .unwrap();
    assert_eq!(streamed.deltas, ["Tutor", " says:"]);
    assert!(streamed.completed.is_none());
    assert_eq!(streamed.after_terminal, 0);
    let error = streamed.error.expect("terminal error frame");
    assert_eq!(error.reason, "all_providers_failed");
    assert_eq!(error.grpc_code, Code::Unavailable as u32);
    assert!(error.message.contains("the tutor could not answer"));
    let partial = error.tutor_message.expect("the partial reply as stored");
    assert_eq!(partial.status, pb::MessageStatus::Partial as i32);
    assert_eq!(partial.content, "Tutor says:");
    assert_eq!(partial.cost_micro_usd, 99, "the partial usage is kept");
    let stored = all_messages(&mut client, ALICE, &session.id).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].status, pb::MessageStatus::Failed as i32);
    assert_eq!(stored[1], partial);

    // Retrying completes the exchange; the reply replaces the partial one.
    let retry = collect_stream(
        &mut client,
        ALICE,
        send(&session.id, "Yesterday I fixed the build.", "m-1"),
    )
    .await
    .unwrap();
    let completed = retry.completed.unwrap();
    assert_eq!(completed.id, partial.id);
    assert_eq!(completed.status, pb::MessageStatus::Completed as i32);
    let stored = all_messages(&mut client, ALICE, &session.id).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].status, pb::MessageStatus::Completed as i32);
    app.stop().await;
}

async fn a_cut_router_stream_is_an_interrupted_reply(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "asking_directions").await;
    router.script([
        Script::CutAfter(3),
        Script::Fail(Code::Unavailable, "unavailable"),
    ]);
    let streamed = collect_stream(
        &mut client,
        ALICE,
        send(&session.id, "Where is the station?", "cut-1"),
    )
    .await
    .unwrap();
    let error = streamed.error.unwrap();
    assert_eq!(error.reason, "stream_interrupted");
    assert_eq!(error.tutor_message.unwrap().content, "Tutor says: Where");
    // A stream refused before it starts is an error frame with no tutor message.
    let refused = collect_stream(&mut client, ALICE, send(&session.id, "Hello?", "cut-2"))
        .await
        .unwrap();
    let error = refused.error.unwrap();
    assert_eq!(error.reason, "unavailable");
    assert!(error.tutor_message.is_none());
    assert!(refused.deltas.is_empty());
    let stored = all_messages(&mut client, ALICE, &session.id).await;
    let statuses: Vec<i32> = stored.iter().map(|m| m.status).collect();
    use pb::MessageStatus as S;
    assert_eq!(
        statuses,
        [S::Failed as i32, S::Partial as i32, S::Failed as i32]
    );
    app.stop().await;
}

async fn a_retry_while_the_tutor_is_answering_is_aborted(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "salary_negotiation").await;
    router.script([Script::Gated]);
    let mut first_client = client.clone();
    let sid = session.id.clone();
    let first = tokio::spawn(async move {
        first_client
            .send_message(as_(ALICE, send(&sid, "I was hoping for more.", "p-1")))
            .await
    });
    eventually(|| async { (!router.calls().is_empty()).then_some(()) }).await;
    let err = client
        .send_message(as_(
            ALICE,
            send(&session.id, "I was hoping for more.", "p-1"),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(
        err.message().contains("still being answered"),
        "{}",
        err.message()
    );
    let pending = all_messages(&mut client, ALICE, &session.id).await;
    assert_eq!(pending[0].status, pb::MessageStatus::Pending as i32);
    router.release();
    let done = first.await.unwrap().unwrap().into_inner();
    assert_eq!(
        done.tutor_message.unwrap().status,
        pb::MessageStatus::Completed as i32
    );
    assert_eq!(router.calls().len(), 1);
    app.stop().await;
}

async fn a_dropped_stream_still_stores_the_reply(backend: Backend) {
    let (app, router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "customer_support_call").await;
    router.script([Script::Gated]);
    {
        let mut stream = client
            .stream_message(as_(
                ALICE,
                send(&session.id, "My order never arrived.", "d-1"),
            ))
            .await
            .unwrap()
            .into_inner();
        let accepted = stream.message().await.unwrap().unwrap();
        assert!(matches!(
            accepted.frame,
            Some(pb::stream_message_response::Frame::Accepted(_))
        ));
        let delta = stream.message().await.unwrap().unwrap();
        assert!(matches!(
            delta.frame,
            Some(pb::stream_message_response::Frame::Delta(_))
        ));
        // The learner closes the app mid-reply.
    }
    router.release();
    let stored = eventually(|| {
        let mut client = client.clone();
        let session = session.id.clone();
        async move {
            let all = all_messages(&mut client, ALICE, &session).await;
            (all.len() == 2 && all[1].status == pb::MessageStatus::Completed as i32).then_some(all)
        }
    })
    .await;
    assert_eq!(stored[1].content, "Tutor says: My order never arrived.");
    assert_eq!(stored[0].status, pb::MessageStatus::Completed as i32);
    app.stop().await;
}
