//! The storage conformance suite, messages: idempotent sends, exchanges,
//! retries, history and paging, on PostgreSQL and SQLite.

use crate::storage::{done, exchange, fixture, learner_msg, new_message, reply, session, t};
use crate::support::{Backend, on_both_databases};
use chrono::TimeDelta;
use conversation::domain::{MessageRole, MessageStatus, Usage};
use conversation::storage::{Inserted, RetryClaim};

on_both_databases!(
    a_client_message_id_is_stored_once,
    a_completed_exchange_stores_the_reply_after_the_message,
    a_failed_message_can_be_claimed_once_and_retried,
    only_stale_pending_messages_can_be_taken_over,
    history_is_completed_messages_before_a_seq,
    messages_page_by_seq,
    concurrent_sends_get_distinct_seqs,
);

async fn a_client_message_id_is_stored_once(backend: Backend) {
    let f = fixture(backend).await;
    let s = session(&*f.store, "alice", t(0)).await;
    let first = learner_msg("alice", s, "Hello", "client-1", t(1));
    let stored = new_message(&*f.store, &first).await;
    assert_eq!(stored.id, first.id);
    assert_eq!(stored.seq, 1);
    assert_eq!(stored.status, MessageStatus::Pending);
    assert_eq!(stored.role, MessageRole::Learner);
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.client_message_id.as_deref(), Some("client-1"));
    assert_eq!(stored.call_id, first.call_id);
    assert_eq!(stored.created_at, t(1));

    let retry = learner_msg("alice", s, "Hello", "client-1", t(2));
    assert_eq!(
        f.store.insert_learner_message(&retry).await.unwrap(),
        Inserted::Existing(stored.clone())
    );
    let second = new_message(
        &*f.store,
        &learner_msg("alice", s, "Again", "client-2", t(3)),
    )
    .await;
    assert_eq!(second.seq, 2, "the retry took no seq");
    assert_eq!(
        f.store
            .get_session("alice", s)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        2
    );
    // The same client id in another session is another message.
    let other = session(&*f.store, "alice", t(4)).await;
    new_message(
        &*f.store,
        &learner_msg("alice", other, "Hello", "client-1", t(5)),
    )
    .await;
}

async fn a_completed_exchange_stores_the_reply_after_the_message(backend: Backend) {
    let f = fixture(backend).await;
    let s = session(&*f.store, "alice", t(0)).await;
    let m = new_message(&*f.store, &learner_msg("alice", s, "Hello", "c1", t(1))).await;
    // The reply is stored at the same instant: it still sorts after.
    let (learner, tutor) = f
        .store
        .finish_exchange(&done(
            m.id,
            Some(reply("Hi there!", MessageStatus::Completed)),
            None,
            t(1),
        ))
        .await
        .unwrap();
    let tutor = tutor.unwrap();
    assert_eq!(learner.status, MessageStatus::Completed);
    assert_eq!(learner.error_reason, None);
    assert_eq!(tutor.role, MessageRole::Tutor);
    assert_eq!(tutor.status, MessageStatus::Completed);
    assert_eq!(tutor.content, "Hi there!");
    assert_eq!(tutor.seq, 2);
    assert!(tutor.created_at > learner.created_at);
    assert_eq!(tutor.reply_to, Some(m.id));
    assert_eq!(
        tutor.usage,
        Usage {
            input_tokens: 100,
            output_tokens: 20,
            cost_micro_usd: 1500
        }
    );
    assert_eq!(
        (
            tutor.provider.as_str(),
            tutor.model.as_str(),
            tutor.call_id.as_str()
        ),
        ("azure", "gpt-4o-mini", "req-1")
    );
    assert_eq!(f.store.reply_to(m.id).await.unwrap(), Some(tutor.clone()));
    let listed = f.store.list_messages("alice", s, 0, 10).await.unwrap();
    assert_eq!(listed, vec![learner, tutor]);
    assert_eq!(
        f.store
            .get_session("alice", s)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        2
    );
}

async fn a_failed_message_can_be_claimed_once_and_retried(backend: Backend) {
    let f = fixture(backend).await;
    let s = session(&*f.store, "alice", t(0)).await;
    let m = new_message(&*f.store, &learner_msg("alice", s, "Hello", "c1", t(1))).await;
    let (failed, partial) = f
        .store
        .finish_exchange(&done(
            m.id,
            Some(reply("Hi th", MessageStatus::Partial)),
            Some("stream_interrupted"),
            t(2),
        ))
        .await
        .unwrap();
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.error_reason.as_deref(), Some("stream_interrupted"));
    let partial = partial.unwrap();
    assert_eq!(partial.status, MessageStatus::Partial);

    let claim = |seen, at| RetryClaim {
        message_id: m.id,
        seen_attempts: seen,
        call_id: format!("conv-{}-2", m.id),
        stale_before: t(0),
        now: at,
    };
    assert!(
        f.store
            .claim_retry(&claim(7, t(3)))
            .await
            .unwrap()
            .is_none(),
        "stale view"
    );
    let claimed = f.store.claim_retry(&claim(1, t(3))).await.unwrap().unwrap();
    assert_eq!(claimed.status, MessageStatus::Pending);
    assert_eq!(claimed.attempts, 2);
    assert_eq!(claimed.error_reason, None);
    assert_eq!(claimed.call_id, format!("conv-{}-2", m.id));
    assert!(
        f.store
            .claim_retry(&claim(1, t(3)))
            .await
            .unwrap()
            .is_none(),
        "claimed once"
    );
    assert!(
        f.store
            .claim_retry(&claim(2, t(3)))
            .await
            .unwrap()
            .is_none(),
        "pending, not stale"
    );

    let (learner, tutor) = f
        .store
        .finish_exchange(&done(
            m.id,
            Some(reply("Hi there, welcome!", MessageStatus::Completed)),
            None,
            t(4),
        ))
        .await
        .unwrap();
    let tutor = tutor.unwrap();
    assert_eq!(learner.status, MessageStatus::Completed);
    assert_eq!(tutor.id, partial.id, "the reply replaces the partial one");
    assert_eq!(tutor.seq, partial.seq);
    assert_eq!(tutor.status, MessageStatus::Completed);
    assert_eq!(tutor.content, "Hi there, welcome!");
    assert_eq!(
        f.store
            .list_messages("alice", s, 0, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        f.store
            .get_session("alice", s)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        2
    );
    assert!(
        f.store
            .claim_retry(&claim(2, t(5)))
            .await
            .unwrap()
            .is_none(),
        "completed is final"
    );
}

async fn only_stale_pending_messages_can_be_taken_over(backend: Backend) {
    let f = fixture(backend).await;
    let s = session(&*f.store, "alice", t(0)).await;
    let m = new_message(&*f.store, &learner_msg("alice", s, "Hello", "c1", t(10))).await;
    let claim = |stale_before| RetryClaim {
        message_id: m.id,
        seen_attempts: 1,
        call_id: "conv-x-2".into(),
        stale_before,
        now: t(20),
    };
    assert!(
        f.store.claim_retry(&claim(t(10))).await.unwrap().is_none(),
        "touched at the cutoff: alive"
    );
    let taken = f.store.claim_retry(&claim(t(11))).await.unwrap().unwrap();
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.updated_at, t(20));
}

async fn history_is_completed_messages_before_a_seq(backend: Backend) {
    let f = fixture(backend).await;
    let s = session(&*f.store, "alice", t(0)).await;
    for i in 1..=3 {
        exchange(&*f.store, "alice", s, &format!("turn {i}"), t(i)).await;
    }
    // A failed exchange with a partial reply, then a pending message.
    let failed = new_message(&*f.store, &learner_msg("alice", s, "broken", "cf", t(4))).await;
    f.store
        .finish_exchange(&done(
            failed.id,
            Some(reply("par", MessageStatus::Partial)),
            Some("all_providers_failed"),
            t(4),
        ))
        .await
        .unwrap();
    let pending = new_message(&*f.store, &learner_msg("alice", s, "now", "cp", t(5))).await;
    assert_eq!(pending.seq, 9);

    let h = f.store.history("alice", s, pending.seq, 100).await.unwrap();
    let contents: Vec<&str> = h.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        [
            "turn 1",
            "re: turn 1",
            "turn 2",
            "re: turn 2",
            "turn 3",
            "re: turn 3"
        ]
    );
    let recent = f.store.history("alice", s, pending.seq, 3).await.unwrap();
    assert_eq!(
        recent.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![4, 5, 6],
        "the most recent, oldest first"
    );
    let before = f.store.history("alice", s, 3, 100).await.unwrap();
    assert_eq!(before.len(), 2);
}

async fn messages_page_by_seq(backend: Backend) {
    let f = fixture(backend).await;
    let s = session(&*f.store, "alice", t(0)).await;
    for i in 1..=3 {
        exchange(&*f.store, "alice", s, &format!("turn {i}"), t(i)).await;
    }
    let first = f.store.list_messages("alice", s, 0, 4).await.unwrap();
    assert_eq!(
        first.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    // A message arriving between pages lands after the cursor.
    exchange(&*f.store, "alice", s, "turn 4", t(4)).await;
    let rest = f.store.list_messages("alice", s, 4, 100).await.unwrap();
    assert_eq!(
        rest.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![5, 6, 7, 8]
    );
    assert_eq!(rest.last().unwrap().content, "re: turn 4");
}

async fn concurrent_sends_get_distinct_seqs(backend: Backend) {
    let f = fixture(backend).await;
    let s = session(&*f.store, "alice", t(0)).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = f.store.clone();
        // Pairs share a client id: exactly one of each pair is stored.
        let msg = learner_msg(
            "alice",
            s,
            "same text",
            &format!("client-{}", i / 2),
            t(1) + TimeDelta::microseconds(i),
        );
        tasks.push(tokio::spawn(async move {
            store.insert_learner_message(&msg).await.unwrap()
        }));
    }
    let mut new = 0;
    let mut existing = 0;
    for task in tasks {
        match task.await.unwrap() {
            Inserted::New(_) => new += 1,
            Inserted::Existing(_) => existing += 1,
            Inserted::SessionNotFound => panic!("session vanished"),
        }
    }
    assert_eq!((new, existing), (6, 6));
    let listed = f.store.list_messages("alice", s, 0, 100).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<i64>>()
    );
    assert_eq!(
        f.store
            .get_session("alice", s)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        6
    );
}
