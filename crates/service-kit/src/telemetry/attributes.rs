//! Span attributes that `tracing` fields cannot express: OpenTelemetry's
//! array values (`gen_ai.response.finish_reasons` is a string array).

use opentelemetry::{Array, StringValue, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Sets `key` on `span` as an array of strings.
pub fn set_string_array(span: &tracing::Span, key: &'static str, values: &[&str]) {
    let values: Vec<StringValue> = values
        .iter()
        .map(|v| StringValue::from(v.to_string()))
        .collect();
    span.set_attribute(key, Value::Array(Array::String(values)));
}
