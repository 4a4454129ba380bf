//! usage-accounting's metric families and their HELP text (see `service_kit::metrics`).

use service_kit::metrics::{DB_POOL_CONNECTIONS, Family, Kind};

pub const FAMILIES: &[Family] = &[
    Family::new(
        "usage_records_total",
        Kind::Counter,
        "Usage records received, by result (created, duplicate, rejected).",
    ),
    Family::new(
        "usage_record_batch_size",
        Kind::Histogram,
        "Records per RecordUsageBatch call.",
    ),
    DB_POOL_CONNECTIONS,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_recorded_metric_has_help() {
        service_kit::metrics::assert_described(env!("CARGO_MANIFEST_DIR"), super::FAMILIES);
    }
}
