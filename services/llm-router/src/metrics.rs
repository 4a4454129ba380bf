//! llm-router's metric families and their HELP text (see `service_kit::metrics`).

use service_kit::metrics::{Family, Kind};

pub const FAMILIES: &[Family] = &[
    Family::new(
        "llm_provider_requests_total",
        Kind::Counter,
        "Provider calls, by provider, model and outcome.",
    ),
    Family::new(
        "llm_provider_failures_total",
        Kind::Counter,
        "Failed provider calls, by provider and reason.",
    ),
    Family::new(
        "llm_provider_request_duration_seconds",
        Kind::Histogram,
        "Duration of provider calls, by provider.",
    ),
    Family::new(
        "llm_provider_time_to_first_token_seconds",
        Kind::Histogram,
        "Time to a streamed call's first token, by provider.",
    ),
    Family::new(
        "llm_provider_retries_total",
        Kind::Counter,
        "Retries of a provider call, by provider.",
    ),
    Family::new(
        "llm_provider_breaker_rejections_total",
        Kind::Counter,
        "Calls not sent to a provider because its circuit breaker is open, by provider.",
    ),
    Family::new(
        "llm_provider_breaker_state",
        Kind::Gauge,
        "A provider's circuit breaker: 0 closed, 1 half-open, 2 open.",
    ),
    Family::new(
        "llm_retry_budget_exhausted_total",
        Kind::Counter,
        "Retries refused because the retry budget was spent.",
    ),
    Family::new(
        "gen_ai_client_token_usage_total",
        Kind::Counter,
        "Tokens used, by provider, model and token type (input, output).",
    ),
    Family::new(
        "llm_cost_micro_usd_total",
        Kind::Counter,
        "Cost of calls in micro-USD, by provider and model.",
    ),
    Family::new(
        "llm_calls_refused_total",
        Kind::Counter,
        "Calls refused before reaching a provider, by reason.",
    ),
    Family::new(
        "llm_budget_limit_usd",
        Kind::Gauge,
        "The monthly budget limit in USD.",
    ),
    Family::new(
        "llm_budget_spent_usd",
        Kind::Gauge,
        "Spent this budget period in USD.",
    ),
    Family::new(
        "llm_budget_reserved_usd",
        Kind::Gauge,
        "Worst-case cost held by calls in flight, in USD.",
    ),
    Family::new(
        "llm_budget_utilisation_ratio",
        Kind::Gauge,
        "Spent divided by the limit (1 = the whole budget).",
    ),
    Family::new(
        "llm_budget_state",
        Kind::Gauge,
        "The budget breaker: 0 CLOSED, 1 HALF_OPEN (alerting), 2 OPEN (blocking).",
    ),
    Family::new(
        "llm_budget_rejections_total",
        Kind::Counter,
        "Calls refused by the budget, by reason.",
    ),
    Family::new(
        "llm_budget_downgrades_total",
        Kind::Counter,
        "Calls moved to a cheaper model by the budget.",
    ),
    Family::new(
        "usage_outbox_depth",
        Kind::Gauge,
        "Usage records waiting in the outbox for delivery.",
    ),
    Family::new(
        "usage_records_delivered_total",
        Kind::Counter,
        "Usage records delivered to usage-accounting.",
    ),
    Family::new(
        "usage_records_rejected_total",
        Kind::Counter,
        "Usage records usage-accounting refused (kept aside, not retried).",
    ),
    Family::new(
        "usage_delivery_failures_total",
        Kind::Counter,
        "Failed usage delivery batches (retried from the outbox).",
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_recorded_metric_has_help() {
        service_kit::metrics::assert_described(env!("CARGO_MANIFEST_DIR"), super::FAMILIES);
    }
}
