//! The real call path under test: `llm_router::run` on port 0 (or the real
//! binary), the provider simulator, real Redis under a unique key prefix, and
//! the real usage-accounting binary on its own PostgreSQL database.

use std::net::SocketAddr;
use std::time::Duration;

use fluentedge_proto::router::v1 as pb;
use fluentedge_proto::usage::v1 as usage_pb;
use pb::llm_router_client::LlmRouterClient;
use pb::router_admin_client::RouterAdminClient;
use provider_sim::Simulator;
pub use service_kit::grpc_client::{
    DevelopmentAsAdmitted, InterceptedChannel, development_as_admitted, development_operator,
};
use service_kit::{Env, ServerSettings};
use test_support::{ChildProcess, TestDb};
use tokio::sync::oneshot;
use usage_pb::usage_ledger_client::UsageLedgerClient;

use crate::resilience::support::Cleanup;
use crate::support::sim;

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real usage-accounting binary on a fixed port (so it can be stopped
/// and restarted where the router expects it) and a fresh database.
pub struct UsageAccounting {
    child: Option<ChildProcess>,
    pub addr: SocketAddr,
    pub client: UsageLedgerClient<DevelopmentAsAdmitted>,
    db: TestDb,
}

impl UsageAccounting {
    pub async fn start() -> UsageAccounting {
        let db = TestDb::create().await;
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut ledger = UsageAccounting {
            child: None,
            addr,
            client: UsageLedgerClient::new(development_as_admitted(&addr.to_string()).unwrap()),
            db,
        };
        ledger.restart().await;
        ledger
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts the binary and waits until it answers (migrated, SERVING).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = ChildProcess::spawn(
            "usage-accounting",
            &[
                ("USAGE_LISTEN_ADDR", self.addr.to_string()),
                ("DATABASE_URL", self.db.url.clone()),
            ],
        );
        child.bound_addr().await;
        self.child = Some(child);
        let client = self.client.clone();
        eventually(Duration::from_secs(30), "usage-accounting answers", || {
            let mut client = client.clone();
            async move { client.get_spend(month_request()).await.is_ok() }
        })
        .await;
    }

    /// SIGKILL: no drain, connections dropped, the port refuses.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.signal("KILL");
        child.wait_exit(Duration::from_secs(10)).await;
    }

    /// Records written straight into the ledger (spend from before the router started).
    pub async fn seed(&self, call_id: &str, cost_micro_usd: i64) {
        let record = usage_pb::UsageRecord {
            call_id: call_id.into(),
            created_at: Some(now()),
            provider: "azure".into(),
            model: "gpt-4o".into(),
            input_tokens: 1,
            output_tokens: 1,
            cost_micro_usd,
            price_version: "seed".into(),
            outcome: usage_pb::Outcome::Success as i32,
            operation: "chat".into(),
            ..Default::default()
        };
        let results = self
            .client
            .clone()
            .record_usage_batch(usage_pb::RecordUsageBatchRequest {
                records: vec![record],
            })
            .await
            .unwrap()
            .into_inner()
            .results;
        assert_eq!(results[0].result, usage_pb::RecordResult::Created as i32);
    }

    /// This month's spend as the ledger counts it (from the latest reset).
    pub async fn spend(&self) -> usage_pb::GetSpendResponse {
        self.client
            .clone()
            .get_spend(month_request())
            .await
            .unwrap()
            .into_inner()
    }

    /// Every record of this month, newest first.
    pub async fn records(&self) -> Vec<usage_pb::UsageRecord> {
        let (start, end) = month();
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_usage(usage_pb::ListUsageRequest {
                    period_start: Some(start),
                    period_end: Some(end),
                    page_size: 500,
                    page_token: page_token.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            out.extend(page.records);
            if page.next_page_token.is_empty() {
                return out;
            }
            page_token = page.next_page_token;
        }
    }

    /// The ledger's record of `call_id`, once delivered.
    pub async fn record(&self, call_id: &str) -> usage_pb::UsageRecord {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(r) = self
                .records()
                .await
                .into_iter()
                .find(|r| r.call_id == call_id)
            {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no ledger record for {call_id}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn now() -> prost_types::Timestamp {
    timestamp(chrono::Utc::now())
}

/// This calendar month (UTC), as the budget's period.
pub fn month() -> (prost_types::Timestamp, prost_types::Timestamp) {
    use chrono::Datelike;
    let now = chrono::Utc::now();
    let start = chrono::NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let end = start + chrono::Months::new(1);
    (timestamp(start), timestamp(end))
}

fn month_request() -> usage_pb::GetSpendRequest {
    let (start, end) = month();
    usage_pb::GetSpendRequest {
        period_start: Some(start),
        period_end: Some(end),
    }
}

/// Where the router keeps its budget and outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `REDIS_URL` set: Redis store and stream outbox, under a unique prefix.
    Redis,
    /// No `REDIS_URL`: memory store and a SQLite outbox in a temp dir.
    Embedded,
}

/// The router's environment for `backend`, talking to `sim` and `ledger`.
pub struct RouterEnv {
    pub vars: Vec<(String, String)>,
    pub prefix: Option<String>,
    _cleanup: Option<Cleanup>,
    _dir: tempfile::TempDir,
}

impl RouterEnv {
    pub fn new(backend: Backend, sim: &Simulator, ledger_url: &str) -> RouterEnv {
        let dir = tempfile::tempdir().unwrap();
        let mut vars: Vec<(String, String)> = vec![
            ("SIMULATOR_URL".into(), sim.base_url()),
            ("USAGE_ADDR".into(), ledger_url.into()),
            (
                "USAGE_OUTBOX_PATH".into(),
                dir.path().join("outbox.db").display().to_string(),
            ),
            // Retries in milliseconds, not seconds, unless a test says otherwise.
            ("ROUTER_RETRY_BASE_MS".into(), "1".into()),
            ("ROUTER_READINESS_INTERVAL_MS".into(), "100".into()),
            ("USAGE_BATCH_MAX".into(), "50".into()),
        ];
        let prefix = (backend == Backend::Redis).then(|| test_support::unique_prefix("router"));
        if let Some(prefix) = &prefix {
            vars.push(("REDIS_URL".into(), test_support::redis_url()));
            vars.push(("REDIS_KEY_PREFIX".into(), prefix.clone()));
        }
        RouterEnv {
            vars,
            _cleanup: prefix.clone().map(Cleanup),
            prefix,
            _dir: dir,
        }
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
    }

    pub fn pairs(&self) -> Vec<(&str, String)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect()
    }
}

/// `llm_router::run` in this process on port 0.
pub struct Router {
    pub client: LlmRouterClient<InterceptedChannel>,
    pub admin: RouterAdminClient<InterceptedChannel>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Router {
    pub async fn start(env: &RouterEnv) -> Router {
        service_kit::install_crypto_provider();
        let vars = Env::from_pairs(env.vars.iter().cloned());
        let mut config = llm_router::Config::from_env(&vars).unwrap();
        config.server = ServerSettings::for_tests();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            llm_router::run(
                config,
                listener,
                Box::pin(async move {
                    let _ = stopped.await;
                }),
            )
            .await
            .unwrap();
        });
        // The router's own calls (usage delivery) are signed as the router.
        service_kit::auth::install(service_kit::auth::development(
            service_kit::auth::Issuer::Router,
        ));
        let channel = development_operator(&addr.to_string()).unwrap();
        let router = Router {
            client: LlmRouterClient::new(channel.clone()),
            admin: RouterAdminClient::new(channel),
            stop: Some(stop),
            task: Some(task),
        };
        router.wait_ready().await;
        router
    }

    /// Until the budget answers (the month's state exists).
    pub async fn wait_ready(&self) {
        let admin = self.admin.clone();
        eventually(
            Duration::from_secs(20),
            "the router's budget answers",
            || {
                let mut admin = admin.clone();
                async move { admin.get_budget(pb::GetBudgetRequest {}).await.is_ok() }
            },
        )
        .await;
    }

    /// Graceful shutdown: drain, then the usage flush.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the router stops")
                .unwrap();
        }
    }

    pub async fn budget(&self) -> pb::Budget {
        self.admin
            .clone()
            .get_budget(pb::GetBudgetRequest {})
            .await
            .unwrap()
            .into_inner()
            .budget
            .unwrap()
    }

    pub async fn providers(&self) -> pb::ListProvidersResponse {
        self.admin
            .clone()
            .list_providers(pb::ListProvidersRequest {})
            .await
            .unwrap()
            .into_inner()
    }
}

/// A whole stack: simulator, ledger, router.
pub struct Stack {
    pub sim: Simulator,
    pub ledger: UsageAccounting,
    pub router: Router,
    pub env: RouterEnv,
}

impl Stack {
    pub async fn start(backend: Backend, env: &[(&str, &str)]) -> Stack {
        let ledger = UsageAccounting::start().await;
        Stack::on(backend, ledger, env).await
    }

    /// A stack over an already started (perhaps seeded) ledger.
    pub async fn on(backend: Backend, ledger: UsageAccounting, env: &[(&str, &str)]) -> Stack {
        let sim = sim().await;
        let mut router_env = RouterEnv::new(backend, &sim, &ledger.url());
        for (k, v) in env {
            router_env.set(k, v);
        }
        let router = Router::start(&router_env).await;
        Stack {
            sim,
            ledger,
            router,
            env: router_env,
        }
    }
}

pub fn message(role: pb::Role, content: &str) -> pb::ChatMessage {
    pb::ChatMessage {
        role: role as i32,
        content: content.into(),
        ..Default::default()
    }
}

/// A chat request with an id and a caller, so its ledger row can be found.
pub fn call(id: &str, tier: pb::Tier, text: &str) -> pb::CompleteRequest {
    pb::CompleteRequest {
        call_id: id.into(),
        tier: tier as i32,
        messages: vec![
            message(pb::Role::System, crate::support::SYSTEM),
            message(pb::Role::User, text),
        ],
        max_tokens: 100,
        caller: Some(pb::CallerContext {
            user_id: "learner-7".into(),
            session_id: "session-1".into(),
            service: "conversation".into(),
        }),
        ..Default::default()
    }
}

/// Reads a stream to its end: the frames, or the status it failed with.
pub async fn stream(
    client: &mut LlmRouterClient<InterceptedChannel>,
    req: pb::CompleteRequest,
) -> Result<Vec<pb::stream_complete_response::Frame>, tonic::Status> {
    use futures::StreamExt;
    let mut stream = client.stream_complete(req).await?.into_inner();
    let mut frames = Vec::new();
    while let Some(item) = stream.next().await {
        frames.push(item?.frame.unwrap());
    }
    Ok(frames)
}

/// An operator's channel (development key) to a router at `addr` (`http://…` or host:port).
pub fn operator(addr: impl AsRef<str>) -> InterceptedChannel {
    development_operator(addr.as_ref()).unwrap()
}
