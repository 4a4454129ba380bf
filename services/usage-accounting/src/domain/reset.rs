//! Admin budget resets: from `reset_at` on, the period's spend starts again
//! from zero (records before it stay in the ledger, they just stop counting).

use super::ValidationError;
use super::record::{free_text, required_text};
use super::time::{ceil_micros, from_parts};
use chrono::{DateTime, Utc};

/// A reset as it arrived.
#[derive(Debug, Clone, Default)]
pub struct ResetDraft {
    pub reset_id: String,
    /// Seconds and nanos since the Unix epoch.
    pub reset_at: Option<(i64, i32)>,
    pub actor: String,
    pub reason: String,
}

/// A validated reset. Its id is the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetReset {
    pub reset_id: String,
    /// Rounded up to the microsecond: a record counts if `created_at >= reset_at`.
    pub reset_at: DateTime<Utc>,
    /// Who reset it (audits need a name).
    pub actor: String,
    pub reason: String,
}

impl ResetDraft {
    pub fn validate(&self) -> Result<BudgetReset, ValidationError> {
        let (seconds, nanos) = self
            .reset_at
            .ok_or_else(|| ValidationError::new("reset_at", "required"))?;
        Ok(BudgetReset {
            reset_id: required_text("reset_id", &self.reset_id)?.to_owned(),
            reset_at: ceil_micros(from_parts("reset_at", seconds, nanos)?),
            actor: required_text("actor", &self.actor)?.to_owned(),
            reason: free_text("reason", &self.reason)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_may_span_lines_but_holds_no_other_control_characters() {
        let draft = |reason: &str| ResetDraft {
            reset_id: "r1".into(),
            reset_at: Some((1_740_000_000, 0)),
            actor: "admin".into(),
            reason: reason.into(),
        };
        assert!(draft("incident 42:\n\tfalse alarm\r\n").validate().is_ok());
        for bad in ["nul\0", "bell\u{7}", "esc\u{1b}[31m"] {
            assert_eq!(
                draft(bad).validate().unwrap_err().field,
                "reason",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn resets_need_an_id_a_time_and_an_actor() {
        let ok = ResetDraft {
            reset_id: "r1".into(),
            reset_at: Some((1_740_000_000, 1)),
            actor: "admin@example.com".into(),
            reason: String::new(),
        };
        let reset = ok.validate().unwrap();
        assert_eq!(reset.reset_at.timestamp_subsec_micros(), 1);
        for (field, draft) in [
            (
                "reset_id",
                ResetDraft {
                    reset_id: String::new(),
                    ..ok.clone()
                },
            ),
            (
                "reset_at",
                ResetDraft {
                    reset_at: None,
                    ..ok.clone()
                },
            ),
            (
                "actor",
                ResetDraft {
                    actor: " ".into(),
                    ..ok.clone()
                },
            ),
        ] {
            assert_eq!(draft.validate().unwrap_err().field, field);
        }
    }
}
