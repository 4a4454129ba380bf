//! The budget breaker's configuration and its integer threshold arithmetic.

use crate::money::Micros;
use chrono::{FixedOffset, Offset};
use service_kit::{ConfigError, Env};
use std::time::Duration;

/// Largest budget accepted: the Lua scripts do arithmetic in doubles, exact
/// for integers below 2^53 micro-USD (~9 billion USD); we stay well below.
pub const MAX_LIMIT: Micros = Micros(1_000_000_000_000_000); // 1 billion USD

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetConfig {
    /// The monthly budget (`AI_MONTHLY_BUDGET_USD`, decimal USD, default 300).
    pub limit: Micros,
    /// HALF_OPEN from this utilisation (`BUDGET_ALERT_THRESHOLD_PCT`, default 80).
    pub alert_bp: u32,
    /// OPEN from this utilisation (`BUDGET_BLOCK_THRESHOLD_PCT`, default 95).
    pub block_bp: u32,
    /// HALF_OPEN serves `sota` on `cost_effective` (`BUDGET_DOWNGRADE_SOTA`, default false).
    pub downgrade_sota: bool,
    /// Months start at local midnight of this UTC offset (`BUDGET_TZ_OFFSET_MINUTES`, 0).
    pub tz_offset_minutes: i32,
    /// How long an unsettled reservation holds budget (`BUDGET_RESERVATION_TTL_MS`, 10 min):
    /// a router that dies mid-call frees its reservation after this.
    pub reservation_ttl: Duration,
    /// Bound on each store command (`REDIS_COMMAND_TIMEOUT_MS`, 250 ms): the
    /// budget check fails closed within twice this (a first use also loads
    /// the script).
    pub store_timeout: Duration,
    /// Bound on reading the month's spend from the ledger (`BUDGET_REBUILD_TIMEOUT_MS`, 5 s).
    pub rebuild_timeout: Duration,
    /// A lost state may only be rebuilt from the usage ledger
    /// (`BUDGET_REQUIRE_LEDGER`; default true with `REDIS_URL`, false without).
    /// When false and the ledger cannot be read, a call that needs the state
    /// starts the month from zero (logged as `budget.rebuild_skipped`): the
    /// single-replica development mode, where usage-accounting may not run.
    pub require_ledger: bool,
    /// Budget a replica pre-reserves in one store call and admits calls from
    /// locally (`BUDGET_SLICE_USD`; default 0.1% of the limit with `REDIS_URL`,
    /// zero — one store reservation per call — without). See `budget::slices`.
    pub slice: Micros,
    /// How long a slice admits calls before its unused rest is returned
    /// (`BUDGET_SLICE_WINDOW_MS`, 1 s; at most a tenth of the reservation TTL,
    /// so a call admitted late in a slice's window is still covered for 90% of it).
    pub slice_window: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            limit: Micros::from_usd(300),
            alert_bp: 8_000,
            block_bp: 9_500,
            downgrade_sota: false,
            tz_offset_minutes: 0,
            reservation_ttl: Duration::from_secs(600),
            store_timeout: Duration::from_millis(250),
            rebuild_timeout: Duration::from_secs(5),
            require_ledger: true,
            slice: Micros::ZERO,
            slice_window: Duration::from_secs(1),
        }
    }
}

impl BudgetConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let limit = match env.get("AI_MONTHLY_BUDGET_USD") {
            None => d.limit,
            Some(raw) => {
                Micros::parse_usd(raw).map_err(|e| ConfigError::new("AI_MONTHLY_BUDGET_USD", e))?
            }
        };
        if limit > MAX_LIMIT {
            return Err(ConfigError::new(
                "AI_MONTHLY_BUDGET_USD",
                "at most 1000000000 (one billion USD)",
            ));
        }
        let alert_bp = percent_bp(env, "BUDGET_ALERT_THRESHOLD_PCT", d.alert_bp)?;
        let block_bp = percent_bp(env, "BUDGET_BLOCK_THRESHOLD_PCT", d.block_bp)?;
        if alert_bp > block_bp {
            return Err(ConfigError::new(
                "BUDGET_ALERT_THRESHOLD_PCT",
                "must not exceed BUDGET_BLOCK_THRESHOLD_PCT",
            ));
        }
        let tz_offset_minutes: i32 = env.parse_or("BUDGET_TZ_OFFSET_MINUTES", 0)?;
        if tz_offset_minutes.abs() > 18 * 60 {
            return Err(ConfigError::new(
                "BUDGET_TZ_OFFSET_MINUTES",
                "must be within -1080..=1080",
            ));
        }
        let reservation_ttl = env.millis_or("BUDGET_RESERVATION_TTL_MS", d.reservation_ttl)?;
        if reservation_ttl < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "BUDGET_RESERVATION_TTL_MS",
                "at least 1000",
            ));
        }
        let store_timeout = env.millis_or("REDIS_COMMAND_TIMEOUT_MS", d.store_timeout)?;
        if store_timeout.is_zero() {
            return Err(ConfigError::new("REDIS_COMMAND_TIMEOUT_MS", "at least 1"));
        }
        let redis = env.get("REDIS_URL").is_some();
        let slice = match env.get("BUDGET_SLICE_USD") {
            Some(raw) => {
                Micros::parse_usd(raw).map_err(|e| ConfigError::new("BUDGET_SLICE_USD", e))?
            }
            None if redis => Micros(limit.0 / 1_000),
            None => Micros::ZERO,
        };
        if slice.0 > limit.0 / 20 {
            return Err(ConfigError::new(
                "BUDGET_SLICE_USD",
                "at most 5% of AI_MONTHLY_BUDGET_USD (each replica may hold one slice)",
            ));
        }
        // Defaults to 1 s, or a tenth of a shorter reservation TTL.
        let slice_window = env.millis_or(
            "BUDGET_SLICE_WINDOW_MS",
            d.slice_window.min(reservation_ttl / 10),
        )?;
        if slice_window < Duration::from_millis(10) || slice_window > reservation_ttl / 10 {
            return Err(ConfigError::new(
                "BUDGET_SLICE_WINDOW_MS",
                "between 10 and a tenth of BUDGET_RESERVATION_TTL_MS",
            ));
        }
        Ok(Self {
            limit,
            alert_bp,
            block_bp,
            downgrade_sota: env.bool_or("BUDGET_DOWNGRADE_SOTA", d.downgrade_sota)?,
            tz_offset_minutes,
            reservation_ttl,
            store_timeout,
            rebuild_timeout: env.millis_or("BUDGET_REBUILD_TIMEOUT_MS", d.rebuild_timeout)?,
            require_ledger: env.bool_or("BUDGET_REQUIRE_LEDGER", redis)?,
            slice,
            slice_window,
        })
    }

    /// The offset months start in (validated to ±18 h, so never out of range).
    pub fn offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.tz_offset_minutes.saturating_mul(60))
            .unwrap_or_else(|| chrono::Utc.fix())
    }

    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            limit: self.limit,
            alert_bp: self.alert_bp,
            block_bp: self.block_bp,
        }
    }
}

/// A percentage with up to two decimals ("80", "95.5") as basis points.
fn percent_bp(env: &Env, var: &str, default: u32) -> Result<u32, ConfigError> {
    let Some(raw) = env.get(var) else {
        return Ok(default);
    };
    // Micros::parse_usd parses a non-negative decimal exactly; reuse it.
    let micros = Micros::parse_usd(raw).map_err(|e| ConfigError::new(var, e))?;
    if micros.0 % 10_000 != 0 {
        return Err(ConfigError::new(var, "at most two decimal places"));
    }
    let bp = micros.0 / 10_000;
    if bp > 10_000 {
        return Err(ConfigError::new(var, "at most 100"));
    }
    u32::try_from(bp).map_err(|_| ConfigError::new(var, "out of range"))
}

/// Budget state by utilisation of settled spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetState {
    Closed,
    HalfOpen,
    Open,
}

impl BudgetState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "CLOSED",
            Self::HalfOpen => "HALF_OPEN",
            Self::Open => "OPEN",
        }
    }

    /// The `llm_budget_state` gauge value.
    pub fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

/// The limit and thresholds, with exact integer comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub limit: Micros,
    pub alert_bp: u32,
    pub block_bp: u32,
}

impl Thresholds {
    /// OPEN when `spent / limit ≥ block`, HALF_OPEN when `≥ alert`, else CLOSED;
    /// compared as `spent × 10000 ≥ limit × bp` in 128-bit integers.
    pub fn state_of(&self, spent: Micros) -> BudgetState {
        let scaled = i128::from(spent.0) * 10_000;
        let limit = i128::from(self.limit.0);
        if scaled >= limit * i128::from(self.block_bp) {
            BudgetState::Open
        } else if scaled >= limit * i128::from(self.alert_bp) {
            BudgetState::HalfOpen
        } else {
            BudgetState::Closed
        }
    }

    /// The smallest spend that is OPEN: `ceil(limit × block / 10000)`, so the
    /// store compares `spent ≥ block_at` with no multiplication.
    pub fn block_at(&self) -> Micros {
        let product = i128::from(self.limit.0) * i128::from(self.block_bp);
        let ceil = (product + 9_999) / 10_000;
        Micros(i64::try_from(ceil).unwrap_or(i64::MAX))
    }

    /// `spent / limit` in basis points, rounded down (10000 = 100%).
    pub fn utilisation_bp(&self, spent: Micros) -> u32 {
        if self.limit.0 <= 0 {
            return if spent.0 > 0 { u32::MAX } else { 10_000 };
        }
        let bp = i128::from(spent.0.max(0)) * 10_000 / i128::from(self.limit.0);
        u32::try_from(bp).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_boundaries() {
        let t = Thresholds {
            limit: Micros(1_000_001),
            alert_bp: 8_000,
            block_bp: 9_500,
        };
        // 80% of 1_000_001 is 800_000.8: 800_000 is below, 800_001 is at/above.
        assert_eq!(t.state_of(Micros(800_000)), BudgetState::Closed);
        assert_eq!(t.state_of(Micros(800_001)), BudgetState::HalfOpen);
        // 95% is 950_000.95.
        assert_eq!(t.state_of(Micros(950_000)), BudgetState::HalfOpen);
        assert_eq!(t.state_of(Micros(950_001)), BudgetState::Open);
        assert_eq!(t.block_at(), Micros(950_001));
    }

    #[test]
    fn block_at_agrees_with_state_of() {
        for limit in [0i64, 1, 7, 100, 999_999, 300_000_000, MAX_LIMIT.0] {
            for bp in [0u32, 1, 8_000, 9_500, 9_999, 10_000] {
                let t = Thresholds {
                    limit: Micros(limit),
                    alert_bp: 0,
                    block_bp: bp,
                };
                let b = t.block_at();
                assert_eq!(t.state_of(b), BudgetState::Open, "limit {limit} bp {bp}");
                if b.0 > 0 {
                    assert_ne!(t.state_of(Micros(b.0 - 1)), BudgetState::Open);
                }
            }
        }
    }

    #[test]
    fn parses_env() {
        let env = Env::from_pairs([
            ("AI_MONTHLY_BUDGET_USD", "12.5"),
            ("BUDGET_ALERT_THRESHOLD_PCT", "75.25"),
            ("BUDGET_BLOCK_THRESHOLD_PCT", "90"),
            ("BUDGET_DOWNGRADE_SOTA", "true"),
        ]);
        let c = BudgetConfig::from_env(&env).unwrap();
        assert_eq!(c.limit, Micros(12_500_000));
        assert_eq!((c.alert_bp, c.block_bp), (7_525, 9_000));
        assert!(c.downgrade_sota);
        assert!(!c.require_ledger, "no REDIS_URL: the development mode");
        let shared = Env::from_pairs([("REDIS_URL", "redis://127.0.0.1:6379")]);
        assert!(BudgetConfig::from_env(&shared).unwrap().require_ledger);
        let bad = Env::from_pairs([("BUDGET_ALERT_THRESHOLD_PCT", "96")]);
        assert!(BudgetConfig::from_env(&bad).is_err());
        let bad = Env::from_pairs([("AI_MONTHLY_BUDGET_USD", "1e3")]);
        assert!(BudgetConfig::from_env(&bad).is_err());
    }

    #[test]
    fn slices_default_to_a_thousandth_of_the_limit_with_redis_only() {
        let one_replica = Env::from_pairs([("AI_MONTHLY_BUDGET_USD", "300")]);
        assert_eq!(
            BudgetConfig::from_env(&one_replica).unwrap().slice,
            Micros::ZERO
        );
        let shared = Env::from_pairs([
            ("AI_MONTHLY_BUDGET_USD", "300"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
        ]);
        let c = BudgetConfig::from_env(&shared).unwrap();
        assert_eq!(
            (c.slice, c.slice_window),
            (Micros(300_000), Duration::from_secs(1))
        );
        let short_ttl = Env::from_pairs([("BUDGET_RESERVATION_TTL_MS", "1500")]);
        let c = BudgetConfig::from_env(&short_ttl).unwrap();
        assert_eq!(c.slice_window, Duration::from_millis(150));
        let off = Env::from_pairs([("REDIS_URL", "redis://x"), ("BUDGET_SLICE_USD", "0")]);
        assert_eq!(BudgetConfig::from_env(&off).unwrap().slice, Micros::ZERO);
        for (var, value) in [
            ("BUDGET_SLICE_USD", "15.01"), // more than 5% of the default 300
            ("BUDGET_SLICE_USD", "-1"),
            ("BUDGET_SLICE_WINDOW_MS", "5"),
            ("BUDGET_SLICE_WINDOW_MS", "60001"), // more than a tenth of the 10 min TTL
        ] {
            let bad = Env::from_pairs([(var, value)]);
            assert!(BudgetConfig::from_env(&bad).is_err(), "{var}={value}");
        }
    }
}
