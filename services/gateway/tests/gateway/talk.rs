//! The app API: sessions, messages (unary and SSE), profile, ownership.

use super::app::*;
use serde_json::json;

async fn new_session(app: &TestApp, who: &str) -> String {
    let r = app
        .post_as(
            who,
            "/api/talk/sessions",
            json!({"scenario_id": "job_interview", "level": "B2"}),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["level"], "B2");
    assert_eq!(body["created_at"], "2026-09-21T14:13:20.000Z");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sessions_messages_and_profile() {
    let app = spawn_app().await;
    let (status, body) =
        json_of(app.get_as("a", "/api/talk/scenarios").send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["scenarios"][0]["id"], "job_interview");
    assert_eq!(body["scenarios"][0]["goals"][0], "answer clearly");

    let id = new_session(&app, "a").await;
    let (status, body) = json_of(
        app.get_as("a", &format!("/api/talk/sessions/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["id"].as_str()), (200, Some(id.as_str())));

    // Archiving: the owner can, another learner gets 404, a wrong type is a 400.
    let patch = |sub: &str, body: serde_json::Value| {
        app.http
            .patch(app.url(&format!("/api/talk/sessions/{id}")))
            .bearer_auth(learner(sub))
            .json(&body)
    };
    let (status, body) = json_of(patch("a", json!({"archived": true})).send().await.unwrap()).await;
    assert_eq!(
        (status, body["archived"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (status, _) = json_of(patch("b", json!({"archived": true})).send().await.unwrap()).await;
    assert_eq!(status, 404);
    let (status, body) =
        json_of(patch("a", json!({"archived": "yes"})).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("archived"),
        "{body}"
    );

    let r = app
        .post_as(
            "a",
            "/api/talk/message",
            json!({"session_id": id, "content": "I am a nurse.", "client_message_id": "c-1"}),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["learner_message"]["role"], "learner");
    assert_eq!(body["learner_message"]["client_message_id"], "c-1");
    assert_eq!(body["tutor_message"]["role"], "tutor");
    assert_eq!(body["tutor_message"]["status"], "completed");
    assert_eq!(body["tutor_message"]["content"], "Tutor: I am a nurse.");
    assert_eq!(body["tutor_message"]["cost_micro_usd"], 1_234_567);
    assert_eq!(body["tutor_message"]["cost_usd"], "1.234567");

    let r = app
        .get_as(
            "a",
            &format!("/api/talk/sessions/{id}/messages?page_size=1"),
        )
        .send()
        .await
        .unwrap();
    let (status, page) = json_of(r).await;
    assert_eq!(status, 200);
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_page_token"], "1");
    let r = app
        .get_as(
            "a",
            &format!("/api/talk/sessions/{id}/messages?page_token=1"),
        )
        .send()
        .await
        .unwrap();
    let (_, page) = json_of(r).await;
    assert_eq!(page["messages"][0]["role"], "tutor");
    assert_eq!(page["next_page_token"], serde_json::Value::Null);

    let (_, list) = json_of(
        app.get_as("a", "/api/talk/sessions?page_size=10")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);

    let r = app
        .http
        .patch(app.url("/api/talk/profile"))
        .bearer_auth(learner("a"))
        .json(&json!({"display_name": "Aiko", "level": "c1"}))
        .send()
        .await
        .unwrap();
    let (status, profile) = json_of(r).await;
    assert_eq!(
        (status, &profile["display_name"], &profile["level"]),
        (200, &json!("Aiko"), &json!("C1"))
    );
    let (_, profile) = json_of(app.get_as("a", "/api/talk/profile").send().await.unwrap()).await;
    assert_eq!(profile["learner_id"], "a");

    let r = app
        .http
        .delete(app.url(&format!("/api/talk/sessions/{id}")))
        .bearer_auth(learner("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app
        .get_as("a", &format!("/api/talk/sessions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn learner_a_cannot_read_or_touch_learner_bs_session() {
    let app = spawn_app().await;
    let id = new_session(&app, "learner-b").await;
    for r in [
        app.get_as("learner-a", &format!("/api/talk/sessions/{id}"))
            .send()
            .await
            .unwrap(),
        app.get_as("learner-a", &format!("/api/talk/sessions/{id}/messages"))
            .send()
            .await
            .unwrap(),
        app.http
            .delete(app.url(&format!("/api/talk/sessions/{id}")))
            .bearer_auth(learner("learner-a"))
            .send()
            .await
            .unwrap(),
        app.post_as(
            "learner-a",
            "/api/talk/message",
            json!({"session_id": id, "content": "hi"}),
        )
        .send()
        .await
        .unwrap(),
    ] {
        let (status, body) = json_of(r).await;
        assert_eq!((status, app_error(&body)), (404, "not_found"), "{body}");
    }
    let (_, list) = json_of(
        app.get_as("learner-a", "/api/talk/sessions")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(list["sessions"].as_array().unwrap().is_empty());
    // B still has it.
    let r = app
        .get_as("learner-b", &format!("/api/talk/sessions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn message_streams_as_server_sent_events() {
    let app = spawn_app().await;
    let id = new_session(&app, "a").await;
    let r = app
        .post_as(
            "a",
            "/api/talk/message",
            json!({"session_id": id, "content": "Hello"}),
        )
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&r.text().await.unwrap());
    let names: Vec<_> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    assert_eq!(names, ["accepted", "delta", "delta", "completed"]);
    let accepted: serde_json::Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(accepted["role"], "learner");
    let text: String = events[1..3]
        .iter()
        .map(|(_, d)| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "Tutor: Hello");
    let completed: serde_json::Value = serde_json::from_str(&events[3].1).unwrap();
    assert_eq!(completed["content"], "Tutor: Hello");
    assert_eq!(
        app.fakes
            .conversation
            .seen
            .last("StreamMessage")
            .subject
            .as_deref(),
        Some("a")
    );
}

#[tokio::test]
async fn a_stream_cut_after_it_started_ends_with_an_error_event() {
    let app = spawn_app().await;
    let id = new_session(&app, "a").await;
    for (content, code) in [
        // The provider cut the reply (conversation relays the router's frame).
        ("cut", "provider_stream_interrupted"),
        // The gateway lost conversation's stream.
        ("drop", "stream_interrupted"),
    ] {
        let r = app
            .post_as(
                "a",
                "/api/talk/message",
                json!({"session_id": id, "content": content}),
            )
            .header("accept", "text/event-stream")
            .header("x-request-id", "req-cut-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let events = sse_events(&r.text().await.unwrap());
        let (name, data) = events.last().unwrap();
        assert_eq!(name.as_deref(), Some("error"), "{content}: {events:?}");
        let data: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["error"]["code"], code);
        assert_eq!(data["error"]["request_id"], "req-cut-1");
        assert!(
            !events
                .iter()
                .any(|(e, _)| e.as_deref() == Some("completed"))
        );
        if content == "cut" {
            assert_eq!(data["tutor_message"]["status"], "partial");
            assert_eq!(data["tutor_message"]["content"], "Hel");
        }
    }
}

#[tokio::test]
async fn failures_before_the_reply_are_http_statuses() {
    let app = spawn_app().await;
    let id = new_session(&app, "a").await;
    // Streamed: the budget error frame comes before any reply text.
    let r = app
        .post_as(
            "a",
            "/api/talk/message",
            json!({"session_id": id, "content": "budget"}),
        )
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, app_error(&body)), (429, "budget_exceeded"));
    // Unary.
    let r = app
        .post_as(
            "a",
            "/api/talk/message",
            json!({"session_id": id, "content": "budget"}),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, app_error(&body)), (429, "budget_exceeded"));
    let r = app
        .post_as(
            "a",
            "/api/talk/message",
            json!({"session_id": id, "content": "providers"}),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, app_error(&body)), (503, "all_providers_failed"));
    // A learner: what to do, not which providers failed.
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("azure") && message.contains("try again"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_json_and_wrong_types_are_400_with_a_useful_message() {
    let app = spawn_app().await;
    let send = |body: &'static str| {
        app.post("/api/talk/message")
            .bearer_auth(learner("a"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (status, body) = json_of(send("{\"session_id\": \"s\", ").await.unwrap()).await;
    assert_eq!((status, app_error(&body)), (400, "invalid_argument"));
    assert!(
        body["error"]["message"].as_str().unwrap().contains("EOF"),
        "{body}"
    );

    let (status, body) =
        json_of(send(r#"{"session_id": "s", "content": 42}"#).await.unwrap()).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("content") && message.contains("expected a string"),
        "{message}"
    );

    let (status, body) = json_of(send(r#"{"content": "hi"}"#).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("session_id"),
        "{body}"
    );

    let r = app
        .post_as(
            "a",
            "/api/talk/sessions",
            json!({"scenario_id": "job_interview", "level": "Z9"}),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("level"),
        "{body}"
    );

    // Backend validation errors keep their message.
    let r = app
        .post_as(
            "a",
            "/api/talk/sessions",
            json!({"scenario_id": "moon_landing"}),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("moon_landing")
    );

    let r = app
        .post("/api/talk/message")
        .bearer_auth(learner("a"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, app_error(&body)), (415, "unsupported_media_type"));

    let r = app
        .get_as("a", "/api/talk/sessions?page_size=lots")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("page_size"),
        "{body}"
    );
}
