//! The storage conformance suite (every test runs against PostgreSQL and SQLite): fixtures, learners and sessions.

use crate::support::{Backend, Db, on_both_databases};
use chrono::{DateTime, Utc};
use conversation::domain::model::{ExchangeOutcome, NewLearnerMessage, NewSession};
use conversation::domain::{CefrLevel, MessageStatus, ProfileUpdate, TutorReply, Usage};
use conversation::storage::{DynStore, Inserted, PostgresStore, SessionCursor, SqliteStore, Store};
use std::sync::Arc;
use uuid::Uuid;

pub(crate) struct Fixture {
    pub(crate) store: DynStore,
    _db: Db,
}

pub(crate) async fn fixture(backend: Backend) -> Fixture {
    let db = Db::create(backend).await;
    let store: DynStore = match &db {
        Db::Postgres(pg) => Arc::new(PostgresStore::connect_lazy(&pg.url, 5).unwrap()),
        Db::Sqlite(dir) => Arc::new(SqliteStore::open_lazy(&dir.path().join("t.db"), 5).unwrap()),
    };
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    Fixture { store, _db: db }
}

/// A fixed, microsecond-exact time `s` seconds after a base.
pub(crate) fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000 + s, 0).unwrap()
}

pub(crate) async fn session(store: &dyn Store, owner: &str, at: DateTime<Utc>) -> Uuid {
    store.ensure_learner(owner, at).await.unwrap();
    let s = store
        .create_session(&NewSession {
            id: Uuid::now_v7(),
            owner_id: owner.into(),
            scenario_id: "job_interview".into(),
            level: CefrLevel::B2,
            title: "Interview".into(),
            now: at,
        })
        .await
        .unwrap();
    s.id
}

pub(crate) fn learner_msg(
    owner: &str,
    session: Uuid,
    content: &str,
    client: &str,
    at: DateTime<Utc>,
) -> NewLearnerMessage {
    let id = Uuid::now_v7();
    NewLearnerMessage {
        id,
        owner_id: owner.into(),
        session_id: session,
        content: content.into(),
        client_message_id: client.into(),
        call_id: format!("conv-{id}"),
        now: at,
    }
}

pub(crate) fn reply(content: &str, status: MessageStatus) -> TutorReply {
    TutorReply {
        content: content.into(),
        status,
        usage: Usage {
            input_tokens: 100,
            output_tokens: 20,
            cost_micro_usd: 1500,
        },
        provider: "azure".into(),
        model: "gpt-4o-mini".into(),
        call_id: "req-1".into(),
    }
}

pub(crate) fn done(
    id: Uuid,
    reply: Option<TutorReply>,
    failed: Option<&str>,
    at: DateTime<Utc>,
) -> ExchangeOutcome {
    ExchangeOutcome {
        learner_message_id: id,
        learner_status: if failed.is_some() {
            MessageStatus::Failed
        } else {
            MessageStatus::Completed
        },
        error_reason: failed.map(str::to_owned),
        reply,
        now: at,
    }
}

pub(crate) async fn new_message(
    store: &dyn Store,
    m: &NewLearnerMessage,
) -> conversation::domain::Message {
    match store.insert_learner_message(m).await.unwrap() {
        Inserted::New(m) => m,
        other => panic!("expected a new message, got {other:?}"),
    }
}

/// One completed exchange at time `at`.
pub(crate) async fn exchange(
    store: &dyn Store,
    owner: &str,
    session: Uuid,
    text: &str,
    at: DateTime<Utc>,
) {
    let m = new_message(
        store,
        &learner_msg(owner, session, text, &Uuid::new_v4().to_string(), at),
    )
    .await;
    store
        .finish_exchange(&done(
            m.id,
            Some(reply(&format!("re: {text}"), MessageStatus::Completed)),
            None,
            at,
        ))
        .await
        .unwrap();
}

on_both_databases!(
    learners_are_created_on_first_use_and_updated,
    sessions_belong_to_their_owner,
    sessions_list_newest_first_with_a_cursor,
    soft_delete_hides_the_session_and_its_messages,
);

async fn learners_are_created_on_first_use_and_updated(backend: Backend) {
    let f = fixture(backend).await;
    let l = f.store.ensure_learner("learner-1", t(0)).await.unwrap();
    assert_eq!(l.id, "learner-1");
    assert_eq!(l.display_name, "");
    assert_eq!(l.level, None);
    assert_eq!(l.created_at, t(0));
    let again = f.store.ensure_learner("learner-1", t(5)).await.unwrap();
    assert_eq!(again, l, "ensure does not touch an existing learner");

    let updated = f
        .store
        .update_learner(
            "learner-1",
            &ProfileUpdate {
                display_name: Some("Aiko".into()),
                level: Some(CefrLevel::A2),
                native_language: None,
            },
            t(10),
        )
        .await
        .unwrap();
    assert_eq!(updated.display_name, "Aiko");
    assert_eq!(updated.level, Some(CefrLevel::A2));
    assert_eq!(updated.native_language, "");
    assert_eq!(updated.created_at, t(0));
    assert_eq!(updated.updated_at, t(10));
    let partial = f
        .store
        .update_learner(
            "learner-1",
            &ProfileUpdate {
                native_language: Some("ja".into()),
                ..Default::default()
            },
            t(11),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            partial.display_name.as_str(),
            partial.level,
            partial.native_language.as_str()
        ),
        ("Aiko", Some(CefrLevel::A2), "ja")
    );
    // Updating a learner never seen creates it.
    let fresh = f
        .store
        .update_learner(
            "learner-2",
            &ProfileUpdate {
                level: Some(CefrLevel::C1),
                ..Default::default()
            },
            t(12),
        )
        .await
        .unwrap();
    assert_eq!(fresh.level, Some(CefrLevel::C1));
    assert_eq!(fresh.created_at, t(12));
}

async fn sessions_belong_to_their_owner(backend: Backend) {
    let f = fixture(backend).await;
    let s = session(&*f.store, "alice", t(0)).await;
    f.store.ensure_learner("bob", t(0)).await.unwrap();
    let got = f.store.get_session("alice", s).await.unwrap().unwrap();
    assert_eq!(
        (got.scenario_id.as_str(), got.level, got.title.as_str()),
        ("job_interview", CefrLevel::B2, "Interview")
    );
    assert_eq!(got.message_count, 0);
    assert!(!got.archived);
    assert!(f.store.get_session("bob", s).await.unwrap().is_none());
    assert!(
        f.store
            .list_sessions("bob", true, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!f.store.delete_session("bob", s, t(1)).await.unwrap());
    assert!(!f.store.set_archived("bob", s, true, t(1)).await.unwrap());
    let stolen = learner_msg("bob", s, "hi", "c1", t(1));
    assert_eq!(
        f.store.insert_learner_message(&stolen).await.unwrap(),
        Inserted::SessionNotFound
    );
    exchange(&*f.store, "alice", s, "hello", t(2)).await;
    assert!(
        f.store
            .list_messages("bob", s, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(f.store.history("bob", s, 100, 10).await.unwrap().is_empty());
    assert_eq!(
        f.store
            .list_messages("alice", s, 0, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        f.store.get_session("alice", s).await.unwrap().is_some(),
        "bob changed nothing"
    );
}

async fn sessions_list_newest_first_with_a_cursor(backend: Backend) {
    let f = fixture(backend).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(session(&*f.store, "alice", t(i)).await);
    }
    // Two sessions created in the same microsecond are ordered by id.
    ids.push(session(&*f.store, "alice", t(4)).await);
    let all = f
        .store
        .list_sessions("alice", false, None, 100)
        .await
        .unwrap();
    let mut expected: Vec<(DateTime<Utc>, Uuid)> =
        all.iter().map(|s| (s.created_at, s.id)).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        all.iter().map(|s| (s.created_at, s.id)).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(all.len(), 6);
    assert_eq!(all.last().unwrap().id, ids[0], "the oldest last");

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = f
            .store
            .list_sessions("alice", false, after, 2)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|s| SessionCursor {
            created_at: s.created_at,
            id: s.id,
        });
        paged.extend(page);
    }
    assert_eq!(paged, all);

    assert!(
        f.store
            .set_archived("alice", ids[2], true, t(9))
            .await
            .unwrap()
    );
    let live = f
        .store
        .list_sessions("alice", false, None, 100)
        .await
        .unwrap();
    assert_eq!(live.len(), 5);
    assert!(live.iter().all(|s| s.id != ids[2]));
    let with_archived = f
        .store
        .list_sessions("alice", true, None, 100)
        .await
        .unwrap();
    assert_eq!(with_archived.len(), 6);
    assert!(
        with_archived
            .iter()
            .find(|s| s.id == ids[2])
            .unwrap()
            .archived
    );
}

async fn soft_delete_hides_the_session_and_its_messages(backend: Backend) {
    let f = fixture(backend).await;
    let s = session(&*f.store, "alice", t(0)).await;
    let keep = session(&*f.store, "alice", t(1)).await;
    exchange(&*f.store, "alice", s, "hello", t(2)).await;
    assert!(f.store.delete_session("alice", s, t(3)).await.unwrap());
    assert!(
        !f.store.delete_session("alice", s, t(4)).await.unwrap(),
        "already deleted"
    );
    assert!(f.store.get_session("alice", s).await.unwrap().is_none());
    let listed = f
        .store
        .list_sessions("alice", true, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|x| x.id).collect::<Vec<_>>(), vec![keep]);
    assert!(
        f.store
            .list_messages("alice", s, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.store
            .history("alice", s, 100, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let late = learner_msg("alice", s, "anyone?", "c9", t(5));
    assert_eq!(
        f.store.insert_learner_message(&late).await.unwrap(),
        Inserted::SessionNotFound
    );
    assert!(!f.store.set_archived("alice", s, true, t(5)).await.unwrap());
}
