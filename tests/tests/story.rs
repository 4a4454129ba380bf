//! One request, one story: the caller's `X-Request-ID` reaches the ledger row
//! of every LLM call it caused, and the four services' JSON logs filtered by
//! it tell what happened, in order, at the level an operator alerts on (a
//! budget refusal, a rate-limit refusal and an outage included). Over
//! the real binaries on PostgreSQL and Redis; the providers are the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use provider_sim::Vendor;
use serde_json::{Value, json};
use suite::{Suite, render};

impl Suite {
    /// Asserts that the story holds these `(service, event, level)` lines in
    /// this order (other lines may come between them).
    async fn assert_story(&self, request_id: &str, expected: &[(&str, &str, &str)]) -> Vec<Value> {
        for (service, event, _) in expected {
            self.line(request_id, service, event).await;
        }
        let story = self.story(request_id);
        let mut at = 0;
        for (service, event, level) in expected {
            let found = story[at..]
                .iter()
                .position(|v| v["service"] == *service && v["event"] == *event)
                .unwrap_or_else(|| {
                    panic!(
                        "{service} {event} out of order for {request_id}:\n{}",
                        render(&story)
                    )
                });
            let line = &story[at + found];
            assert_eq!(line["level"], *level, "{line}");
            at += found + 1;
        }
        story
    }
}

const ANSWERED: &[(&str, &str, &str)] = &[
    ("gateway", "request_accepted", "INFO"),
    ("llm-router", "router.routed", "INFO"),
    ("llm-router", "router.success", "INFO"),
    ("gateway", "request_completed", "INFO"),
];

/// A call the story shows answered: its ledger row carries the request id and
/// the router's call id, and its cost is a JSON number equal to the row's.
async fn assert_answered_and_recorded(suite: &Suite, request_id: &str) {
    let story = suite.assert_story(request_id, ANSWERED).await;
    let success = story
        .iter()
        .find(|v| v["event"] == "router.success")
        .unwrap();
    assert!(success["cost_usd"].is_number(), "{success}");
    let recorded = suite
        .line(request_id, "usage-accounting", "usage.recorded")
        .await;
    assert_eq!(recorded["level"], "INFO");
    assert_eq!(recorded["call_id"], success["call_id"], "{recorded}");
    let rows = suite.ledger_rows(request_id, 1).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["request_id"], request_id);
    assert_eq!(rows[0]["call_id"], success["call_id"]);
    assert_eq!(rows[0]["outcome"], "success");
    let cost: f64 = rows[0]["cost_usd"].as_str().unwrap().parse().unwrap();
    assert_eq!(success["cost_usd"].as_f64().unwrap(), cost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_id_tells_the_whole_story_down_to_the_ledger() {
    // A learner may send 60 requests a minute (the burst); the flood below passes it.
    let suite = Suite::start(&[("RATE_LIMIT_PER_MINUTE", "60".into())]).await;
    let chat = json!({"model": "cost_effective", "messages": [{"role": "user", "content": "Hi!"}]});

    let (status, body) = suite
        .post("story-unary", "/v1/chat/completions", chat.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_answered_and_recorded(&suite, "story-unary").await;

    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let (status, body) = suite
        .post("story-stream", "/v1/chat/completions", streamed)
        .await;
    assert_eq!(status, 200);
    assert!(body.contains("[DONE]"), "{body}");
    assert_answered_and_recorded(&suite, "story-stream").await;

    let (status, session) = suite
        .post(
            "story-session",
            "/api/talk/sessions",
            json!({"scenario_id": "restaurant_order", "level": "B1"}),
        )
        .await;
    assert_eq!(status, 201, "{session}");
    let session: Value = serde_json::from_str(&session).unwrap();
    let (status, body) = suite
        .post(
            "story-talk",
            "/api/talk/message",
            json!({"session_id": session["id"], "content": "A table for two, please."}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The call id is conversation's own (an idempotency key per learner
    // message); the request id is still the caller's.
    assert_answered_and_recorded(&suite, "story-talk").await;
    suite
        .line("story-talk", "conversation", "tutor.reply_completed")
        .await;

    // A refusal by the budget: WARNING, and no call, so no ledger row.
    let mut dear = chat.clone();
    dear["model"] = json!("sota");
    dear["max_tokens"] = json!(32768);
    let (status, body) = suite
        .post("story-budget", "/v1/chat/completions", dear)
        .await;
    assert_eq!(status, 429, "{body}");
    let story = suite
        .assert_story(
            "story-budget",
            &[
                ("gateway", "request_accepted", "INFO"),
                ("llm-router", "budget.refused", "WARNING"),
                ("gateway", "request_completed", "WARNING"),
            ],
        )
        .await;
    let completed = story.last().unwrap();
    assert_eq!(completed["reason"], "budget_exceeded", "{completed}");
    assert!(
        !story.iter().any(|v| v["level"] == "ERROR"),
        "{}",
        render(&story)
    );

    // A refusal by the rate limit: WARNING too, with its reason.
    let flooder = suite::token(&["--sub", "story-flooder"]);
    let mut limited = None;
    for i in 0..100 {
        let id = format!("story-flood-{i}");
        let r = suite
            .http
            .get(format!("{}/api/talk/scenarios", suite.gateway))
            .bearer_auth(&flooder)
            .header("x-request-id", &id)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(id);
            break;
        }
    }
    let limited = limited.expect("the rate limit never refused");
    let story = suite
        .assert_story(
            &limited,
            &[
                ("gateway", "request_accepted", "INFO"),
                ("gateway", "request_completed", "WARNING"),
            ],
        )
        .await;
    assert_eq!(story.last().unwrap()["reason"], "rate_limited");

    // Every provider down: each candidate's failure is a WARNING, the call's
    // an ERROR, and its (unbilled) failed call is in the ledger.
    for vendor in Vendor::ALL {
        suite
            .sim
            .set_fault(vendor, "status=503".parse().unwrap(), None);
    }
    let (status, body) = suite
        .post("story-outage", "/v1/chat/completions", chat)
        .await;
    assert_eq!(status, 503, "{body}");
    let story = suite
        .assert_story(
            "story-outage",
            &[
                ("gateway", "request_accepted", "INFO"),
                ("llm-router", "router.routed", "INFO"),
                ("llm-router", "router.provider_failed", "WARNING"),
                ("llm-router", "router.all_providers_failed", "ERROR"),
                ("gateway", "request_completed", "ERROR"),
            ],
        )
        .await;
    let failed = story
        .iter()
        .find(|v| v["event"] == "router.all_providers_failed")
        .unwrap();
    assert_eq!(failed["reason"], "all_providers_failed");
    let rows = suite.ledger_rows("story-outage", 1).await;
    assert_eq!(rows[0]["outcome"], "failed");
    assert_eq!(rows[0]["cost_micro_usd"], 0);
}
