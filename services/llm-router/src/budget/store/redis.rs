//! The budget in Redis, shared by every router replica: one Lua script per
//! operation, so a reserve is one round trip and atomic; settles queued
//! together share one script call (`redis_settle`), each still atomic.
//! All keys of a period share the hash tag `{<prefix>budget:<YYYY-MM>}`, so the
//! scripts run unchanged on Redis Cluster. Every command is bounded by the
//! client's command timeout (see `redis::connect`).

use super::redis_settle::{self, SettleJob};
use super::{
    BudgetStore, KEEP_AFTER_PERIOD, ReserveOutcome, ReserveRequest, SettleOutcome, SettleRequest,
    StoreError, StoreSnapshot, StoreTtls, from_millis, millis, new_epoch,
};
use crate::budget::period::Period;
use crate::money::Micros;
use crate::redis::{LuaScript, describe};
use chrono::{DateTime, Utc};
use fred::prelude::{Client, ClientLike, KeysInterface, Value};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

macro_rules! script {
    ($file:literal) => {
        LuaScript::new(concat!(
            include_str!("lua/common.lua"),
            "\n",
            include_str!(concat!("lua/", $file))
        ))
    };
}

static RESERVE: LuaScript = script!("reserve.lua");
pub(super) static SETTLE: LuaScript = script!("settle.lua");
static SNAPSHOT: LuaScript = script!("snapshot.lua");
static INITIALIZE: LuaScript = script!("initialize.lua");
static RESET: LuaScript = script!("reset.lua");

pub struct RedisBudgetStore {
    shared: Arc<Shared>,
    /// The settle batcher, started on the first settle (it needs a runtime).
    settles: OnceLock<mpsc::UnboundedSender<SettleJob>>,
    /// Where the batcher runs; it ends when the store is dropped.
    tasks: TaskTracker,
}

/// What the store and its settle batcher share.
pub(super) struct Shared {
    client: Client,
    prefix: String,
    pub(super) ttls: StoreTtls,
    timeout: Duration,
}

pub(super) struct Keys {
    pub(super) state: String,
    pub(super) resv: String,
    pub(super) resv_exp: String,
}

impl RedisBudgetStore {
    /// `client` from `redis::connect`; `timeout` is its command timeout
    /// (only used to word errors).
    pub fn new(
        client: Client,
        prefix: impl Into<String>,
        ttls: StoreTtls,
        timeout: Duration,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                prefix: prefix.into(),
                ttls,
                timeout,
            }),
            settles: OnceLock::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Runs the settle batcher in `tasks` (the process's, which shutdown
    /// waits for once the store is dropped).
    pub fn with_tasks(mut self, tasks: TaskTracker) -> Self {
        self.tasks = tasks;
        self
    }
}

impl Shared {
    fn tag(&self, period: &Period) -> String {
        format!("{{{}budget:{}}}", self.prefix, period.key)
    }

    pub(super) fn keys(&self, period: &Period) -> Keys {
        let tag = self.tag(period);
        Keys {
            state: format!("{tag}:state"),
            resv: format!("{tag}:resv"),
            resv_exp: format!("{tag}:resv_exp"),
        }
    }

    fn reclaim_key(&self, period: &Period) -> String {
        format!("{}:reclaim", self.tag(period))
    }

    pub(super) fn done_key(&self, period: &Period, call_id: &str) -> String {
        format!("{}:done:{call_id}", self.tag(period))
    }

    fn expire_at(period: &Period) -> String {
        millis(period.end + KEEP_AFTER_PERIOD).to_string()
    }

    pub(super) async fn run(
        &self,
        script: &LuaScript,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Vec<Value>, StoreError> {
        match script.run(&self.client, keys, args).await {
            Ok(Value::Array(items)) => Ok(items),
            Ok(Value::Integer(i)) => Ok(vec![Value::Integer(i)]),
            Ok(other) => Err(StoreError::Protocol(format!("{:?}", other.kind()))),
            Err(e) => Err(StoreError::Unavailable(describe(&e, self.timeout))),
        }
    }
}

pub(super) fn tag_of(items: &[Value]) -> Result<String, StoreError> {
    items
        .first()
        .and_then(Value::as_string)
        .ok_or_else(|| StoreError::Protocol("reply without a tag".into()))
}

pub(super) fn int_at(items: &[Value], i: usize) -> Result<i64, StoreError> {
    items
        .get(i)
        .and_then(Value::as_i64)
        .ok_or_else(|| StoreError::Protocol(format!("reply item {i} is not an integer")))
}

fn str_at(items: &[Value], i: usize) -> Result<String, StoreError> {
    items
        .get(i)
        .and_then(Value::as_string)
        .ok_or_else(|| StoreError::Protocol(format!("reply item {i} is not a string")))
}

pub(super) fn totals(items: &[Value]) -> Result<(Micros, Micros), StoreError> {
    Ok((Micros(int_at(items, 1)?), Micros(int_at(items, 2)?)))
}

fn snapshot_of(items: &[Value]) -> Result<Option<StoreSnapshot>, StoreError> {
    match tag_of(items)?.as_str() {
        "absent" => Ok(None),
        "present" => Ok(Some(StoreSnapshot {
            spent: Micros(int_at(items, 1)?),
            reserved: Micros(int_at(items, 2)?),
            reservations: u64::try_from(int_at(items, 3)?).unwrap_or(0),
            window_start: from_millis(int_at(items, 4)?),
            epoch: str_at(items, 5)?,
        })),
        other => Err(StoreError::Protocol(format!("snapshot tag {other:?}"))),
    }
}

pub(super) fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

#[async_trait::async_trait]
impl BudgetStore for RedisBudgetStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn reserve(&self, req: &ReserveRequest<'_>) -> Result<ReserveOutcome, StoreError> {
        let k = self.shared.keys(req.period);
        let now = millis(req.now);
        let expires = now.saturating_add(
            i64::try_from(self.shared.ttls.reservation.as_millis()).unwrap_or(i64::MAX),
        );
        let items = self
            .shared
            .run(
                &RESERVE,
                vec![
                    k.state,
                    k.resv,
                    k.resv_exp,
                    self.shared.done_key(req.period, req.call_id),
                ],
                vec![
                    req.call_id.to_owned(),
                    req.amount.0.to_string(),
                    req.limit.0.to_string(),
                    req.block_at.0.to_string(),
                    now.to_string(),
                    expires.to_string(),
                    Shared::expire_at(req.period),
                ],
            )
            .await?;
        Ok(match tag_of(&items)?.as_str() {
            "needs_rebuild" => ReserveOutcome::NeedsRebuild,
            "admitted" => {
                let (spent, reserved) = totals(&items)?;
                ReserveOutcome::Admitted {
                    spent,
                    reserved,
                    epoch: str_at(&items, 3)?,
                }
            }
            "already_settled" => {
                let (spent, reserved) = totals(&items)?;
                ReserveOutcome::AlreadySettled { spent, reserved }
            }
            "already_reserved" => {
                let (spent, reserved) = totals(&items)?;
                ReserveOutcome::AlreadyReserved { spent, reserved }
            }
            "blocked" => {
                let (spent, reserved) = totals(&items)?;
                ReserveOutcome::Blocked { spent, reserved }
            }
            "would_exceed" => {
                let (spent, reserved) = totals(&items)?;
                ReserveOutcome::WouldExceed { spent, reserved }
            }
            other => return Err(StoreError::Protocol(format!("reserve tag {other:?}"))),
        })
    }

    /// Coalesced with concurrent settles into one script call (see `redis_settle`).
    async fn settle(&self, req: &SettleRequest<'_>) -> Result<SettleOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = SettleJob {
            period: req.period.clone(),
            call_id: req.call_id.to_owned(),
            actual: req.actual,
            epoch: req.epoch.map(str::to_owned),
            release_only: req.release_only,
            slice: req.slice.map(|s| (s.id.to_owned(), s.amount)),
            now: req.now,
            reply,
        };
        let batcher = self
            .settles
            .get_or_init(|| redis_settle::spawn(Arc::clone(&self.shared), &self.tasks));
        let stopped = || StoreError::Unavailable("the settle batcher has stopped".into());
        batcher.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn snapshot(
        &self,
        period: &Period,
        now: DateTime<Utc>,
    ) -> Result<Option<StoreSnapshot>, StoreError> {
        let k = self.shared.keys(period);
        let items = self
            .shared
            .run(
                &SNAPSHOT,
                vec![k.state, k.resv, k.resv_exp],
                vec![millis(now).to_string()],
            )
            .await?;
        snapshot_of(&items)
    }

    async fn initialize(
        &self,
        period: &Period,
        spent: Micros,
        window_start: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let k = self.shared.keys(period);
        let items = self
            .shared
            .run(
                &INITIALIZE,
                vec![k.state, k.resv, k.resv_exp],
                vec![
                    spent.0.to_string(),
                    millis(window_start).to_string(),
                    new_epoch(),
                    Shared::expire_at(period),
                ],
            )
            .await?;
        Ok(int_at(&items, 0)? == 1)
    }

    async fn reset(
        &self,
        period: &Period,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<StoreSnapshot, StoreError> {
        let k = self.shared.keys(period);
        let items = self
            .shared
            .run(
                &RESET,
                vec![k.state, k.resv, k.resv_exp],
                vec![
                    millis(window_start).to_string(),
                    new_epoch(),
                    Shared::expire_at(period),
                    millis(now).to_string(),
                ],
            )
            .await?;
        snapshot_of(&items)?.ok_or_else(|| StoreError::Protocol("reset left no state".into()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.shared
            .client
            .ping::<Value>(None)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(describe(&e, self.shared.timeout)))
    }

    async fn request_reclaim(&self, period: &Period, hold: Duration) -> Result<(), StoreError> {
        let ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX).max(1);
        self.shared
            .client
            .set::<Value, _, _>(
                self.shared.reclaim_key(period),
                1,
                Some(fred::types::Expiration::PX(ms)),
                None,
                false,
            )
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(describe(&e, self.shared.timeout)))
    }

    async fn reclaim_requested(&self, period: &Period) -> Result<bool, StoreError> {
        self.shared
            .client
            .exists::<i64, _>(self.shared.reclaim_key(period))
            .await
            .map(|n| n > 0)
            .map_err(|e| StoreError::Unavailable(describe(&e, self.shared.timeout)))
    }
}
