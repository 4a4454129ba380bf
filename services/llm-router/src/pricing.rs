//! The versioned price table: USD per 1M input / output tokens per
//! provider/model, turned into an exact cost in integer micro-USD.

use llm_providers::TokenUsage;
use std::collections::HashMap;
use std::sync::Arc;

use crate::money::Micros;

/// Prices of one model, in micro-USD per 1M tokens (so "2.50" USD/1M is
/// 2_500_000): exact for every price quoted to the micro-dollar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    pub input_per_mtok: Micros,
    pub output_per_mtok: Micros,
}

/// The cost of one call and the price version it was computed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    pub micros: Micros,
    pub price_version: Arc<str>,
}

const TOKENS_PER_PRICE_UNIT: u128 = 1_000_000;

impl Price {
    /// `ceil((input × in_price + output × out_price) / 1M)` micro-USD: one
    /// rounding, upwards, so the budget never under-counts; saturates at
    /// `i64::MAX` rather than wrapping.
    pub fn cost(&self, usage: TokenUsage) -> Micros {
        let unit = |m: Micros| u128::try_from(m.0).unwrap_or(0);
        let total = u128::from(usage.input_tokens) * unit(self.input_per_mtok)
            + u128::from(usage.output_tokens) * unit(self.output_per_mtok);
        let micros = total.div_ceil(TOKENS_PER_PRICE_UNIT);
        Micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}

/// Why a model has no price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no price for {provider}/{model} in price table {version}")]
pub struct Unpriced {
    pub provider: String,
    pub model: String,
    pub version: String,
}

/// Prices by provider, then model. Lookups try the exact model, then the
/// longest priced prefix ending at a `-`, `:`, `@` or `.` boundary (so a
/// dated deployment like `gpt-4o-2024-11-20` takes `gpt-4o`'s price), then
/// the provider's `*` entry.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    version: Arc<str>,
    prices: HashMap<String, HashMap<String, Price>>,
}

impl PriceTable {
    pub fn new(version: &str) -> Self {
        PriceTable {
            version: Arc::from(version),
            prices: HashMap::new(),
        }
    }

    pub fn version(&self) -> &Arc<str> {
        &self.version
    }

    pub fn insert(&mut self, provider: &str, model: &str, price: Price) {
        self.prices
            .entry(provider.to_owned())
            .or_default()
            .insert(model.to_owned(), price);
    }

    pub fn price(&self, provider: &str, model: &str) -> Result<Price, Unpriced> {
        let unpriced = || Unpriced {
            provider: provider.to_owned(),
            model: model.to_owned(),
            version: self.version.to_string(),
        };
        let models = self.prices.get(provider).ok_or_else(unpriced)?;
        if let Some(p) = models.get(model) {
            return Ok(*p);
        }
        let boundary =
            |i: usize| matches!(model.as_bytes().get(i), Some(b'-' | b':' | b'@' | b'.'));
        let prefix = models
            .iter()
            .filter(|(m, _)| {
                m.as_str() != "*" && model.starts_with(m.as_str()) && boundary(m.len())
            })
            .max_by_key(|(m, _)| m.len())
            .map(|(_, p)| *p);
        prefix
            .or_else(|| models.get("*").copied())
            .ok_or_else(unpriced)
    }

    /// The cost of `usage` on `provider/model`.
    pub fn cost(&self, provider: &str, model: &str, usage: TokenUsage) -> Result<Cost, Unpriced> {
        Ok(Cost {
            micros: self.price(provider, model)?.cost(usage),
            price_version: Arc::clone(&self.version),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn price(input: &str, output: &str) -> Price {
        Price {
            input_per_mtok: Micros::parse_usd(input).unwrap(),
            output_per_mtok: Micros::parse_usd(output).unwrap(),
        }
    }

    #[test]
    fn costs_are_exact_and_round_up() {
        let p = price("2.50", "10.00");
        // 1000 × 2.5 + 500 × 10 = 7500 µUSD per 1M → 0.0075 USD
        assert_eq!(p.cost(TokenUsage::new(1000, 500)), Micros(7_500));
        // 1 token at $0.15/1M is 0.15 µUSD → 1 µUSD (rounded up)
        assert_eq!(price("0.15", "0").cost(TokenUsage::new(1, 0)), Micros(1));
        assert_eq!(p.cost(TokenUsage::default()), Micros(0));
    }

    #[test]
    fn lookups_fall_back_to_prefix_then_wildcard() {
        let mut t = PriceTable::new("2025-10");
        t.insert("azure", "gpt-4o", price("2.50", "10"));
        t.insert("azure", "gpt-4o-mini", price("0.15", "0.60"));
        t.insert("ollama", "*", price("0", "0"));
        assert_eq!(
            t.price("azure", "gpt-4o-2024-11-20").unwrap(),
            price("2.50", "10")
        );
        assert_eq!(
            t.price("azure", "gpt-4o-mini-2024-07-18").unwrap(),
            price("0.15", "0.60")
        );
        assert!(t.price("azure", "gpt-4omni").is_err());
        assert_eq!(t.price("ollama", "llama3.2").unwrap(), Price::default());
        let cost = t.cost("azure", "gpt-4o", TokenUsage::new(1, 1)).unwrap();
        assert_eq!(&*cost.price_version, "2025-10");
    }

    proptest! {
        #[test]
        fn cost_is_the_ceiling_of_the_exact_value(
            input in 0u64..10_000_000_000, output in 0u64..10_000_000_000,
            pin in 0i64..1_000_000_000, pout in 0i64..1_000_000_000,
        ) {
            let p = Price { input_per_mtok: Micros(pin), output_per_mtok: Micros(pout) };
            let cost = p.cost(TokenUsage::new(input, output)).0 as u128;
            let exact_numer = input as u128 * pin as u128 + output as u128 * pout as u128;
            // cost - 1 < exact <= cost, in units of 1/1M micro-USD
            prop_assert!(cost * 1_000_000 >= exact_numer);
            prop_assert!(cost == 0 || (cost - 1) * 1_000_000 < exact_numer);
        }

        #[test]
        fn cost_is_monotonic_and_subadditive_within_a_micro(
            a in 0u64..1_000_000_000, b in 0u64..1_000_000_000, pin in 0i64..100_000_000,
        ) {
            let p = Price { input_per_mtok: Micros(pin), output_per_mtok: Micros(pin) };
            let ca = p.cost(TokenUsage::new(a, 0)).0;
            let cb = p.cost(TokenUsage::new(b, 0)).0;
            let cab = p.cost(TokenUsage::new(a + b, 0)).0;
            prop_assert!(cab >= ca.max(cb));
            prop_assert!(cab <= ca + cb && cab + 1 >= ca + cb);
        }

        #[test]
        fn huge_inputs_saturate_instead_of_wrapping(input in any::<u64>(), output in any::<u64>()) {
            let p = Price { input_per_mtok: Micros(i64::MAX), output_per_mtok: Micros(i64::MAX) };
            prop_assert!(p.cost(TokenUsage::new(input, output)).0 >= 0);
        }
    }
}
