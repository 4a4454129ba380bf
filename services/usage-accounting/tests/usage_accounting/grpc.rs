//! The service over gRPC: `usage_accounting::run` on port 0, called through
//! the generated client (and grpcurl, as the README shows), on both backends.

use crate::support::{NOT_SERVING, SERVING, Service, TestLedger, at};
use fluentedge_proto::usage::v1 as pb;
use service_kit::auth::{Issuer, Role};
use std::time::Duration;
use tonic::Code;
use usage_accounting::{Config, Database};

fn ts(s: &str) -> Option<prost_types::Timestamp> {
    let t = at(s);
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

fn record(id: &str, cost: i64) -> pb::UsageRecord {
    pb::UsageRecord {
        call_id: id.into(),
        created_at: ts("2025-06-03T10:15:00Z"),
        provider: "azure".into(),
        model: "gpt-4o".into(),
        input_tokens: 1200,
        output_tokens: 350,
        cost_micro_usd: cost,
        price_version: "2025-06".into(),
        user_id: "learner-42".into(),
        session_id: "sess-7".into(),
        calling_service: "llm-router".into(),
        tier: "sota".into(),
        outcome: pb::Outcome::Success as i32,
        latency_ms: 830,
        operation: "chat".into(),
        request_id: format!("caller-{id}"),
    }
}

fn reason(status: &tonic::Status) -> &str {
    status
        .metadata()
        .get("x-error-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn exercise(service: &Service) {
    service.wait_health(SERVING).await;
    let mut client = service.client();
    let send = |r: pb::UsageRecord| pb::RecordUsageRequest { record: Some(r) };

    let created = client
        .record_usage(send(record("req-1", 4_150)))
        .await
        .unwrap();
    assert_eq!(created.into_inner().result(), pb::RecordResult::Created);
    let again = client
        .record_usage(send(record("req-1", 4_150)))
        .await
        .unwrap();
    assert_eq!(again.into_inner().result(), pb::RecordResult::Duplicate);

    let conflict = client
        .record_usage(send(record("req-1", 9_999)))
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Code::AlreadyExists);
    assert_eq!(reason(&conflict), "conflict");
    assert!(
        conflict.message().contains("cost_micro_usd"),
        "{}",
        conflict.message()
    );

    let mut negative = record("req-2", 1);
    negative.cost_micro_usd = -1;
    let mut huge = record("req-3", 1);
    huge.input_tokens = u64::MAX;
    let mut no_outcome = record("req-4", 1);
    no_outcome.outcome = 0;
    let mut bad_time = record("req-5", 1);
    bad_time.created_at = Some(prost_types::Timestamp {
        seconds: 1,
        nanos: -3,
    });
    for (r, expected) in [
        (negative, "record.cost_micro_usd: -1 is negative"),
        (
            huge,
            "record.input_tokens: 18446744073709551615 is out of range",
        ),
        (no_outcome, "record.outcome: required"),
        (bad_time, "record.created_at: nanos -3"),
        (record("", 1), "record.call_id: required"),
    ] {
        let e = client.record_usage(send(r)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(reason(&e), "invalid_argument");
        assert!(
            e.message().starts_with(expected),
            "{} vs {expected}",
            e.message()
        );
    }
    let e = client
        .record_usage(pb::RecordUsageRequest { record: None })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "record: required")
    );

    let batch = client
        .record_usage_batch(pb::RecordUsageBatchRequest {
            records: vec![
                record("req-1", 4_150),
                record("req-1", 1),
                record("b-1", 850),
                record("", 0),
            ],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let results: Vec<_> = batch
        .iter()
        .map(|r| (r.call_id.as_str(), r.result()))
        .collect();
    assert_eq!(
        results,
        [
            ("req-1", pb::RecordResult::Duplicate),
            ("req-1", pb::RecordResult::Rejected),
            ("b-1", pb::RecordResult::Created),
            ("", pb::RecordResult::Rejected),
        ]
    );
    assert!(batch[0].error.is_empty());
    assert!(
        batch[1].error.contains("already recorded"),
        "{}",
        batch[1].error
    );
    assert_eq!(batch[3].error, "call_id: required");
    let too_big = client
        .record_usage_batch(pb::RecordUsageBatchRequest {
            records: (0..1001).map(|i| record(&format!("x{i}"), 1)).collect(),
        })
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), Code::InvalidArgument);

    let june = |r: &mut pb::GetSpendRequest| {
        r.period_start = ts("2025-06-01T00:00:00Z");
        r.period_end = ts("2025-07-01T00:00:00Z");
    };
    let mut spend_req = pb::GetSpendRequest::default();
    june(&mut spend_req);
    let spend = client.get_spend(spend_req).await.unwrap().into_inner();
    assert_eq!((spend.spent_micro_usd, spend.record_count), (5_000, 2));
    assert_eq!(spend.counted_from, ts("2025-06-01T00:00:00Z"));
    let e = client
        .get_spend(pb::GetSpendRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "period_start: required")
    );

    let reset = pb::RecordBudgetResetRequest {
        reset_id: "reset-1".into(),
        reset_at: ts("2025-06-03T10:15:00Z"),
        actor: "admin@example.com".into(),
        reason: "budget raised".into(),
    };
    assert!(
        client
            .record_budget_reset(reset.clone())
            .await
            .unwrap()
            .into_inner()
            .created
    );
    assert!(
        !client
            .record_budget_reset(reset)
            .await
            .unwrap()
            .into_inner()
            .created
    );
    let spend = client.get_spend(spend_req).await.unwrap().into_inner();
    assert_eq!(spend.counted_from, ts("2025-06-03T10:15:00Z"));
    assert_eq!(spend.record_count, 2);

    let summary = client
        .get_usage_summary(pb::GetUsageSummaryRequest {
            period_start: ts("2025-06-01T00:00:00Z"),
            period_end: ts("2025-07-01T00:00:00Z"),
            group_by: vec![pb::GroupBy::Day as i32],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.rows.len(), 1);
    assert_eq!(summary.rows[0].day, "2025-06-03");
    assert_eq!(summary.total.unwrap().cost_micro_usd, 5_000);

    let page = client
        .list_usage(pb::ListUsageRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].call_id, "req-1");
    assert_eq!(page.records[0], record("req-1", 4_150));
    let rest = client
        .list_usage(pb::ListUsageRequest {
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.records.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let one_request = client
        .list_usage(pb::ListUsageRequest {
            request_id: "caller-req-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = one_request
        .records
        .iter()
        .map(|r| r.call_id.as_str())
        .collect();
    assert_eq!(ids, ["req-1"]);
    let e = client
        .list_usage(pb::ListUsageRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_on_the_sqlite_default() {
    let t = TestLedger::sqlite().await;
    let service = Service::spawn(Config::for_tests(t.database())).await;
    exercise(&service).await;
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_on_postgres() {
    let t = TestLedger::postgres().await;
    let service = Service::spawn(Config::for_tests(t.database())).await;
    exercise(&service).await;
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_serving_until_the_database_is_there() {
    use sqlx::Connection;
    let admin = test_support::postgres_admin_url();
    let base = admin.rsplit_once('/').unwrap().0;
    let name = format!(
        "fe_test_late_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let service = Service::spawn(Config::for_tests(Database::Postgres {
        url: format!("{base}/{name}"),
    }))
    .await;
    // The database does not exist yet: not ready, and calls say so.
    service.wait_health(NOT_SERVING).await;
    let e = service
        .client()
        .get_spend(pb::GetSpendRequest {
            period_start: ts("2025-06-01T00:00:00Z"),
            period_end: ts("2025-07-01T00:00:00Z"),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);

    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    service.wait_health(SERVING).await;
    let created = service
        .client()
        .record_usage(pb::RecordUsageRequest {
            record: Some(record("late-1", 1)),
        })
        .await
        .unwrap();
    assert_eq!(created.into_inner().result(), pb::RecordResult::Created);
    service.stop().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}

fn dev_token(issuer: Issuer, subject: Option<&str>, role: Role) -> String {
    service_kit::auth::development_signer(issuer)
        .token(subject, role)
        .unwrap()
}

/// The `grpcurl` commands of the README, joined across `\` line breaks.
fn readme_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut commands = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        let line = line.trim_end();
        match current.as_mut() {
            Some(cmd) => cmd.push_str(line.trim_end_matches('\\')),
            None if line.starts_with("grpcurl ") => {
                current = Some(line.trim_end_matches('\\').to_owned());
            }
            None => continue,
        }
        if !line.ends_with('\\') {
            commands.extend(current.take());
        }
    }
    commands
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_grpcurl_examples_work() {
    let t = TestLedger::sqlite().await;
    let service = Service::spawn(Config::for_tests(t.database())).await;
    service.wait_health(SERVING).await;
    let commands = readme_commands();
    for rpc in [
        "RecordUsage",
        "RecordUsageBatch",
        "GetSpend",
        "GetUsageSummary",
        "ListUsage",
        "RecordBudgetReset",
    ] {
        assert!(
            commands
                .iter()
                .any(|c| c.contains(&format!("UsageLedger/{rpc}"))),
            "the README has no grpcurl example for {rpc}"
        );
    }
    for command in commands {
        let command = command.replace("127.0.0.1:50053", &service.addr.to_string());
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new("bash")
                .arg("-c")
                .arg(&command)
                .env("ROUTER", dev_token(Issuer::Router, None, Role::Service))
                .env(
                    "OPERATOR",
                    dev_token(Issuer::Operator, Some("ops"), Role::Admin),
                )
                .output(),
        )
        .await
        .unwrap()
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{command}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if command.ends_with("UsageLedger/RecordUsage") {
            assert!(stdout.contains("RECORD_RESULT_CREATED"), "{stdout}");
        }
        if command.contains("UsageLedger/GetSpend") {
            assert!(stdout.contains("\"spentMicroUsd\": \"4150\""), "{stdout}");
        }
    }
    service.stop().await;
}

#[tokio::test]
async fn the_retention_command_runs_once_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("usage.db").display());
    let run = |args: &[&str], months: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_usage-accounting"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("USAGE_RETENTION_MONTHS", months)
            .env("LOG_FORMAT", "json")
            .output()
            .unwrap()
    };
    let out = run(&["retention", "--dry-run"], "3");
    assert!(out.status.success(), "{out:?}");
    let logs =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("retention.completed"), "{logs}");
    assert!(dir.path().join("usage.db").exists(), "migrated on the way");
    assert!(run(&["retention"], "0").status.success());
    assert_eq!(run(&["retention", "--now"], "3").status.code(), Some(64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_and_exports_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let child = test_support::ChildProcess::spawn(
        "usage-accounting",
        &[
            ("USAGE_LISTEN_ADDR", "127.0.0.1:0".into()),
            ("METRICS_ADDR", "127.0.0.1:0".into()),
            // The embedded default, in a directory that does not exist yet.
            (
                "USAGE_SQLITE_PATH",
                dir.path().join("a/b/usage.db").display().to_string(),
            ),
            ("LOG_LEVEL", "debug".into()),
        ],
    );
    let addr = child.bound_addr().await;
    let metrics = child
        .wait_for_log(Duration::from_secs(20), |v| {
            v["event"] == "metrics.listening"
        })
        .await;
    let metrics_addr = metrics["addr"].as_str().unwrap().to_owned();
    child
        .wait_for_log(Duration::from_secs(20), |v| v["event"] == "storage.ready")
        .await;
    let mut client = fluentedge_proto::usage::v1::usage_ledger_client::UsageLedgerClient::new(
        service_kit::grpc_client::development_as_admitted(&addr.to_string()).unwrap(),
    );
    let batch = pb::RecordUsageBatchRequest {
        records: vec![record("m-1", 1), record("m-1", 1), record("m-1", 2)],
    };
    client.record_usage_batch(batch).await.unwrap();
    let body = test_support::http_client()
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"usage_records_total{result="created"} 1"#,
        r#"usage_records_total{result="duplicate"} 1"#,
        r#"usage_records_total{result="rejected"} 1"#,
        "usage_record_batch_size",
        r#"db_pool_connections{state="idle"}"#,
    ] {
        assert!(body.contains(line), "{line} missing from:\n{body}");
    }
    let logs = child.json_logs();
    let event = |name: &str| logs.iter().find(|v| v["event"] == name).cloned();
    let recorded = event("usage.recorded").expect("usage.recorded");
    assert_eq!(recorded["level"], "INFO");
    assert_eq!(recorded["call_id"], "m-1");
    // The record's own request id, not the id of the delivery that carried it.
    assert_eq!(recorded["request_id"], "caller-m-1");
    let conflict = event("usage.conflict").expect("usage.conflict");
    assert_eq!(conflict["level"], "WARNING");
    assert_eq!(conflict["fields"], "cost_micro_usd");
    assert!(dir.path().join("a/b/usage.db").exists());
}
