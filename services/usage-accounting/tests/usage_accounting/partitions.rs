//! The PostgreSQL ledger partitioned by month: rows land in their month's
//! partition across a boundary, partitions are prepared ahead, retention
//! drops or archives a whole partition, a deleted month's ids stay
//! duplicates, and the migration from the unpartitioned table keeps every
//! row, every id and the manual's monthly totals.

use crate::manual_sql::MONTHLY_COST_SQL;
use crate::support::{TestLedger, at, just_before, rec};
use chrono::{DateTime, Duration, Utc};
use sqlx::{PgPool, Row};
use usage_accounting::config::Retention;
use usage_accounting::domain::ItemOutcome;
use usage_accounting::retention;
use usage_accounting::storage::{LedgerStore, PostgresStore, RetentionAction};

async fn pool(t: &TestLedger) -> PgPool {
    match &t.guard {
        crate::support::Guard::Postgres(db) => PgPool::connect(&db.url).await.unwrap(),
        crate::support::Guard::Sqlite(_) => unreachable!(),
    }
}

async fn partition_of(pool: &PgPool, id: &str) -> String {
    sqlx::query_scalar("SELECT tableoid::regclass::text FROM api_usage_log WHERE call_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The partitions of `parent`, by name.
async fn partitions(pool: &PgPool, parent: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = $1::regclass ORDER BY 1",
    )
    .bind(parent)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_land_in_their_months_partition_across_the_boundary() {
    let t = TestLedger::postgres().await;
    let pool = pool(&t).await;
    let boundary = at("2024-11-01T00:00:00Z");
    t.ledger
        .record_batch(&[
            rec("last-of-october", just_before(boundary), "azure", 1),
            rec("first-of-november", boundary, "azure", 2),
        ])
        .await
        .unwrap();
    assert_eq!(
        partition_of(&pool, "last-of-october").await,
        "api_usage_log_p202410"
    );
    assert_eq!(
        partition_of(&pool, "first-of-november").await,
        "api_usage_log_p202411"
    );
    // The parent holds no rows of its own: it is partitioned.
    let kind: String =
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE relname = 'api_usage_log'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(kind, "p");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coming_months_are_prepared_ahead() {
    let t = TestLedger::postgres().await;
    let pool = pool(&t).await;
    t.store()
        .prepare_partitions(at("2030-12-15T10:00:00Z"))
        .await
        .unwrap();
    let names = partitions(&pool, "api_usage_log").await;
    for month in ["203012", "203101", "203102"] {
        assert!(
            names.contains(&format!("api_usage_log_p{month}")),
            "{month} missing from {names:?}"
        );
    }
    // Again: nothing new, no error.
    t.store()
        .prepare_partitions(at("2030-12-15T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(partitions(&pool, "api_usage_log").await, names);
}

async fn seed_three_months(t: &TestLedger) {
    let mut records = Vec::new();
    for (i, month) in ["2024-10", "2024-11", "2024-12"].iter().enumerate() {
        let start = at(&format!("{month}-01T00:00:00Z"));
        for j in 0..3 {
            records.push(rec(
                &format!("{month}-{j}"),
                start + Duration::days(j),
                "azure",
                (i as i64 + 1) * 100,
            ));
        }
    }
    t.ledger.record_batch(&records).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_a_whole_partition_and_its_ids_stay_duplicates() {
    let t = TestLedger::postgres().await;
    let pool = pool(&t).await;
    seed_three_months(&t).await;
    let policy = Retention {
        keep_months: 1,
        action: RetentionAction::Delete,
    };
    let done = retention::run_once(t.store(), policy, at("2024-12-20T00:00:00Z"), false)
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].retired.rows, done[0].retired.cost_micro_usd),
        (3, 300)
    );
    let names = partitions(&pool, "api_usage_log").await;
    assert!(
        !names.contains(&"api_usage_log_p202410".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"api_usage_log_p202411".to_owned()));
    let gone: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('api_usage_log_p202410')::text")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(gone, None, "dropped, not just detached");
    // A late redelivery of a deleted month's record is a duplicate, not a new row.
    let late = rec("2024-10-0", at("2024-10-01T00:00:00Z"), "azure", 100);
    assert_eq!(t.ledger.record(late).await.unwrap(), ItemOutcome::Duplicate);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_usage_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_moves_the_partition_to_the_archive_whole() {
    let t = TestLedger::postgres().await;
    let pool = pool(&t).await;
    seed_three_months(&t).await;
    let policy = Retention {
        keep_months: 1,
        action: RetentionAction::Archive,
    };
    retention::run_once(t.store(), policy, at("2024-12-20T00:00:00Z"), false)
        .await
        .unwrap();
    assert_eq!(
        partitions(&pool, "api_usage_log_archive").await,
        ["api_usage_log_archive_p202410"]
    );
    let archived: i64 =
        sqlx::query_scalar("SELECT SUM(cost_micro_usd)::BIGINT FROM api_usage_log_archive")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(archived, 300);
    // A late record of the archived month lands in a new ledger partition;
    // the next run appends it to the archive's partition.
    t.ledger
        .record(rec("late", at("2024-10-31T23:00:00Z"), "azure", 7))
        .await
        .unwrap();
    let done = retention::run_once(t.store(), policy, at("2024-12-21T00:00:00Z"), false)
        .await
        .unwrap();
    assert_eq!(done[0].retired.rows, 1);
    let archived: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_usage_log_archive")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(archived, 4);
    // Archived ids are still duplicates, with the archived row compared.
    let again = rec("late", at("2024-10-31T23:00:00Z"), "azure", 7);
    assert_eq!(
        t.ledger.record(again).await.unwrap(),
        ItemOutcome::Duplicate
    );
}

/// The manual's monthly query, every value as text.
async fn monthly(pool: &PgPool) -> Vec<Vec<String>> {
    sqlx::raw_sql(MONTHLY_COST_SQL)
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (0..5)
                .map(|i| row.try_get_unchecked::<String, _>(i).unwrap())
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_from_todays_table_keeps_rows_ids_and_the_monthly_totals() {
    let db = test_support::TestDb::create().await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    // Today's schema: only the first migration.
    let dir = tempfile::tempdir().unwrap();
    let first = "20250101000001_usage_ledger.sql";
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/postgres/20250101000001_usage_ledger.sql"
        ),
        dir.path().join(first),
    )
    .unwrap();
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let month: DateTime<Utc> =
        sqlx::query_scalar("SELECT date_trunc('month', CURRENT_DATE)::timestamptz")
            .fetch_one(&pool)
            .await
            .unwrap();
    let rows = [
        ("this-1", month, "azure", "gpt-4o", 1_234_567i64),
        (
            "this-2",
            month + Duration::hours(3),
            "azure",
            "gpt-4o-mini",
            999,
        ),
        (
            "this-3",
            month + Duration::days(2),
            "anthropic",
            "claude",
            4_500_000,
        ),
        ("last-1", just_before(month), "azure", "gpt-4o", 70_000_000),
        ("old-1", month - Duration::days(400), "bedrock", "nova", 5),
    ];
    for (id, created, provider, model, cost) in rows {
        sqlx::query(
            "INSERT INTO api_usage_log (request_id, created_at, api_provider, model_name, \
             input_tokens, output_tokens, cost_micro_usd, outcome) VALUES ($1, $2, $3, $4, 10, 5, $5, 'success')",
        )
        .bind(id)
        .bind(created)
        .bind(provider)
        .bind(model)
        .bind(cost)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO api_usage_log_archive (request_id, created_at, api_provider, model_name, \
         input_tokens, output_tokens, cost_micro_usd, price_version, user_id, session_id, \
         calling_service, tier, outcome, latency_ms, operation, recorded_at) VALUES \
         ('archived-1', '2020-03-04T00:00:00Z', 'azure', 'gpt-4', 1, 1, 3, '', '', '', '', '', \
         'success', 0, '', now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = monthly(&pool).await;
    assert_eq!(before.len(), 3, "{before:?}");

    let store = PostgresStore::connect_lazy(&db.url, 4).unwrap();
    store.migrate().await.unwrap();

    assert_eq!(
        monthly(&pool).await,
        before,
        "the manual's totals are unchanged"
    );
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM api_usage_log), (SELECT COUNT(*) FROM api_usage_log_archive), \
         (SELECT COUNT(*) FROM api_usage_call_ids)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(counts, (5, 1, 6));
    let old_month = (month - Duration::days(400)).format("%Y%m");
    assert_eq!(
        partition_of(&pool, "old-1").await,
        format!("api_usage_log_p{old_month}")
    );
    let archive_parts = partitions(&pool, "api_usage_log_archive").await;
    assert_eq!(archive_parts, ["api_usage_log_archive_p202003"]);
    // Migrated and archived ids are still duplicates; a changed one a conflict.
    let ledger = usage_accounting::Ledger::new(std::sync::Arc::new(store));
    let mut again = rec("this-2", month + Duration::hours(3), "azure", 999);
    again.model = "gpt-4o-mini".into();
    again.input_tokens = 10;
    again.output_tokens = 5;
    (again.price_version, again.user_id, again.session_id) =
        (String::new(), String::new(), String::new());
    (again.calling_service, again.tier, again.operation) =
        (String::new(), String::new(), String::new());
    again.latency_ms = 0;
    // Stored before request ids were kept: its request id is empty.
    again.request_id = String::new();
    assert_eq!(
        ledger.record(again.clone()).await.unwrap(),
        ItemOutcome::Duplicate
    );
    again.cost_micro_usd += 1;
    assert!(
        ledger.record(again).await.is_err(),
        "a conflict, never a second row"
    );
    let archived = rec("archived-1", at("2020-03-04T00:00:00Z"), "azure", 3);
    assert!(
        ledger.record(archived).await.is_err(),
        "the archived id is taken (a different record: a conflict)"
    );
}
