//! Money as integer micro-USD. Never floating point: sums must be exact.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An amount in micro-USD (1 USD = 1,000,000). Signed so differences are natural;
/// costs and budgets are never negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub i64);

impl Micros {
    pub const ZERO: Micros = Micros(0);
    pub const PER_USD: i64 = 1_000_000;

    /// Whole USD (as in `AI_MONTHLY_BUDGET_USD=300`), saturating.
    pub fn from_usd(usd: i64) -> Micros {
        Micros(usd.saturating_mul(Self::PER_USD))
    }

    /// Parses a decimal USD string ("300", "12.5", "0.000001") exactly.
    pub fn parse_usd(s: &str) -> Result<Micros, String> {
        let s = s.trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err("empty amount".into());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{s:?} is not a non-negative decimal amount"));
        }
        if frac.len() > 6 {
            return Err(format!("{s:?} has more than 6 decimal places (micro-USD)"));
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| format!("{s:?} is too large"))?
        };
        let frac_micros: i64 = format!("{frac:0<6}").parse().map_err(|_| "bad fraction")?;
        whole
            .checked_mul(Self::PER_USD)
            .and_then(|w| w.checked_add(frac_micros))
            .map(Micros)
            .ok_or_else(|| format!("{s:?} is too large"))
    }

    pub fn saturating_add(self, o: Micros) -> Micros {
        Micros(self.0.saturating_add(o.0))
    }
}

impl Add for Micros {
    type Output = Micros;
    fn add(self, o: Micros) -> Micros {
        Micros(self.0.saturating_add(o.0))
    }
}

impl AddAssign for Micros {
    fn add_assign(&mut self, o: Micros) {
        self.0 = self.0.saturating_add(o.0);
    }
}

impl Sub for Micros {
    type Output = Micros;
    fn sub(self, o: Micros) -> Micros {
        Micros(self.0.saturating_sub(o.0))
    }
}

/// Renders as USD with six decimals, e.g. `12.500000`.
impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_usd_exactly() {
        assert_eq!(Micros::parse_usd("300").unwrap(), Micros(300_000_000));
        assert_eq!(Micros::parse_usd("12.5").unwrap(), Micros(12_500_000));
        assert_eq!(Micros::parse_usd("0.000001").unwrap(), Micros(1));
        assert_eq!(Micros::parse_usd(".5").unwrap(), Micros(500_000));
        assert!(Micros::parse_usd("1.0000001").is_err());
        assert!(Micros::parse_usd("-1").is_err());
        assert!(Micros::parse_usd("abc").is_err());
        assert!(Micros::parse_usd("").is_err());
    }

    #[test]
    fn displays_as_usd() {
        assert_eq!(Micros(12_500_000).to_string(), "12.500000");
        assert_eq!(Micros(-1).to_string(), "-0.000001");
    }
}
