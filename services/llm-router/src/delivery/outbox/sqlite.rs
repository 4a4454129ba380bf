//! The outbox as a local SQLite file (no `REDIS_URL`; `USAGE_OUTBOX_PATH`,
//! default `.fluentedge/router-outbox.db`). WAL with `synchronous=FULL`: an
//! appended batch survives a crash of the process or the machine.

use super::{Outbox, OutboxEntry, OutboxError};
use crate::delivery::record::UsageRecord;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

pub struct SqliteOutbox {
    pool: SqlitePool,
}

fn err(e: impl std::fmt::Display) -> OutboxError {
    OutboxError(format!("sqlite: {e}"))
}

impl SqliteOutbox {
    /// Opens (creating if needed) the outbox file at `path`.
    pub async fn open(path: &Path) -> Result<Self, OutboxError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(err)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .map_err(err)?;
        // `request_id` holds the call id: the column keeps the name it was
        // created with, since existing outbox files are reopened as they are.
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS usage_outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                request_id TEXT NOT NULL,
                payload TEXT NOT NULL
            )",
        )
        .execute(&pool)
        .await
        .map_err(err)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS usage_outbox_rejected (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                outbox_id INTEGER,
                payload TEXT NOT NULL,
                reason TEXT NOT NULL
            )",
        )
        .execute(&pool)
        .await
        .map_err(err)?;
        tracing::info!(path = %path.display(), "usage.outbox_opened");
        Ok(Self { pool })
    }

    async fn move_rows(&self, rows: &[(Option<i64>, String, String)]) -> Result<(), OutboxError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(err)?;
        for (id, payload, reason) in rows {
            sqlx::query(
                "INSERT INTO usage_outbox_rejected (outbox_id, payload, reason) VALUES (?, ?, ?)",
            )
            .bind(id)
            .bind(payload)
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
            if let Some(id) = id {
                sqlx::query("DELETE FROM usage_outbox WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
            }
        }
        tx.commit().await.map_err(err)
    }
}

#[async_trait::async_trait]
impl Outbox for SqliteOutbox {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn append(&self, records: &[UsageRecord]) -> Result<(), OutboxError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(err)?;
        for record in records {
            sqlx::query("INSERT INTO usage_outbox (request_id, payload) VALUES (?, ?)")
                .bind(&record.call_id)
                .bind(record.to_json())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn peek(&self, max: usize) -> Result<Vec<OutboxEntry>, OutboxError> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = sqlx::query("SELECT id, payload FROM usage_outbox ORDER BY id LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        let mut entries = Vec::with_capacity(rows.len());
        let mut corrupt = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("id").map_err(err)?;
            let payload: String = row.try_get("payload").map_err(err)?;
            match UsageRecord::from_json(&payload) {
                Ok(record) => entries.push(OutboxEntry {
                    id: id.to_string(),
                    record,
                }),
                Err(e) => {
                    tracing::error!(outbox_id = id, error = %e, "usage.outbox_entry_undecodable");
                    corrupt.push((Some(id), payload, format!("undecodable: {e}")));
                }
            }
        }
        self.move_rows(&corrupt).await?;
        Ok(entries)
    }

    async fn remove(&self, ids: &[String]) -> Result<(), OutboxError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(err)?;
        for id in ids {
            let id: i64 = id
                .parse()
                .map_err(|_| OutboxError(format!("bad outbox id {id:?}")))?;
            sqlx::query("DELETE FROM usage_outbox WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn move_aside(&self, rejected: &[(OutboxEntry, String)]) -> Result<(), OutboxError> {
        let rows = rejected
            .iter()
            .map(|(e, reason)| {
                let id =
                    e.id.parse::<i64>()
                        .map_err(|_| OutboxError(format!("bad outbox id {:?}", e.id)))?;
                Ok((Some(id), e.record.to_json(), reason.clone()))
            })
            .collect::<Result<Vec<_>, OutboxError>>()?;
        self.move_rows(&rows).await
    }

    async fn append_rejected(&self, rejected: &[(UsageRecord, String)]) -> Result<(), OutboxError> {
        let rows: Vec<_> = rejected
            .iter()
            .map(|(r, reason)| (None, r.to_json(), reason.clone()))
            .collect();
        self.move_rows(&rows).await
    }

    async fn depth(&self) -> Result<u64, OutboxError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_outbox")
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn rejected_count(&self) -> Result<u64, OutboxError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_outbox_rejected")
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
