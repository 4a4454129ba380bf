//! The manuals' monthly cost analysis (保守運用マニュアル, "API 使用量の集計
//! (月次)") runs unchanged on the PostgreSQL ledger and agrees with
//! GetUsageSummary grouped by provider and model.

use crate::support::{Service, TestLedger, just_before, rec};
use chrono::{DateTime, Duration, Utc};
use fluentedge_proto::usage::v1 as pb;
use sqlx::Row;
use usage_accounting::Config;

/// Verbatim from the manual, whitespace included.
pub(crate) const MONTHLY_COST_SQL: &str = "SELECT api_provider, model_name,
             SUM(input_tokens) as total_input,
             SUM(output_tokens) as total_output,
             SUM(estimated_cost_usd) as total_cost
      FROM api_usage_log
      WHERE created_at >= date_trunc('month', CURRENT_DATE)
      GROUP BY api_provider, model_name
      ORDER BY total_cost DESC;";

fn usd(micro: i64) -> String {
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manuals_monthly_query_matches_the_summary() {
    let t = TestLedger::postgres().await;
    let pool = sqlx::PgPool::connect(match &t.guard {
        crate::support::Guard::Postgres(db) => &db.url,
        crate::support::Guard::Sqlite(_) => unreachable!(),
    })
    .await
    .unwrap();
    // The month as the manual's query sees it (the session's time zone).
    let month_start: DateTime<Utc> =
        sqlx::query_scalar("SELECT date_trunc('month', CURRENT_DATE)::timestamptz")
            .fetch_one(&pool)
            .await
            .unwrap();

    // This month: three provider/model groups with distinct totals and
    // sub-dollar costs; last month: rows that must not count.
    let mut records = vec![
        rec("m1", month_start, "azure", 1_234_567),
        rec("m2", month_start + Duration::hours(5), "azure", 2_000_001),
        rec(
            "m3",
            month_start + Duration::minutes(1),
            "anthropic",
            4_500_000,
        ),
        rec("m4", month_start + Duration::seconds(7), "bedrock", 999),
        rec("m5", month_start + Duration::microseconds(1), "azure", 10),
        rec("p1", just_before(month_start), "azure", 50_000_000),
        rec(
            "p2",
            month_start - Duration::days(20),
            "anthropic",
            70_000_000,
        ),
    ];
    records[1].model = "gpt-4o-mini".into();
    records[1].input_tokens = 7_777;
    records[4].model = "gpt-4o-mini".into();
    t.ledger.record_batch(&records).await.unwrap();

    // Simple-query protocol, as psql sends it: every value comes back as text.
    let manual: Vec<(String, String, String, String, String)> = sqlx::raw_sql(MONTHLY_COST_SQL)
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let text = |i: usize| row.try_get_unchecked::<String, _>(i).unwrap();
            (text(0), text(1), text(2), text(3), text(4))
        })
        .collect();
    assert_eq!(manual.len(), 4, "{manual:?}");

    let service = Service::spawn(Config::for_tests(t.database())).await;
    service.wait_health(crate::support::SERVING).await;
    let summary = service
        .client()
        .get_usage_summary(pb::GetUsageSummaryRequest {
            period_start: Some(prost_types::Timestamp {
                seconds: month_start.timestamp(),
                nanos: 0,
            }),
            period_end: None,
            group_by: vec![pb::GroupBy::Provider as i32, pb::GroupBy::Model as i32],
        })
        .await
        .unwrap()
        .into_inner();
    let ours: Vec<(String, String, String, String, String)> = summary
        .rows
        .iter()
        .map(|r| {
            (
                r.provider.clone(),
                r.model.clone(),
                r.input_tokens.to_string(),
                r.output_tokens.to_string(),
                usd(r.cost_micro_usd),
            )
        })
        .collect();
    assert_eq!(manual, ours);
    assert_eq!(ours[0].4, "4.500000");
    assert_eq!(
        ours[1],
        (
            "azure".into(),
            "gpt-4o-mini".into(),
            "7877".into(),
            "100".into(),
            "2.000011".into()
        )
    );
    let total = summary.total.unwrap();
    assert_eq!(
        total.cost_micro_usd,
        1_234_567 + 2_000_001 + 4_500_000 + 999 + 10
    );
    service.stop().await;
}
