//! conversation's PostgreSQL migrations coexist with usage-accounting's in one
//! database (the README's `DATABASE_URL=… make run`), and a database migrated
//! before they had their own table is adopted without running anything twice.

use conversation::storage::{PostgresStore, Store};
use sqlx::Connection;
use test_support::TestDb;

/// usage-accounting's migrations, as its binary runs them.
static USAGE_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("../usage-accounting/migrations/postgres");
/// conversation's, as releases before their own table recorded them.
static OLD_LAYOUT: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

async fn count(url: &str, sql: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn one_database_holds_both_services_migrations() {
    let db = TestDb::create().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    USAGE_MIGRATIONS.run(&pool).await.unwrap();

    let store = PostgresStore::connect_lazy(&db.url, 2).unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    // usage-accounting still finds its own history intact.
    USAGE_MIGRATIONS.run(&pool).await.unwrap();
    let tables = count(
        &db.url,
        "SELECT count(*) FROM information_schema.tables \
         WHERE table_name IN ('learners', 'sessions', 'messages', 'api_usage_log')",
    )
    .await;
    assert_eq!(tables, 4);
    pool.close().await;
}

#[tokio::test]
async fn a_database_migrated_into_the_shared_table_is_adopted() {
    let db = TestDb::create().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    OLD_LAYOUT.run(&pool).await.unwrap();

    let store = PostgresStore::connect_lazy(&db.url, 2).unwrap();
    // Running the init migration again would fail on the existing tables.
    store.migrate().await.unwrap();
    let adopted = count(
        &db.url,
        "SELECT count(*) FROM _sqlx_migrations_conversation",
    )
    .await;
    assert_eq!(adopted, OLD_LAYOUT.iter().count() as i64);
    store.migrate().await.unwrap();
    pool.close().await;
}
