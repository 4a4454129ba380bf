//! conversation's PostgreSQL migrations, recorded in a table of their own.
//!
//! usage-accounting's migrations live in sqlx's default `_sqlx_migrations`
//! and, as both start at the same version number, the two services could not
//! share one database (`DATABASE_URL=… make run`): whichever migrated second
//! found "its" version applied with another checksum and retried forever.
//! conversation therefore records its own in `_sqlx_migrations_conversation`.
//!
//! A database migrated before that change has conversation's rows in
//! `_sqlx_migrations`: they are adopted (copied, matched by version *and*
//! checksum, so usage-accounting's never are) the first time, so nothing
//! runs twice.

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

pub const TABLE: &str = "_sqlx_migrations_conversation";
const SHARED_TABLE: &str = "_sqlx_migrations";

pub async fn run(pool: &PgPool) -> Result<(), MigrateError> {
    adopt_rows_from_the_shared_table(pool).await?;
    let mut migrator = Migrator::with_migrations(MIGRATIONS.migrations.to_vec());
    migrator.dangerous_set_table_name(TABLE);
    migrator.run(pool).await
}

async fn adopt_rows_from_the_shared_table(pool: &PgPool) -> Result<(), MigrateError> {
    let (ours, shared): (bool, bool) =
        sqlx::query_as("SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL")
            .bind(TABLE)
            .bind(SHARED_TABLE)
            .fetch_one(pool)
            .await?;
    if ours || !shared {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    // The same columns as sqlx's table, so sqlx reads it as its own.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (LIKE {SHARED_TABLE} INCLUDING ALL)"
    )))
    .execute(&mut *tx)
    .await?;
    let mut adopted = 0;
    for m in MIGRATIONS.iter() {
        adopted += sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {TABLE} SELECT * FROM {SHARED_TABLE} \
             WHERE version = $1 AND checksum = $2 ON CONFLICT DO NOTHING"
        )))
        .bind(m.version)
        .bind(m.checksum.as_ref())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    if adopted > 0 {
        tracing::info!(adopted, table = TABLE, "storage.migrations_adopted");
    }
    Ok(())
}
