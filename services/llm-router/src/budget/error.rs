//! The budget breaker's errors and the view GetBudget shows.

use super::config::BudgetState;
use super::period::Period;
use crate::money::Micros;
use chrono::{DateTime, Utc};
use service_kit::{ErrorCode, ServiceError};

/// Why a call was refused by the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The period is OPEN (utilisation at or above the block threshold).
    Blocked,
    /// The call's worst case does not fit in what is left.
    WouldExceed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("{}", exceeded_message(.reason, *.spent, *.reserved, *.limit, *.requested))]
    Exceeded {
        reason: RefusalReason,
        state: BudgetState,
        spent: Micros,
        reserved: Micros,
        limit: Micros,
        requested: Micros,
    },
    /// The budget cannot be checked (store down or slow, state being
    /// rebuilt): the call is refused, fail closed.
    #[error("budget check unavailable: {0}")]
    Unavailable(String),
    #[error("call id {0:?} was already used for another call")]
    DuplicateRequest(String),
    #[error("{0}")]
    Invalid(String),
}

fn exceeded_message(
    reason: &RefusalReason,
    spent: Micros,
    reserved: Micros,
    limit: Micros,
    requested: Micros,
) -> String {
    match reason {
        RefusalReason::Blocked => format!(
            "monthly LLM budget exhausted: {spent} of {limit} USD spent; new calls are blocked until the month rolls over or an admin resets the budget"
        ),
        RefusalReason::WouldExceed => format!(
            "this call's worst-case cost of {requested} USD does not fit in the monthly LLM budget ({spent} USD spent and {reserved} USD held by calls in flight, of {limit} USD)"
        ),
    }
}

impl BudgetError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Exceeded { .. } => ErrorCode::BudgetExceeded,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::DuplicateRequest(_) => ErrorCode::Conflict,
            Self::Invalid(_) => ErrorCode::InvalidArgument,
        }
    }

    /// The `llm_budget_rejections_total{reason}` label.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Self::Exceeded {
                reason: RefusalReason::Blocked,
                ..
            } => "blocked",
            Self::Exceeded {
                reason: RefusalReason::WouldExceed,
                ..
            } => "would_exceed",
            Self::Unavailable(_) => "unavailable",
            Self::DuplicateRequest(_) => "duplicate",
            Self::Invalid(_) => "invalid",
        }
    }
}

impl From<BudgetError> for ServiceError {
    fn from(e: BudgetError) -> Self {
        ServiceError::new(e.code(), e.to_string())
    }
}

/// The budget as GetBudget shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStatus {
    pub limit: Micros,
    pub spent: Micros,
    pub reserved: Micros,
    pub reservations: u64,
    pub utilisation_bp: u32,
    pub state: BudgetState,
    pub period: Period,
    /// When the month rolls over.
    pub next_reset: DateTime<Utc>,
    /// The period start or the latest admin reset.
    pub window_start: DateTime<Utc>,
    pub alert_bp: u32,
    pub block_bp: u32,
    pub downgrade_enabled: bool,
    /// `"redis"` or `"memory"`.
    pub store: &'static str,
}

impl BudgetStatus {
    /// A compact JSON rendering for audit log lines.
    pub fn audit_json(&self) -> String {
        serde_json::json!({
            "spent_micro_usd": self.spent.0,
            "reserved_micro_usd": self.reserved.0,
            "limit_micro_usd": self.limit.0,
            "state": self.state.as_str(),
            "window_start": self.window_start.to_rfc3339(),
        })
        .to_string()
    }
}
