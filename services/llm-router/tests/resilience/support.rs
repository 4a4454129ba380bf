//! Shared fakes and helpers: an in-memory ledger (spend source and usage sink),
//! Redis clients, a test-owned redis-server, records.

use chrono::{DateTime, Utc};
use llm_router::budget::{
    BudgetBreaker, BudgetConfig, BudgetReset, BudgetStore, LedgerError, LedgerSpend,
    MemoryBudgetStore, RedisBudgetStore, SpendSource, StoreTtls,
};
use llm_router::clock::{Clock, ManualClock};
use llm_router::delivery::{RecordAck, SinkError, UsageOutcome, UsageRecord, UsageSink};
use llm_router::money::Micros;
use llm_router::redis::{RedisHandle, connect};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use test_support::RedisCluster;

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub async fn redis(timeout: Duration) -> RedisHandle {
    connect(&test_support::redis_url(), timeout, Duration::from_secs(5))
        .await
        .unwrap()
}

/// A Redis Cluster owned by this test and a router connection to it; `None`
/// (after a loud message) only where redis-server is not installed.
pub async fn redis_cluster(timeout: Duration) -> Option<(RedisHandle, RedisCluster)> {
    let cluster = RedisCluster::start().await?;
    let handle = cluster_connection(&cluster, timeout).await;
    Some((handle, cluster))
}

/// One more connection to `cluster`, as another router replica would have.
pub async fn cluster_connection(cluster: &RedisCluster, timeout: Duration) -> RedisHandle {
    connect(&cluster.url(), timeout, Duration::from_secs(5))
        .await
        .unwrap()
}

/// A ledger in memory with usage-accounting's rules: idempotent by call id,
/// spend counted from the latest reset, and a switch to make it fail.
#[derive(Default)]
pub struct FakeLedger {
    pub records: Mutex<HashMap<String, UsageRecord>>,
    pub resets: Mutex<Vec<BudgetReset>>,
    pub created: AtomicU64,
    pub duplicates: AtomicU64,
    pub spend_calls: AtomicU64,
    pub down: AtomicBool,
    /// Spend added on top of the records (as if recorded before the test).
    pub base_spend: Mutex<Micros>,
    /// When set, GetSpend waits for a permit (to observe "no admission while rebuilding").
    pub spend_gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
}

impl FakeLedger {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// What usage delivery does after a settle.
    pub fn insert(&self, record: UsageRecord) -> RecordAck {
        let mut records = self.records.lock();
        match records.get(&record.call_id) {
            Some(existing) if *existing == record => {
                self.duplicates.fetch_add(1, Ordering::SeqCst);
                RecordAck::Duplicate
            }
            Some(_) => RecordAck::Rejected("a different record under this id".into()),
            None => {
                self.created.fetch_add(1, Ordering::SeqCst);
                records.insert(record.call_id.clone(), record);
                RecordAck::Created
            }
        }
    }

    pub fn total(&self) -> Micros {
        Micros(self.records.lock().values().map(|r| r.cost.0).sum())
    }

    pub fn count(&self) -> usize {
        self.records.lock().len()
    }
}

#[async_trait::async_trait]
impl SpendSource for FakeLedger {
    async fn month_spend(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<LedgerSpend, LedgerError> {
        self.spend_calls.fetch_add(1, Ordering::SeqCst);
        let gate = self.spend_gate.lock().clone();
        if let Some(gate) = gate {
            let _permit = gate.acquire().await.unwrap();
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(LedgerError("connection refused".into()));
        }
        let from = self
            .resets
            .lock()
            .iter()
            .filter(|r| r.at >= start && r.at < end)
            .map(|r| r.at)
            .max()
            .unwrap_or(start);
        let records: i64 = self
            .records
            .lock()
            .values()
            .filter(|r| r.created_at >= from && r.created_at < end)
            .map(|r| r.cost.0)
            .sum();
        let base = if from == start {
            self.base_spend.lock().0
        } else {
            0
        };
        Ok(LedgerSpend {
            spent: Micros(records + base),
            counted_from: from,
        })
    }

    async fn record_reset(&self, reset: &BudgetReset) -> Result<(), LedgerError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(LedgerError("connection refused".into()));
        }
        self.resets.lock().push(reset.clone());
        Ok(())
    }
}

#[async_trait::async_trait]
impl UsageSink for FakeLedger {
    async fn record_batch(&self, records: &[UsageRecord]) -> Result<Vec<RecordAck>, SinkError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SinkError("connection refused".into()));
        }
        Ok(records.iter().map(|r| self.insert(r.clone())).collect())
    }
}

pub fn record(call_id: &str, cost: Micros, at: DateTime<Utc>) -> UsageRecord {
    UsageRecord {
        call_id: call_id.to_owned(),
        request_id: format!("rq-{call_id}"),
        created_at: at,
        provider: "azure".into(),
        model: "gpt-4o-mini".into(),
        input_tokens: 120,
        output_tokens: 48,
        cost,
        price_version: "2026-01".into(),
        user_id: "learner-1".into(),
        session_id: "session-1".into(),
        calling_service: "conversation".into(),
        tier: "cost_effective".into(),
        outcome: UsageOutcome::Success,
        latency_ms: 321,
        operation: "chat".into(),
        traceparent: String::new(),
    }
}

pub fn ttls(config: &BudgetConfig) -> StoreTtls {
    StoreTtls::for_reservation_ttl(config.reservation_ttl)
}

pub fn memory_store(config: &BudgetConfig) -> Arc<dyn BudgetStore> {
    Arc::new(MemoryBudgetStore::new(ttls(config)))
}

pub fn redis_store(
    handle: &RedisHandle,
    prefix: &str,
    config: &BudgetConfig,
) -> Arc<dyn BudgetStore> {
    Arc::new(RedisBudgetStore::new(
        handle.client.clone(),
        prefix,
        ttls(config),
        config.store_timeout,
    ))
}

pub fn breaker(
    config: &BudgetConfig,
    store: Arc<dyn BudgetStore>,
    ledger: Arc<FakeLedger>,
    clock: Arc<ManualClock>,
) -> Arc<BudgetBreaker> {
    BudgetBreaker::new(config.clone(), store, ledger, clock as Arc<dyn Clock>)
}

pub fn usd(s: &str) -> Micros {
    Micros::parse_usd(s).unwrap()
}

/// Deletes every key under `prefix` (as a flush would), via SCAN + DEL in Lua,
/// on every primary of a cluster.
pub async fn delete_prefix(handle: &RedisHandle, prefix: &str) {
    use fred::prelude::{ClientLike, ClusterInterface, LuaInterface};
    let script = r"
        local cursor = '0'
        local n = 0
        repeat
          local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
          cursor = r[1]
          for _, k in ipairs(r[2]) do redis.call('DEL', k); n = n + 1 end
        until cursor == '0'
        return n";
    let pattern = vec![format!("*{prefix}*")];
    if !handle.client.is_clustered() {
        let _: i64 = handle
            .client
            .eval(script, Vec::<String>::new(), pattern)
            .await
            .unwrap();
        return;
    }
    let primaries = handle
        .client
        .cached_cluster_state()
        .expect("cluster state")
        .unique_primary_nodes();
    for primary in primaries {
        let _: i64 = handle
            .client
            .with_cluster_node(primary)
            .eval(script, Vec::<String>::new(), pattern.clone())
            .await
            .unwrap();
    }
}

/// Deletes the prefix's keys when dropped (the end of a test), so tests leave
/// nothing behind in the shared Redis.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let prefix = std::mem::take(&mut self.0);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let handle = redis(Duration::from_secs(2)).await;
                delete_prefix(&handle, &prefix).await;
                handle.shutdown().await;
            });
        })
        .join();
    }
}

/// A redis-server owned by one test, on a spare port, with no persistence.
pub struct OwnedRedis {
    pub port: u16,
    child: Option<tokio::process::Child>,
}

impl Drop for OwnedRedis {
    fn drop(&mut self) {
        // A frozen server would ignore SIGKILL's clean-up otherwise... it does
        // not, but thaw first so kill_on_drop always ends it promptly.
        if self.child.is_some() {
            self.thaw();
        }
    }
}

impl OwnedRedis {
    pub async fn start() -> OwnedRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = OwnedRedis { port, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().and_then(|c| c.id()).expect("running");
        let status = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGSTOP: the server stops answering but keeps its connections (a hang).
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
            let _ = child.wait().await;
        }
    }
}
