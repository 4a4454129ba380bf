//! The outbox as a Redis Stream `{<prefix>usage_outbox}` (rejected entries in
//! `{<prefix>usage_outbox}:rejected`). Shared by every replica: whichever is
//! up drains it, so a replica that dies leaves nothing stranded. Durable as
//! far as Redis is: the production config keeps AOF on (see docs).

use super::{Outbox, OutboxEntry, OutboxError};
use crate::delivery::record::UsageRecord;
use crate::redis::{LuaScript, describe};
use fred::prelude::{Client, StreamsInterface, Value};
use std::time::Duration;

static APPEND: LuaScript = LuaScript::new(include_str!("lua/outbox_append.lua"));
static MOVE_ASIDE: LuaScript = LuaScript::new(include_str!("lua/outbox_move_aside.lua"));

pub struct RedisStreamOutbox {
    client: Client,
    stream: String,
    rejected: String,
    timeout: Duration,
}

impl RedisStreamOutbox {
    pub fn new(client: Client, prefix: &str, timeout: Duration) -> Self {
        let stream = format!("{{{prefix}usage_outbox}}");
        Self {
            rejected: format!("{stream}:rejected"),
            stream,
            client,
            timeout,
        }
    }

    fn err(&self, e: &fred::prelude::Error) -> OutboxError {
        OutboxError(describe(e, self.timeout))
    }

    async fn move_raw(&self, triples: Vec<String>) -> Result<(), OutboxError> {
        if triples.is_empty() {
            return Ok(());
        }
        MOVE_ASIDE
            .run(
                &self.client,
                vec![self.stream.clone(), self.rejected.clone()],
                triples,
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err(&e))
    }
}

/// `[id, [field, value, …]]` (or a map) → (id, the `record` field).
fn parse_entry(entry: Value) -> Option<(String, Option<String>)> {
    let mut parts = entry.into_array().into_iter();
    let id = parts.next()?.as_string()?;
    let record = match parts.next()? {
        Value::Array(fields) => fields
            .chunks(2)
            .find(|kv| kv.first().and_then(Value::as_string).as_deref() == Some("record"))
            .and_then(|kv| kv.get(1).and_then(Value::as_string)),
        Value::Map(map) => map
            .inner()
            .into_iter()
            .find(|(k, _)| k.as_str() == Some("record"))
            .and_then(|(_, v)| v.as_string()),
        _ => None,
    };
    Some((id, record))
}

#[async_trait::async_trait]
impl Outbox for RedisStreamOutbox {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn append(&self, records: &[UsageRecord]) -> Result<(), OutboxError> {
        if records.is_empty() {
            return Ok(());
        }
        let payloads = records.iter().map(UsageRecord::to_json).collect();
        APPEND
            .run(&self.client, vec![self.stream.clone()], payloads)
            .await
            .map(|_| ())
            .map_err(|e| self.err(&e))
    }

    async fn peek(&self, max: usize) -> Result<Vec<OutboxEntry>, OutboxError> {
        let raw: Value = self
            .client
            .xrange(self.stream.clone(), "-", "+", Some(max as u64))
            .await
            .map_err(|e| self.err(&e))?;
        let mut entries = Vec::new();
        let mut corrupt = Vec::new();
        for item in raw.into_array() {
            let Some((id, payload)) = parse_entry(item) else {
                continue;
            };
            match payload.as_deref().map(UsageRecord::from_json) {
                Some(Ok(record)) => entries.push(OutboxEntry { id, record }),
                Some(Err(e)) => {
                    tracing::error!(outbox_id = %id, error = %e, "usage.outbox_entry_undecodable");
                    corrupt.extend([id, payload.unwrap_or_default(), format!("undecodable: {e}")]);
                }
                None => {
                    tracing::error!(outbox_id = %id, "usage.outbox_entry_undecodable");
                    corrupt.extend([id, String::new(), "no record field".into()]);
                }
            }
        }
        self.move_raw(corrupt).await?;
        Ok(entries)
    }

    async fn remove(&self, ids: &[String]) -> Result<(), OutboxError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.client
            .xdel::<Value, _, _>(self.stream.clone(), ids.to_vec())
            .await
            .map(|_| ())
            .map_err(|e| self.err(&e))
    }

    async fn move_aside(&self, rejected: &[(OutboxEntry, String)]) -> Result<(), OutboxError> {
        let triples = rejected
            .iter()
            .flat_map(|(e, reason)| [e.id.clone(), e.record.to_json(), reason.clone()])
            .collect();
        self.move_raw(triples).await
    }

    async fn append_rejected(&self, rejected: &[(UsageRecord, String)]) -> Result<(), OutboxError> {
        let triples = rejected
            .iter()
            .flat_map(|(r, reason)| [String::new(), r.to_json(), reason.clone()])
            .collect();
        self.move_raw(triples).await
    }

    async fn depth(&self) -> Result<u64, OutboxError> {
        self.client
            .xlen(self.stream.clone())
            .await
            .map_err(|e| self.err(&e))
    }

    async fn rejected_count(&self) -> Result<u64, OutboxError> {
        self.client
            .xlen(self.rejected.clone())
            .await
            .map_err(|e| self.err(&e))
    }
}
