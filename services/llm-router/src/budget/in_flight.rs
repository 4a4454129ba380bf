//! The duplicate-call guard: a call id already in flight on this replica
//! is refused. Needed only with slices (a call admitted from a slice never
//! reaches the store's reserve, which refuses a reused id otherwise).

use super::error::BudgetError;
use parking_lot::Mutex;
use std::collections::HashSet;

pub(super) struct InFlight {
    enabled: bool,
    ids: Mutex<HashSet<String>>,
}

impl InFlight {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            ids: Mutex::new(HashSet::new()),
        }
    }

    /// Refuses a call id already in flight here; remembers it otherwise.
    pub(super) fn claim(&self, call_id: &str) -> Result<(), BudgetError> {
        if !self.enabled || self.ids.lock().insert(call_id.to_owned()) {
            Ok(())
        } else {
            Err(BudgetError::DuplicateRequest(call_id.to_owned()))
        }
    }

    pub(super) fn release(&self, call_id: &str) {
        if self.enabled {
            self.ids.lock().remove(call_id);
        }
    }
}
