//! One request, one story: the caller's `X-Request-ID` reaches the ledger row
//! of every LLM call it caused, and the four services' JSON logs filtered by
//! it tell what happened, in order, at the level an operator alerts on. Over
//! the real binaries on PostgreSQL and Redis; the providers are the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use provider_sim::{SimConfig, Simulator, Vendor};
use serde_json::{Value, json};
use std::time::Duration;
use test_support::{ChildProcess, TestDb, binary_path};

struct Suite {
    gateway: String,
    http: reqwest::Client,
    learner: String,
    admin: String,
    sim: Simulator,
    processes: Vec<ChildProcess>,
    _dbs: [TestDb; 2],
}

/// A development JWT from the gateway's own CLI (`make token`).
fn token(args: &[&str]) -> String {
    let out = std::process::Command::new(binary_path("gateway"))
        .arg("token")
        .args(args)
        .env("FLUENTEDGE_DEV", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Suite {
    async fn start() -> Suite {
        let sim = Simulator::spawn(SimConfig::default()).await.unwrap();
        let (usage_db, conversation_db) = (TestDb::create().await, TestDb::create().await);
        let outbox = tempfile::NamedTempFile::new().unwrap();
        let usage = ChildProcess::spawn(
            "usage-accounting",
            &[
                ("USAGE_LISTEN_ADDR", "127.0.0.1:0".into()),
                ("DATABASE_URL", usage_db.url.clone()),
            ],
        );
        let usage_addr = format!("http://{}", usage.bound_addr().await);
        let router = ChildProcess::spawn(
            "llm-router",
            &[
                ("ROUTER_LISTEN_ADDR", "127.0.0.1:0".into()),
                ("SIMULATOR_URL", sim.base_url()),
                ("USAGE_ADDR", usage_addr.clone()),
                ("USAGE_OUTBOX_PATH", outbox.path().display().to_string()),
                ("REDIS_URL", test_support::redis_url()),
                ("REDIS_KEY_PREFIX", test_support::unique_prefix("story")),
                // Small enough that one sota call asking for 32768 tokens
                // does not fit (worst case 0.33 USD), large enough for the rest.
                ("AI_MONTHLY_BUDGET_USD", "0.30".into()),
                ("ROUTER_MAX_RETRIES", "0".into()),
            ],
        );
        let router_addr = format!("http://{}", router.bound_addr().await);
        let conversation = ChildProcess::spawn(
            "conversation",
            &[
                ("CONVERSATION_LISTEN_ADDR", "127.0.0.1:0".into()),
                ("DATABASE_URL", conversation_db.url.clone()),
                ("ROUTER_ADDR", router_addr.clone()),
            ],
        );
        let conversation_addr = format!("http://{}", conversation.bound_addr().await);
        let gateway = ChildProcess::spawn(
            "gateway",
            &[
                ("GATEWAY_LISTEN_ADDR", "127.0.0.1:0".into()),
                ("WEB_DIR", "off".into()),
                ("CONVERSATION_ADDR", conversation_addr),
                ("ROUTER_ADDR", router_addr),
                ("USAGE_ADDR", usage_addr),
            ],
        );
        let suite = Suite {
            gateway: format!("http://{}", gateway.bound_addr().await),
            http: test_support::http_client(),
            learner: token(&["--sub", "story-learner"]),
            admin: token(&["--role", "admin", "--sub", "story-admin"]),
            sim,
            processes: vec![gateway, conversation, router, usage],
            _dbs: [usage_db, conversation_db],
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while suite.get_status("/ready").await != 200 {
            assert!(tokio::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        suite
    }

    async fn get_status(&self, path: &str) -> u16 {
        let r = self.http.get(format!("{}{path}", self.gateway)).send();
        r.await.map(|r| r.status().as_u16()).unwrap_or(0)
    }

    /// POSTs `body` as the learner under `request_id`; the status and body text.
    async fn post(&self, request_id: &str, path: &str, body: Value) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.gateway))
            .bearer_auth(&self.learner)
            .header("x-request-id", request_id)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-request-id"], request_id);
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// The ledger rows of `request_id`, through the admin API, once `n` are there.
    async fn ledger_rows(&self, request_id: &str, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = self
                .http
                .get(format!(
                    "{}/api/v1/admin/usage?request_id={request_id}",
                    self.gateway
                ))
                .bearer_auth(&self.admin)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            let rows = body["records"].as_array().unwrap().clone();
            if rows.len() >= n {
                return rows;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{request_id}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every service's JSON lines carrying `request_id`, in time order, as
    /// `jq 'select(.request_id == $id)'` over the merged logs shows them.
    fn story(&self, request_id: &str) -> Vec<Value> {
        let mut lines: Vec<Value> = self
            .processes
            .iter()
            .flat_map(ChildProcess::json_logs)
            .filter(|v| v["request_id"] == request_id)
            .collect();
        lines.sort_by(|a, b| a["timestamp"].as_str().cmp(&b["timestamp"].as_str()));
        lines
    }

    /// Waits until the story of `request_id` has `event` (from `service`).
    async fn line(&self, request_id: &str, service: &str, event: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let story = self.story(request_id);
            if let Some(v) = story
                .iter()
                .find(|v| v["service"] == service && v["event"] == event)
            {
                return v.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {service} {event} for {request_id}; its story:\n{}",
                render(&story)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

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

fn render(story: &[Value]) -> String {
    story
        .iter()
        .map(|v| {
            format!(
                "{} {} {} {}",
                v["timestamp"], v["service"], v["level"], v["event"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
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
    let suite = Suite::start().await;
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
