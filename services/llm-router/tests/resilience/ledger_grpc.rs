//! The real gRPC client (`UsageLedgerClient`) against an in-process
//! `UsageLedger` server that is stopped under load and restarted on the same
//! port; and, when usage-accounting implements it, against the real binary.

use super::support::{record, usd, utc};
use fluentedge_proto::usage::v1 as pb;
use llm_router::budget::{BudgetReset, SpendSource};
use llm_router::clients::UsageLedgerClient;
use llm_router::delivery::{DeliveryConfig, SqliteOutbox, UsageDelivery, UsageSink};
use parking_lot::Mutex;
use pb::usage_ledger_server::{UsageLedger, UsageLedgerServer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

#[derive(Default)]
struct GrpcLedger {
    rows: Mutex<HashMap<String, pb::UsageRecord>>,
    resets: Mutex<Vec<pb::RecordBudgetResetRequest>>,
}

struct Svc(Arc<GrpcLedger>);

impl std::ops::Deref for Svc {
    type Target = GrpcLedger;
    fn deref(&self) -> &GrpcLedger {
        &self.0
    }
}

#[tonic::async_trait]
impl UsageLedger for Svc {
    async fn record_usage_batch(
        &self,
        request: Request<pb::RecordUsageBatchRequest>,
    ) -> Result<Response<pb::RecordUsageBatchResponse>, Status> {
        let mut rows = self.rows.lock();
        let results = request
            .into_inner()
            .records
            .into_iter()
            .map(|r| {
                let result = match rows.get(&r.call_id) {
                    Some(existing) if *existing == r => pb::RecordResult::Duplicate,
                    Some(_) => pb::RecordResult::Rejected,
                    None => {
                        rows.insert(r.call_id.clone(), r.clone());
                        pb::RecordResult::Created
                    }
                };
                pb::RecordItemResult {
                    call_id: r.call_id,
                    result: result as i32,
                    error: String::new(),
                }
            })
            .collect();
        Ok(Response::new(pb::RecordUsageBatchResponse { results }))
    }

    async fn get_spend(
        &self,
        request: Request<pb::GetSpendRequest>,
    ) -> Result<Response<pb::GetSpendResponse>, Status> {
        let req = request.into_inner();
        let spent = self.rows.lock().values().map(|r| r.cost_micro_usd).sum();
        Ok(Response::new(pb::GetSpendResponse {
            spent_micro_usd: spent,
            record_count: self.rows.lock().len() as u64,
            counted_from: req.period_start,
        }))
    }

    async fn record_budget_reset(
        &self,
        request: Request<pb::RecordBudgetResetRequest>,
    ) -> Result<Response<pb::RecordBudgetResetResponse>, Status> {
        self.resets.lock().push(request.into_inner());
        Ok(Response::new(pb::RecordBudgetResetResponse {
            created: true,
        }))
    }
}

struct Server {
    addr: SocketAddr,
    task: Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    )>,
    ledger: Arc<GrpcLedger>,
}

impl Server {
    async fn start(ledger: Arc<GrpcLedger>, addr: SocketAddr) -> Server {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = UsageLedgerServer::new(Svc(ledger.clone()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await;
        });
        Server {
            addr,
            task: Some((task, stop)),
            ledger,
        }
    }

    /// Stops the server: connections close, new ones are refused.
    async fn kill(&mut self) {
        if let Some((task, stop)) = self.task.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    async fn restart(&mut self) {
        let started = Server::start(self.ledger.clone(), self.addr).await;
        self.task = Some(started.task.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_records_reads_spend_and_records_resets() {
    // The router client signs its calls as the router (development key).
    service_kit::auth::install(service_kit::auth::development(
        service_kit::auth::Issuer::Router,
    ));
    let ledger = Arc::new(GrpcLedger::default());
    let server = Server::start(ledger.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let client =
        UsageLedgerClient::connect(&server.addr.to_string(), Duration::from_secs(2)).unwrap();
    let at = utc("2026-11-10T12:00:00Z");
    let acks = client
        .record_batch(&[record("a", usd("1.25"), at), record("b", usd("0.5"), at)])
        .await
        .unwrap();
    assert!(acks.iter().all(|a| a.is_delivered()));
    let again = client
        .record_batch(&[record("a", usd("1.25"), at)])
        .await
        .unwrap();
    assert_eq!(again, vec![llm_router::delivery::RecordAck::Duplicate]);
    let stored = ledger.rows.lock().get("a").cloned().unwrap();
    assert_eq!(stored.cost_micro_usd, 1_250_000);
    assert_eq!(stored.outcome, pb::Outcome::Success as i32);
    assert_eq!(stored.created_at.unwrap().seconds, at.timestamp());

    let spend = client
        .month_spend(utc("2026-11-01T00:00:00Z"), utc("2026-12-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(spend.spent, usd("1.75"));
    assert_eq!(spend.counted_from, utc("2026-11-01T00:00:00Z"));

    client
        .record_reset(&BudgetReset {
            reset_id: "reset-1".into(),
            at,
            actor: "ops".into(),
            reason: "new funds".into(),
        })
        .await
        .unwrap();
    assert_eq!(ledger.resets.lock()[0].actor, "ops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_stopped_under_load_then_restarted_every_record_once() {
    // The router client signs its calls as the router (development key).
    service_kit::auth::install(service_kit::auth::development(
        service_kit::auth::Issuer::Router,
    ));
    let ledger = Arc::new(GrpcLedger::default());
    let mut server = Server::start(ledger.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let client =
        UsageLedgerClient::connect(&server.addr.to_string(), Duration::from_millis(500)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(
        SqliteOutbox::open(&dir.path().join("outbox.db"))
            .await
            .unwrap(),
    );
    let config = DeliveryConfig {
        redeliver_min: Duration::from_millis(20),
        redeliver_max: Duration::from_millis(300),
        sink_timeout: Duration::from_millis(500),
        ..DeliveryConfig::default()
    };
    let delivery = UsageDelivery::start(Arc::new(client), outbox, config).await;
    let producer = tokio::spawn({
        let delivery = delivery.clone();
        async move {
            let mut n = 0;
            let end = tokio::time::Instant::now() + Duration::from_millis(2_500);
            while tokio::time::Instant::now() < end {
                for _ in 0..5 {
                    delivery
                        .submit(record(
                            &format!("load-{n}"),
                            usd("0.002"),
                            utc("2026-11-10T12:00:00Z"),
                        ))
                        .await;
                    n += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            n
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await; // the outage (scaled down from 30 s)
    assert!(delivery.outbox_depth() > 0, "records waited in the outbox");
    server.restart().await;
    let n = producer.await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ledger.rows.lock().len() < n || delivery.outbox_depth() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} delivered",
            ledger.rows.lock().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let rows = ledger.rows.lock();
        assert_eq!(
            rows.len(),
            n,
            "every record exactly once (rows are keyed by call id)"
        );
        for i in 0..n {
            assert!(rows.contains_key(&format!("load-{i}")), "load-{i} missing");
        }
    }
    delivery.shutdown().await;
}

/// The same against the real usage-accounting binary and PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_usage_accounting_stopped_and_restarted_every_record_once() {
    // The router client signs its calls as the router (development key).
    service_kit::auth::install(service_kit::auth::development(
        service_kit::auth::Issuer::Router,
    ));
    use test_support::{ChildProcess, TestDb};
    let db = TestDb::create().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("USAGE_LISTEN_ADDR", format!("127.0.0.1:{port}")),
    ];
    let mut ua = ChildProcess::spawn("usage-accounting", &env);
    let addr = ua.bound_addr().await;
    let client = UsageLedgerClient::connect(&addr.to_string(), Duration::from_millis(500)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(
        SqliteOutbox::open(&dir.path().join("outbox.db"))
            .await
            .unwrap(),
    );
    let config = DeliveryConfig {
        redeliver_max: Duration::from_millis(500),
        ..DeliveryConfig::default()
    };
    let delivery = UsageDelivery::start(Arc::new(client.clone()), outbox, config).await;
    let now = chrono::Utc::now();
    for i in 0..200 {
        delivery
            .submit(record(&format!("real-{i}"), usd("0.001"), now))
            .await;
    }
    ua.signal("KILL");
    let _ = ua.wait_exit(Duration::from_secs(10)).await;
    for i in 200..400 {
        delivery
            .submit(record(&format!("real-{i}"), usd("0.001"), now))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ua = ChildProcess::spawn("usage-accounting", &env);
    ua.bound_addr().await;
    let start = now - chrono::Duration::hours(1);
    let end = now + chrono::Duration::hours(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if delivery.outbox_depth() == 0
            && let Ok(spend) = client.month_spend(start, end).await
            && spend.spent == usd("0.4")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all 400 records arrived once"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    delivery.shutdown().await;
}
