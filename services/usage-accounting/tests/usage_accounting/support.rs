//! Shared fixtures: a ledger on a fresh PostgreSQL database or SQLite file,
//! record builders, the service spawned on port 0.

use chrono::{DateTime, Duration, Utc};
use fluentedge_proto::usage::v1::usage_ledger_client::UsageLedgerClient;
use service_kit::grpc_client::{DevelopmentAsAdmitted, development_as_admitted};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use usage_accounting::domain::RecordDraft;
use usage_accounting::storage::{DynStore, LedgerStore, PostgresStore, SqliteStore};
use usage_accounting::{Config, Database, Ledger};

/// `grpc.health.v1` statuses.
pub const SERVING: i32 = 1;
pub const NOT_SERVING: i32 = 2;

/// Keeps the database alive as long as the ledger.
pub enum Guard {
    Postgres(test_support::TestDb),
    Sqlite(tempfile::TempDir),
}

/// A migrated ledger on one backend.
pub struct TestLedger {
    pub ledger: Ledger,
    pub store: DynStore,
    pub guard: Guard,
}

impl TestLedger {
    pub async fn postgres() -> Self {
        let db = test_support::TestDb::create().await;
        let store: DynStore = Arc::new(PostgresStore::connect_lazy(&db.url, 10).unwrap());
        Self::ready(store, Guard::Postgres(db)).await
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // A nested path: the store creates its directory.
        let path = dir.path().join("data").join("usage.db");
        let store: DynStore = Arc::new(SqliteStore::open_lazy(&path, 5).unwrap());
        Self::ready(store, Guard::Sqlite(dir)).await
    }

    async fn ready(store: DynStore, guard: Guard) -> Self {
        store.migrate().await.unwrap();
        // Migrating twice is harmless (every replica migrates at start-up).
        store.migrate().await.unwrap();
        Self {
            ledger: Ledger::new(store.clone()),
            store,
            guard,
        }
    }

    pub fn store(&self) -> &dyn LedgerStore {
        self.store.as_ref()
    }

    /// The database this ledger runs on, for a spawned service.
    pub fn database(&self) -> Database {
        match &self.guard {
            Guard::Postgres(db) => Database::Postgres {
                url: db.url.clone(),
            },
            Guard::Sqlite(dir) => Database::Sqlite {
                path: dir.path().join("data").join("usage.db"),
            },
        }
    }
}

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn wire(t: DateTime<Utc>) -> Option<(i64, i32)> {
    Some((t.timestamp(), t.timestamp_subsec_nanos() as i32))
}

/// A valid record.
pub fn rec(id: &str, created_at: DateTime<Utc>, provider: &str, cost: i64) -> RecordDraft {
    RecordDraft {
        call_id: id.into(),
        created_at: wire(created_at),
        provider: provider.into(),
        model: format!("{provider}-model"),
        input_tokens: 100,
        output_tokens: 50,
        cost_micro_usd: cost,
        price_version: "2025-01".into(),
        user_id: "learner-1".into(),
        session_id: "session-1".into(),
        calling_service: "llm-router".into(),
        tier: "sota".into(),
        outcome: 1,
        latency_ms: 420,
        operation: "chat".into(),
        request_id: format!("rq-{id}"),
    }
}

/// The last microsecond before `t`.
pub fn just_before(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::microseconds(1)
}

/// The service, running on port 0 until dropped.
pub struct Service {
    pub addr: std::net::SocketAddr,
    stop: CancellationToken,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    pub async fn spawn(config: Config) -> Self {
        // The service verifies tokens signed with the development key.
        service_kit::auth::install(service_kit::auth::development(
            service_kit::auth::Issuer::Usage,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let handle = tokio::spawn(async move {
            usage_accounting::run(
                config,
                listener,
                Box::pin(async move { token.cancelled().await }),
            )
            .await
            .unwrap();
        });
        Self {
            addr,
            stop,
            handle: Some(handle),
        }
    }

    pub fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_lazy()
    }

    /// A client that calls as the router (writes, spend) or as an operator
    /// (reports), as the ledger's policy asks of each RPC.
    pub fn client(&self) -> UsageLedgerClient<DevelopmentAsAdmitted> {
        UsageLedgerClient::new(development_as_admitted(&self.addr.to_string()).unwrap())
    }

    /// The overall health status, polled until it is `want` (or 20 s pass).
    pub async fn wait_health(&self, want: i32) {
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_client::HealthClient;
        let mut health = HealthClient::new(self.channel());
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            let status = health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|r| r.into_inner().status);
            if matches!(status, Ok(s) if s == want) {
                return;
            }
            last = Some(status);
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("health never became {want}: last {last:?}");
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(std::time::Duration::from_secs(20), h)
                .await
                .expect("the service stops")
                .unwrap();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
