//! The production log line: one flat JSON object per event.
//!
//! Fields of the enclosing spans that say which request an event belongs to
//! (`request_id`, `trace_id`, `provider`, `model`, ...) are copied onto every
//! line, so `jq 'select(.request_id == "...")'` finds a request's whole story.
//! The spans' values win over an event's own field of the same name (the
//! innermost span's over the outer ones'), so no event can hide a line from
//! its request; an event names the other id it is about (`call_id`) instead.
//!
//! `level` is spelled as the manuals write it (`INFO`, `WARNING`, `ERROR`), and
//! money fields (`*_usd`) are JSON numbers even when an event logs them with
//! `Display` (the exact decimal of integer micro-USD, never a float sum).

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Span fields worth repeating on every event inside the span.
const CONTEXT_FIELDS: &[&str] = &[
    "request_id",
    "trace_id",
    "user_id",
    "session_id",
    "provider",
    "model",
    "method",
    "path",
    "rpc",
];

/// Span fields kept for [`JsonFormat`], captured when spans are created or recorded.
#[derive(Default, Debug)]
struct ContextFields(Vec<(&'static str, Value)>);

impl Visit for ContextFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

impl ContextFields {
    fn put(&mut self, field: &Field, value: Value) {
        if let Some(name) = CONTEXT_FIELDS.iter().find(|n| **n == field.name()) {
            self.0.retain(|(k, _)| k != name);
            self.0.push((name, value));
        }
    }
}

/// Captures [`CONTEXT_FIELDS`] of every span into its extensions.
pub struct ContextFieldsLayer;

impl<S> tracing_subscriber::Layer<S> for ContextFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = ContextFields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(fields) = ext.get_mut::<ContextFields>() {
                values.record(fields);
            }
        }
    }
}

/// Visits an event's fields into a JSON map, keeping numbers and booleans typed.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

/// `tracing_subscriber` event formatter for the production JSON lines.
pub struct JsonFormat {
    service: &'static str,
}

impl JsonFormat {
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

fn level_name(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::ERROR => "ERROR",
        tracing::Level::WARN => "WARNING",
        tracing::Level::INFO => "INFO",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::TRACE => "TRACE",
    }
}

/// A money field's decimal text (`"0.000123"`, as `Micros` displays), to be
/// written as a JSON number with exactly these digits (a float would print
/// `1.23e-4` and could round).
fn money_digits<'a>(name: &str, value: &'a Value) -> Option<&'a str> {
    let text = value.as_str().filter(|_| name.ends_with("_usd"))?;
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(fraction) && (whole == "0" || !whole.starts_with('0'))).then_some(text)
}

/// The line as one JSON object, money fields as numbers.
fn write_line(line: &Map<String, Value>) -> Result<String, serde_json::Error> {
    let mut out = String::from("{");
    for (i, (key, value)) in line.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key)?);
        out.push(':');
        match money_digits(key, value) {
            Some(digits) => out.push_str(digits),
            None => out.push_str(&serde_json::to_string(value)?),
        }
    }
    out.push('}');
    Ok(out)
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert(
            "level".into(),
            Value::from(level_name(event.metadata().level())),
        );
        line.insert("service".into(), Value::from(self.service));
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let message = fields.remove("message");
        line.extend(fields);
        // After the event's fields: the enclosing spans' context wins.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<ContextFields>() {
                    for (k, v) in &fields.0 {
                        line.insert((*k).to_owned(), v.clone());
                    }
                }
            }
        }
        line.insert(
            "event".into(),
            message.unwrap_or_else(|| Value::from(event.metadata().name())),
        );
        if !line.contains_key("target") && *event.metadata().level() >= tracing::Level::DEBUG {
            line.insert("target".into(), Value::from(event.metadata().target()));
        }
        let text = write_line(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_flat_json_with_context_from_spans() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::registry()
            .with(ContextFieldsLayer)
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonFormat::new("llm-router"))
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "call",
                request_id = "rid-1",
                provider = tracing::field::Empty
            );
            let _g = span.enter();
            span.record("provider", "azure");
            tracing::warn!(
                cost_usd = "0.000250",
                limit_usd = "012",
                duration_ms = 12u64,
                "router.success"
            );
            // An event cannot overwrite its request's id; an inner span can narrow it.
            tracing::info!(request_id = "other", reason = "x", "router.other");
            tracing::info_span!("record", request_id = "rid-2")
                .in_scope(|| tracing::info!("usage.recorded"));
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let v = &lines[0];
        assert_eq!(v["event"], "router.success");
        assert_eq!(v["level"], "WARNING");
        assert_eq!(v["cost_usd"], serde_json::json!(0.00025));
        assert!(text.contains(r#""cost_usd":0.000250,"#), "{text}");
        // Not a JSON number's digits: left a string.
        assert_eq!(v["limit_usd"], "012");
        assert_eq!(lines[1]["request_id"], "rid-1");
        assert_eq!(lines[1]["level"], "INFO");
        assert_eq!(lines[2]["request_id"], "rid-2");
        assert_eq!(v["service"], "llm-router");
        assert_eq!(v["request_id"], "rid-1");
        assert_eq!(v["provider"], "azure");
        assert_eq!(v["duration_ms"], 12);
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
