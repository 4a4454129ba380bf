//! The whole suite over the real binaries on PostgreSQL and Redis (the
//! providers are the in-process simulator), driven over HTTP as users drive
//! it, with every service's JSON log lines at hand.
// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use provider_sim::{SimConfig, Simulator};
use serde_json::Value;
use std::time::Duration;
use test_support::{ChildProcess, TestDb, binary_path};

pub struct Suite {
    pub gateway: String,
    pub http: reqwest::Client,
    pub learner: String,
    pub admin: String,
    pub sim: Simulator,
    pub processes: Vec<ChildProcess>,
    _dbs: [TestDb; 2],
}

/// `bin` with its own `vars` and the suite-wide `env`.
fn spawn(
    bin: &str,
    env: &[(&'static str, String)],
    vars: &[(&'static str, String)],
) -> ChildProcess {
    ChildProcess::spawn(bin, &[vars, env].concat())
}

/// A development JWT from the gateway's own CLI (`make token`).
pub fn token(args: &[&str]) -> String {
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
    /// Starts the suite; `env` goes to every service (e.g. an OTLP endpoint).
    pub async fn start(env: &[(&'static str, String)]) -> Suite {
        let sim = Simulator::spawn(SimConfig::default()).await.unwrap();
        let (usage_db, conversation_db) = (TestDb::create().await, TestDb::create().await);
        let outbox = tempfile::NamedTempFile::new().unwrap();
        let usage = spawn(
            "usage-accounting",
            env,
            &[
                ("USAGE_LISTEN_ADDR", "127.0.0.1:0".into()),
                ("DATABASE_URL", usage_db.url.clone()),
            ],
        );
        let usage_addr = format!("http://{}", usage.bound_addr().await);
        let router = spawn(
            "llm-router",
            env,
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
        let conversation = spawn(
            "conversation",
            env,
            &[
                ("CONVERSATION_LISTEN_ADDR", "127.0.0.1:0".into()),
                ("DATABASE_URL", conversation_db.url.clone()),
                ("ROUTER_ADDR", router_addr.clone()),
            ],
        );
        let conversation_addr = format!("http://{}", conversation.bound_addr().await);
        let gateway = spawn(
            "gateway",
            env,
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

    pub async fn get_status(&self, path: &str) -> u16 {
        let r = self.http.get(format!("{}{path}", self.gateway)).send();
        r.await.map(|r| r.status().as_u16()).unwrap_or(0)
    }

    /// POSTs `body` as the learner under `request_id`; the status and body text.
    pub async fn post(&self, request_id: &str, path: &str, body: Value) -> (u16, String) {
        self.post_with(request_id, path, body, &[]).await
    }

    /// [`Self::post`] with more headers (a `traceparent`, say).
    pub async fn post_with(
        &self,
        request_id: &str,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.gateway))
            .bearer_auth(&self.learner)
            .header("x-request-id", request_id);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.json(&body).send().await.unwrap();
        assert_eq!(r.headers()["x-request-id"], request_id);
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// The ledger rows of `request_id`, through the admin API, once `n` are there.
    pub async fn ledger_rows(&self, request_id: &str, n: usize) -> Vec<Value> {
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
    pub fn story(&self, request_id: &str) -> Vec<Value> {
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
    pub async fn line(&self, request_id: &str, service: &str, event: &str) -> Value {
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
}

/// A story as `timestamp service level event` lines, for failure messages.
pub fn render(story: &[Value]) -> String {
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
