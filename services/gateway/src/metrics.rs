//! The gateway's metric families and their HELP text (see `service_kit::metrics`).

use service_kit::metrics::{Family, Kind};

pub const FAMILIES: &[Family] = &[
    Family::new(
        "http_requests_total",
        Kind::Counter,
        "HTTP requests served, by method, route template and status code.",
    ),
    Family::new(
        "http_request_duration_seconds",
        Kind::Histogram,
        "Time until an HTTP response's headers were sent, by method and route template.",
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_recorded_metric_has_help() {
        service_kit::metrics::assert_described(env!("CARGO_MANIFEST_DIR"), super::FAMILIES);
    }
}
