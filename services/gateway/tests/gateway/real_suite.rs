//! The gateway in front of the real services: usage-accounting and
//! conversation on PostgreSQL, llm-router on the provider simulator.

use super::app::*;
use provider_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use test_support::{ChildProcess, TestDb};
use tokio_util::sync::CancellationToken;

struct Suite {
    gateway: SocketAddr,
    usage_addr: SocketAddr,
    http: reqwest::Client,
    stop: CancellationToken,
    // Kept alive for the test's duration (dropped: processes killed, databases dropped).
    _processes: Vec<ChildProcess>,
    _dbs: Vec<TestDb>,
    _sim: Simulator,
}

impl Drop for Suite {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Suite {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway)
    }

    async fn get(&self, who: &str, path: &str) -> (u16, Value) {
        json_of(
            self.http
                .get(self.url(path))
                .bearer_auth(token_for(who))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn post(&self, who: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token_for(who))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

fn token_for(who: &str) -> String {
    if who.starts_with("admin") {
        admin(who)
    } else {
        learner(who)
    }
}

async fn spawn_suite() -> Suite {
    let sim = Simulator::spawn(SimConfig::default()).await.unwrap();
    let usage_db = TestDb::create().await;
    let conversation_db = TestDb::create().await;
    let outbox =
        std::env::temp_dir().join(format!("gateway-test-outbox-{}.db", uuid::Uuid::new_v4()));
    let usage = ChildProcess::spawn(
        "usage-accounting",
        &[
            ("USAGE_LISTEN_ADDR", "127.0.0.1:0".into()),
            ("DATABASE_URL", usage_db.url.clone()),
        ],
    );
    let usage_addr = usage.bound_addr().await;
    let router = ChildProcess::spawn(
        "llm-router",
        &[
            ("ROUTER_LISTEN_ADDR", "127.0.0.1:0".into()),
            ("SIMULATOR_URL", sim.base_url()),
            ("USAGE_ADDR", format!("http://{usage_addr}")),
            ("USAGE_OUTBOX_PATH", outbox.display().to_string()),
            ("AI_MONTHLY_BUDGET_USD", "100".into()),
        ],
    );
    let router_addr = router.bound_addr().await;
    let conversation = ChildProcess::spawn(
        "conversation",
        &[
            ("CONVERSATION_LISTEN_ADDR", "127.0.0.1:0".into()),
            ("DATABASE_URL", conversation_db.url.clone()),
            ("ROUTER_ADDR", format!("http://{router_addr}")),
        ],
    );
    let conversation_addr = conversation.bound_addr().await;
    let (gateway, stop) = start_gateway(vec![
        (
            "CONVERSATION_ADDR".into(),
            format!("http://{conversation_addr}"),
        ),
        ("ROUTER_ADDR".into(), format!("http://{router_addr}")),
        ("USAGE_ADDR".into(), format!("http://{usage_addr}")),
    ])
    .await;
    let suite = Suite {
        gateway,
        usage_addr,
        http: test_support::http_client(),
        stop,
        _processes: vec![usage, router, conversation],
        _dbs: vec![usage_db, conversation_db],
        _sim: sim,
    };
    // Services flip to SERVING once their dependencies are up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = suite.http.get(suite.url("/ready")).send().await.unwrap();
        let ready = r.status() == 200;
        let body = r.text().await.unwrap();
        // Ready is not enough here: these tests also read usage reports.
        if ready && body.contains(r#""degraded":[]"#) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "suite never became ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_suite_serves_the_openai_api() {
    let suite = spawn_suite().await;
    let (status, models) = suite.get("sdk-user", "/v1/models").await;
    assert_eq!(status, 200, "{models}");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"sota") && ids.contains(&"cost_effective"),
        "{ids:?}"
    );

    let messages = json!([{"role": "user", "content": "I want to practise interviews"}]);
    let r = suite
        .post(
            "sdk-user",
            "/v1/chat/completions",
            json!({"model": "sota", "messages": messages}),
        )
        .await;
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("Sure! You said: I want to practise interviews"),
        "{content}"
    );
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let r = suite
        .post(
            "sdk-user",
            "/v1/chat/completions",
            json!({"model": "cost_effective", "messages": messages, "stream": true, "stream_options": {"include_usage": true}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap().1, "[DONE]", "{events:?}");
    let usage: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert!(
        usage["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{usage}"
    );

    let r = suite
        .post(
            "sdk-user",
            "/v1/embeddings",
            json!({"model": "", "input": ["hello", "world"]}),
        )
        .await;
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_suite_serves_a_learners_session() {
    let suite = spawn_suite().await;
    let (status, scenarios) = suite.get("learner-a", "/api/talk/scenarios").await;
    assert_eq!(status, 200, "{scenarios}");
    let scenario = scenarios["scenarios"][0]["id"].as_str().unwrap().to_owned();
    let r = suite
        .post(
            "learner-a",
            "/api/talk/sessions",
            json!({"scenario_id": scenario, "level": "B1"}),
        )
        .await;
    let (status, session) = json_of(r).await;
    assert_eq!(status, 201, "{session}");
    let id = session["id"].as_str().unwrap().to_owned();

    let r = suite
        .post(
            "learner-a",
            "/api/talk/message",
            json!({"session_id": id, "content": "Hello, I am ready.", "client_message_id": "c-1"}),
        )
        .await;
    let (status, reply) = json_of(r).await;
    assert_eq!(status, 200, "{reply}");
    assert!(
        !reply["tutor_message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    let r = suite
        .http
        .post(suite.url("/api/talk/message"))
        .bearer_auth(token_for("learner-a"))
        .header("accept", "text/event-stream")
        .json(&json!({"session_id": id, "content": "Tell me about the job."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(
        events.first().unwrap().0.as_deref(),
        Some("accepted"),
        "{events:?}"
    );
    assert_eq!(
        events.last().unwrap().0.as_deref(),
        Some("completed"),
        "{events:?}"
    );

    let (status, page) = suite
        .get("learner-a", &format!("/api/talk/sessions/{id}/messages"))
        .await;
    assert_eq!(status, 200);
    assert!(page["messages"].as_array().unwrap().len() >= 4, "{page}");
    let (status, _) = suite
        .get("learner-b", &format!("/api/talk/sessions/{id}"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = suite
        .get("learner-b", &format!("/api/talk/sessions/{id}/messages"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_suite_serves_usage_reports() {
    use fluentedge_proto::usage::v1 as pb;
    let suite = spawn_suite().await;
    // A record as the router delivers it, written straight to the ledger so
    // this test depends only on the gateway and usage-accounting.
    let mut ledger = pb::usage_ledger_client::UsageLedgerClient::new(
        service_kit::grpc_client::development_as_admitted(&suite.usage_addr.to_string()).unwrap(),
    );
    let now = chrono::Utc::now();
    let record = pb::UsageRecord {
        call_id: uuid::Uuid::new_v4().to_string(),
        request_id: "sdk-request-1".into(),
        created_at: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: 0,
        }),
        provider: "azure".into(),
        model: "gpt-4o".into(),
        input_tokens: 1200,
        output_tokens: 300,
        cost_micro_usd: 6_000,
        price_version: "test".into(),
        user_id: "sdk-user".into(),
        calling_service: "llm-router".into(),
        tier: "sota".into(),
        outcome: pb::Outcome::Success as i32,
        latency_ms: 250,
        operation: "chat".into(),
        ..Default::default()
    };
    ledger
        .record_usage(pb::RecordUsageRequest {
            record: Some(record),
        })
        .await
        .unwrap();

    let (status, report) = suite
        .get(
            "admin-ops",
            "/api/v1/admin/usage/summary?group_by=provider,model",
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rows"][0]["provider"], "azure", "{report}");
    assert_eq!(report["rows"][0]["model"], "gpt-4o");
    assert_eq!(report["total"]["cost_micro_usd"], 6_000);
    assert_eq!(report["total"]["cost_usd"], "0.006000");
    assert_eq!(report["total"]["request_count"], 1);

    let (status, list) = suite
        .get("admin-ops", "/api/v1/admin/usage?user_id=sdk-user")
        .await;
    assert_eq!(status, 200, "{list}");
    let row = &list["records"][0];
    assert_eq!(
        (row["user_id"].as_str(), row["outcome"].as_str()),
        (Some("sdk-user"), Some("success")),
        "{list}"
    );
    assert_eq!(row["input_tokens"], 1200);
    assert_eq!(row["request_id"], "sdk-request-1");
    let (status, by_request) = suite
        .get("admin-ops", "/api/v1/admin/usage?request_id=sdk-request-1")
        .await;
    assert_eq!(status, 200, "{by_request}");
    assert_eq!(by_request["records"].as_array().unwrap().len(), 1);
    let (status, list) = suite
        .get("admin-ops", "/api/v1/admin/usage?user_id=someone-else")
        .await;
    assert_eq!(status, 200);
    assert!(list["records"].as_array().unwrap().is_empty(), "{list}");
    // Learners may not read reports.
    let (status, _) = suite.get("sdk-user", "/api/v1/admin/usage/summary").await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_suite_serves_the_router_admin_api() {
    let suite = spawn_suite().await;
    let (status, budget) = suite.get("admin-ops", "/api/v1/admin/budget").await;
    assert_eq!(status, 200, "{budget}");
    assert_eq!(budget["budget"]["limit_usd"], "100.000000");
    let (status, providers) = suite.get("admin-ops", "/api/v1/admin/providers").await;
    assert_eq!(status, 200, "{providers}");
    assert!(!providers["providers"].as_array().unwrap().is_empty());
    let r = suite
        .post(
            "admin-ops",
            "/api/v1/admin/budget/reset",
            json!({"reason": "test"}),
        )
        .await;
    let (status, reset) = json_of(r).await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["actor"], "admin-ops");
}
