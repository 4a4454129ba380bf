//! The in-process budget store (no `REDIS_URL`): the same semantics as the
//! Redis scripts under one mutex. Only correct for a single router replica:
//! two processes would each allow the whole budget.

use super::{
    BudgetStore, ReserveOutcome, ReserveRequest, SettleOutcome, SettleRequest, StoreError,
    StoreSnapshot, StoreTtls, new_epoch,
};
use crate::budget::period::Period;
use crate::money::Micros;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};

#[derive(Debug)]
struct PeriodState {
    spent: i64,
    reserved: i64,
    window_start: DateTime<Utc>,
    epoch: String,
    /// call id → (amount, expires at)
    reservations: HashMap<String, (i64, DateTime<Utc>)>,
    /// Expiry order of reservations (entries may be stale; checked on pop).
    expiry_queue: VecDeque<(DateTime<Utc>, String)>,
    settled: HashSet<String>,
    settled_queue: VecDeque<(DateTime<Utc>, String)>,
}

impl PeriodState {
    fn new(spent: i64, window_start: DateTime<Utc>) -> Self {
        Self {
            spent,
            reserved: 0,
            window_start,
            epoch: new_epoch(),
            reservations: HashMap::new(),
            expiry_queue: VecDeque::new(),
            settled: HashSet::new(),
            settled_queue: VecDeque::new(),
        }
    }

    fn sweep(&mut self, now: DateTime<Utc>) {
        while let Some((at, _)) = self.expiry_queue.front() {
            if *at > now {
                break;
            }
            if let Some((at, id)) = self.expiry_queue.pop_front()
                && let Some((amount, expires)) = self.reservations.get(&id).copied()
                && expires == at
            {
                self.reservations.remove(&id);
                self.reserved -= amount;
            }
        }
        while let Some((at, _)) = self.settled_queue.front() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.settled_queue.pop_front() {
                self.settled.remove(&id);
            }
        }
    }

    /// Frees `id`'s reservation; whether it held one.
    fn release(&mut self, id: &str) -> bool {
        let held = self.reservations.remove(id);
        if let Some((amount, _)) = held {
            self.reserved -= amount;
        }
        held.is_some()
    }

    /// Frees `part` of a slice (all of it when less is left); whether it is held.
    fn release_part(&mut self, slice: &str, part: i64) -> bool {
        let Some((held, _)) = self.reservations.get_mut(slice) else {
            return false;
        };
        if *held <= part {
            return self.release(slice);
        }
        *held -= part;
        self.reserved -= part;
        true
    }

    fn snapshot(&self) -> StoreSnapshot {
        StoreSnapshot {
            spent: Micros(self.spent),
            reserved: Micros(self.reserved),
            reservations: self.reservations.len() as u64,
            window_start: self.window_start,
            epoch: self.epoch.clone(),
        }
    }
}

pub struct MemoryBudgetStore {
    ttls: StoreTtls,
    periods: Mutex<HashMap<String, PeriodState>>,
}

impl MemoryBudgetStore {
    pub fn new(ttls: StoreTtls) -> Self {
        tracing::warn!(
            detail =
                "no REDIS_URL: the budget lives in this process; run a single router replica only",
            "budget.memory_store"
        );
        Self {
            ttls,
            periods: Mutex::new(HashMap::new()),
        }
    }

    fn after(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[async_trait::async_trait]
impl BudgetStore for MemoryBudgetStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn reserve(&self, req: &ReserveRequest<'_>) -> Result<ReserveOutcome, StoreError> {
        let mut periods = self.periods.lock();
        let Some(p) = periods.get_mut(&req.period.key) else {
            return Ok(ReserveOutcome::NeedsRebuild);
        };
        p.sweep(req.now);
        let (spent, reserved) = (Micros(p.spent), Micros(p.reserved));
        if p.settled.contains(req.call_id) {
            return Ok(ReserveOutcome::AlreadySettled { spent, reserved });
        }
        if p.reservations.contains_key(req.call_id) {
            return Ok(ReserveOutcome::AlreadyReserved { spent, reserved });
        }
        if spent >= req.block_at {
            return Ok(ReserveOutcome::Blocked { spent, reserved });
        }
        if i128::from(p.spent) + i128::from(p.reserved) + i128::from(req.amount.0)
            > i128::from(req.limit.0)
        {
            return Ok(ReserveOutcome::WouldExceed { spent, reserved });
        }
        let expires = Self::after(req.now, self.ttls.reservation);
        p.reservations
            .insert(req.call_id.to_owned(), (req.amount.0, expires));
        p.expiry_queue.push_back((expires, req.call_id.to_owned()));
        p.reserved += req.amount.0;
        Ok(ReserveOutcome::Admitted {
            spent,
            reserved: Micros(p.reserved),
            epoch: p.epoch.clone(),
        })
    }

    async fn settle(&self, req: &SettleRequest<'_>) -> Result<SettleOutcome, StoreError> {
        let mut periods = self.periods.lock();
        let Some(p) = periods.get_mut(&req.period.key) else {
            return Ok(SettleOutcome::NeedsRebuild);
        };
        p.sweep(req.now);
        let had = match req.slice {
            Some(part) => p.release_part(part.id, part.amount.0),
            None => p.release(req.call_id),
        };
        let (spent, reserved) = (Micros(p.spent), Micros(p.reserved));
        if req.release_only {
            return Ok(SettleOutcome::Settled {
                spent,
                reserved,
                had_reservation: had,
            });
        }
        let duplicate = p.settled.contains(req.call_id);
        if duplicate && req.slice.is_none() && !had {
            return Ok(SettleOutcome::AlreadySettled { spent, reserved });
        }
        if !duplicate {
            p.settled.insert(req.call_id.to_owned());
            p.settled_queue.push_back((
                Self::after(req.now, self.ttls.tombstone),
                req.call_id.to_owned(),
            ));
        }
        if req.epoch.is_some_and(|e| e != p.epoch) {
            return Ok(SettleOutcome::Stale);
        }
        p.spent = p.spent.saturating_add(req.actual.0);
        let (spent, reserved) = (Micros(p.spent), Micros(p.reserved));
        Ok(if duplicate {
            SettleOutcome::Duplicate { spent, reserved }
        } else {
            SettleOutcome::Settled {
                spent,
                reserved,
                had_reservation: had,
            }
        })
    }

    async fn snapshot(
        &self,
        period: &Period,
        now: DateTime<Utc>,
    ) -> Result<Option<StoreSnapshot>, StoreError> {
        let mut periods = self.periods.lock();
        Ok(periods.get_mut(&period.key).map(|p| {
            p.sweep(now);
            p.snapshot()
        }))
    }

    async fn initialize(
        &self,
        period: &Period,
        spent: Micros,
        window_start: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut periods = self.periods.lock();
        if periods.contains_key(&period.key) {
            return Ok(false);
        }
        periods.insert(period.key.clone(), PeriodState::new(spent.0, window_start));
        Ok(true)
    }

    async fn reset(
        &self,
        period: &Period,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<StoreSnapshot, StoreError> {
        let mut periods = self.periods.lock();
        let p = periods
            .entry(period.key.clone())
            .or_insert_with(|| PeriodState::new(0, window_start));
        p.sweep(now);
        p.spent = 0;
        p.window_start = window_start;
        Ok(p.snapshot())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
