//! Logs and traces, set up the same way in every service.
//!
//! - `LOG_FORMAT=json` (production): one JSON object per line with `timestamp`
//!   (RFC 3339 UTC), `level`, `event`, `service`, `request_id` and the event's
//!   own fields; otherwise readable console output.
//! - `LOG_LEVEL`: `DEBUG`, `INFO`, `WARNING`, `ERROR` as in the manuals, or any
//!   `tracing` filter directive (`info,sqlx=warn`).
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` switches on OTLP/gRPC trace export. Trace
//!   context (W3C `traceparent`) is propagated whether or not it is exported.
//!
//! The event name is the log message: `tracing::info!(provider = "azure", "router.success")`.

pub mod attributes;
mod json;

use crate::config::{ConfigError, Env};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use json::{ContextFieldsLayer, JsonFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Console,
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub service: &'static str,
    pub format: LogFormat,
    pub filter: String,
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    pub fn from_env(service: &'static str, env: &Env) -> Result<Self, ConfigError> {
        let format = match env
            .get("LOG_FORMAT")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("console") | Some("text") | Some("pretty") => LogFormat::Console,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("expected json or console, got {other:?}"),
                ));
            }
        };
        let filter = filter_directive(env.get("LOG_LEVEL").unwrap_or("INFO"))
            .map_err(|m| ConfigError::new("LOG_LEVEL", m))?;
        Ok(Self {
            service,
            format,
            filter,
            otlp_endpoint: env.get("OTEL_EXPORTER_OTLP_ENDPOINT").map(str::to_owned),
        })
    }
}

/// Maps the manuals' level names onto a `tracing` filter. Libraries stay at
/// `warn` unless DEBUG is asked for (the manual's DEBUG includes SQL queries).
fn filter_directive(level: &str) -> Result<String, String> {
    let quiet = "h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn,reqwest=warn,rustls=warn,opentelemetry=warn,opentelemetry_sdk=warn,sqlx=warn,fred=warn";
    let level = match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => return Ok("trace,h2=info,hyper=info".into()),
        "DEBUG" => {
            return Ok("debug,h2=info,hyper=info,hyper_util=info,tower=info,rustls=info".into());
        }
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        "ERROR" | "CRITICAL" => "error",
        _ => {
            // A bare word that is no level would be read as a target name
            // (`verbose` = "only logs of a module called verbose"): it would
            // silently mute every log, so only `target=level` parts pass.
            if let Some(word) = level
                .split(',')
                .map(str::trim)
                .find(|d| !d.is_empty() && !d.contains('=') && d.parse::<LevelFilter>().is_err())
            {
                return Err(format!(
                    "{word:?} is neither a level (DEBUG, INFO, WARNING, ERROR) nor a target=level filter"
                ));
            }
            // A full directive, validated by EnvFilter itself.
            return EnvFilter::try_new(level)
                .map(|_| level.to_owned())
                .map_err(|e| format!("not a level or filter ({e})"));
        }
    };
    Ok(format!("{level},{quiet}"))
}

/// Flushes buffered spans when dropped (at the end of `main`).
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber and trace propagation. Call once, in `main`.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, ConfigError> {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(config.service)
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &config.otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|e| ConfigError::new("OTEL_EXPORTER_OTLP_ENDPOINT", e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    } else {
        // Nothing exports spans: keep them non-recording. They still get ids,
        // so trace context is continued and propagated downstream, but cost
        // almost nothing per request.
        builder = builder.with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    }
    let provider = builder.build();
    let tracer = provider.tracer(config.service);
    opentelemetry::global::set_tracer_provider(provider.clone());

    let filter = EnvFilter::try_new(&config.filter)
        .map_err(|e| ConfigError::new("LOG_LEVEL", e.to_string()))?;
    let fmt_layer = match config.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(JsonFormat::new(config.service))
            .boxed(),
        LogFormat::Console => tracing_subscriber::fmt::layer()
            .with_target(false)
            .compact()
            .boxed(),
    };
    // The filter is global, not per layer: a per-layer filter leaves every
    // callsite of every library (h2's trace events included) enabled for the
    // other layers, which cost ~1 ms of CPU per request under load.
    tracing_subscriber::registry()
        .with(filter)
        .with(ContextFieldsLayer)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(fmt_layer)
        .try_init()
        .map_err(|e| ConfigError::new("LOG_LEVEL", format!("telemetry already set up: {e}")))?;
    Ok(TelemetryGuard { provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_levels_map_to_filters() {
        assert!(filter_directive("WARNING").unwrap().starts_with("warn,"));
        assert!(filter_directive("info").unwrap().starts_with("info,"));
        assert!(filter_directive("DEBUG").unwrap().starts_with("debug"));
        assert_eq!(
            filter_directive("info,sqlx=debug").unwrap(),
            "info,sqlx=debug"
        );
        assert!(filter_directive("[[[").is_err());
    }

    #[test]
    fn a_word_that_is_no_level_is_refused_not_read_as_a_target() {
        for bad in ["verbose", "INFOO", "info,verbose"] {
            let env = Env::from_pairs([("LOG_LEVEL", bad)]);
            let err = TelemetryConfig::from_env("t", &env).unwrap_err();
            assert_eq!(err.var, "LOG_LEVEL", "{bad}");
        }
        assert_eq!(filter_directive("off").unwrap(), "off");
    }

    #[test]
    fn bad_format_names_the_variable() {
        let env = Env::from_pairs([("LOG_FORMAT", "xml")]);
        let err = TelemetryConfig::from_env("t", &env).unwrap_err();
        assert_eq!(err.var, "LOG_FORMAT");
    }
}
