//! Pagination (stable while rows arrive) and soft delete.

use crate::support::{
    ALICE, BOB, Backend, all_messages, as_, collect_stream, create_session, on_both_databases,
    send, setup,
};
use fluentedge_proto::conversation::v1 as pb;
use tonic::Code;

on_both_databases!(
    message_pages_are_stable_while_messages_arrive,
    sessions_page_newest_first_and_soft_delete_hides_them,
    archived_sessions_leave_the_default_list,
);

async fn message_pages_are_stable_while_messages_arrive(backend: Backend) {
    let (app, _router, mut client) = setup(backend, &[]).await;
    let session = create_session(&mut client, ALICE, "colleague_small_talk").await;
    for i in 0..3 {
        client
            .send_message(as_(ALICE, send(&session.id, &format!("before {i}"), "")))
            .await
            .unwrap();
    }
    let mut seen: Vec<pb::Message> = Vec::new();
    let mut token = String::new();
    let mut sent_during = 0;
    loop {
        let page = client
            .list_messages(as_(
                ALICE,
                pb::ListMessagesRequest {
                    session_id: session.id.clone(),
                    page_size: 4,
                    page_token: token.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.messages.len() <= 4);
        seen.extend(page.messages);
        // New exchanges arrive (unary and streamed) between every page.
        if sent_during < 3 {
            client
                .send_message(as_(
                    ALICE,
                    send(&session.id, &format!("during {sent_during}"), ""),
                ))
                .await
                .unwrap();
            collect_stream(
                &mut client,
                ALICE,
                send(&session.id, &format!("streamed {sent_during}"), ""),
            )
            .await
            .unwrap();
            sent_during += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let all = all_messages(&mut client, ALICE, &session.id).await;
    assert_eq!(all.len(), 6 + 4 * sent_during);
    // Oldest first, nothing skipped, nothing twice.
    assert_eq!(&all[..seen.len()], &seen[..]);
    let mut ids: Vec<&str> = seen.iter().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), seen.len());
    assert!(
        seen.len() >= 8,
        "pages reached messages sent while paging ({})",
        seen.len()
    );
    let times: Vec<_> = all
        .iter()
        .map(|m| {
            let t = m.created_at.unwrap();
            (t.seconds, t.nanos)
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    app.stop().await;
}

async fn sessions_page_newest_first_and_soft_delete_hides_them(backend: Backend) {
    let (app, _router, mut client) = setup(backend, &[]).await;
    let mut created = Vec::new();
    for s in [
        "job_interview",
        "restaurant_order",
        "hotel_check_in",
        "team_standup",
        "airport_check_in",
    ] {
        created.push(create_session(&mut client, ALICE, s).await);
    }
    let mut listed = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_sessions(as_(
                ALICE,
                pb::ListSessionsRequest {
                    page_size: 2,
                    page_token: token,
                    include_archived: false,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        listed.extend(page.sessions);
        if pages == 1 {
            // A session created while paging sorts before the first page: no page shifts.
            create_session(&mut client, ALICE, "asking_directions").await;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let newest_first: Vec<&str> = created.iter().rev().map(|s| s.id.as_str()).collect();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        newest_first
    );

    let doomed = &created[1];
    client
        .send_message(as_(ALICE, send(&doomed.id, "Can I see the menu?", "")))
        .await
        .unwrap();
    client
        .delete_session(as_(
            ALICE,
            pb::DeleteSessionRequest {
                session_id: doomed.id.clone(),
            },
        ))
        .await
        .unwrap();
    let gone = |r: Result<(), tonic::Status>| assert_eq!(r.unwrap_err().code(), Code::NotFound);
    gone(
        client
            .get_session(as_(
                ALICE,
                pb::GetSessionRequest {
                    session_id: doomed.id.clone(),
                },
            ))
            .await
            .map(drop),
    );
    gone(
        client
            .list_messages(as_(
                ALICE,
                pb::ListMessagesRequest {
                    session_id: doomed.id.clone(),
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
    );
    gone(
        client
            .send_message(as_(ALICE, send(&doomed.id, "Hello?", "")))
            .await
            .map(drop),
    );
    gone(
        client
            .delete_session(as_(
                ALICE,
                pb::DeleteSessionRequest {
                    session_id: doomed.id.clone(),
                },
            ))
            .await
            .map(drop),
    );
    let after = client
        .list_sessions(as_(
            ALICE,
            pb::ListSessionsRequest {
                page_size: 100,
                include_archived: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.sessions.len(), 5);
    assert!(after.sessions.iter().all(|s| s.id != doomed.id));
    assert!(after.next_page_token.is_empty());
    app.stop().await;
}

async fn archived_sessions_leave_the_default_list(backend: Backend) {
    let (app, _router, mut client) = setup(backend, &[]).await;
    let kept = create_session(&mut client, ALICE, "job_interview").await;
    let archived = create_session(&mut client, ALICE, "hotel_check_in").await;
    let update = |id: &str, archived: Option<bool>| pb::UpdateSessionRequest {
        session_id: id.to_owned(),
        archived,
    };
    let session = client
        .update_session(as_(ALICE, update(&archived.id, Some(true))))
        .await
        .unwrap()
        .into_inner();
    assert!(session.archived);
    // Another learner cannot archive it, nor learn that it exists.
    let err = client
        .update_session(as_(BOB, update(&kept.id, Some(true))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    let list = |include_archived| pb::ListSessionsRequest {
        page_size: 10,
        include_archived,
        ..Default::default()
    };
    let default = client
        .list_sessions(as_(ALICE, list(false)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        default
            .sessions
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        vec![kept.id.as_str()]
    );
    let all = client
        .list_sessions(as_(ALICE, list(true)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.sessions.len(), 2);

    // Unarchiving brings it back; an empty update changes nothing.
    client
        .update_session(as_(ALICE, update(&archived.id, Some(false))))
        .await
        .unwrap();
    let unchanged = client
        .update_session(as_(ALICE, update(&kept.id, None)))
        .await
        .unwrap()
        .into_inner();
    assert!(!unchanged.archived);
    let default = client
        .list_sessions(as_(ALICE, list(false)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(default.sessions.len(), 2);
    app.stop().await;
}
