//! Fault injection: the `x-sim-fault` syntax and the per-vendor fault table.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use crate::Vendor;

/// Request header carrying a per-request fault (highest precedence).
pub const FAULT_HEADER: &str = "x-sim-fault";

/// A fault to inject into a response.
///
/// Syntax (header `x-sim-fault`, flag `--fault`, `/_sim/faults`): `;`-separated items
/// `status=503`, `retry-after=2`, `latency-ms=150`, `cut-after=3`, `malformed`, `hang`.
/// An empty string or `none` is "no fault" (useful in a header to override a per-vendor fault).
///
/// Semantics, applied in this order: `latency-ms` delays the answer; `hang` never answers;
/// `status` (>= 400) answers the vendor's error body with that status, except that together with
/// `cut-after` on a streaming request it becomes a mid-stream error event after that many content
/// chunks; `cut-after` alone drops the connection after that many content chunks, without the
/// vendor's terminal event; `malformed` answers 200 with a body invalid for the protocol.
/// `retry-after` adds a `Retry-After` header to whatever is answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fault {
    pub status: Option<u16>,
    pub retry_after_secs: Option<u64>,
    pub latency: Option<Duration>,
    pub cut_after_chunks: Option<u32>,
    pub malformed: bool,
    pub hang: bool,
}

/// A fault string that does not follow the syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault `{input}`: {reason}")]
pub struct FaultParseError {
    input: String,
    reason: String,
}

impl Fault {
    /// Answer with the vendor's error body and this HTTP status.
    pub fn status(status: u16) -> Self {
        Fault {
            status: Some(status),
            ..Fault::default()
        }
    }

    /// Stream this many content chunks, then drop the connection.
    pub fn cut_after(chunks: u32) -> Self {
        Fault {
            cut_after_chunks: Some(chunks),
            ..Fault::default()
        }
    }

    /// Delay the answer.
    pub fn latency(latency: Duration) -> Self {
        Fault {
            latency: Some(latency),
            ..Fault::default()
        }
    }

    /// Answer 200 with a body that is invalid for the protocol.
    pub fn malformed() -> Self {
        Fault {
            malformed: true,
            ..Fault::default()
        }
    }

    /// Accept the request and never answer.
    pub fn hang() -> Self {
        Fault {
            hang: true,
            ..Fault::default()
        }
    }

    /// Also send `Retry-After: secs`.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// True when the fault changes nothing.
    pub fn is_none(&self) -> bool {
        *self == Fault::default()
    }

    /// The error status to answer before any body is sent, if any.
    pub(crate) fn error_status(&self) -> Option<u16> {
        self.status.filter(|s| *s >= 400)
    }

    /// Whether a streaming response should be answered with an HTTP error up front
    /// (a status without `cut-after`); with `cut-after` the error comes mid-stream.
    pub(crate) fn upfront_error(&self, streaming: bool) -> Option<u16> {
        let status = self.error_status()?;
        if streaming && self.cut_after_chunks.is_some() {
            None
        } else {
            Some(status)
        }
    }
}

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| FaultParseError {
            input: s.to_owned(),
            reason,
        };
        let mut fault = Fault::default();
        for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            let number = |v: Option<&str>| -> Result<u64, FaultParseError> {
                let v = v.ok_or_else(|| err(format!("`{key}` needs a value")))?;
                v.parse::<u64>()
                    .map_err(|_| err(format!("`{key}` needs a non-negative integer, got `{v}`")))
            };
            match key {
                "none" if value.is_none() => {}
                "status" => {
                    let n = number(value)?;
                    let status = u16::try_from(n)
                        .ok()
                        .filter(|s| (100..=599).contains(s))
                        .ok_or_else(|| err(format!("status {n} is not an HTTP status")))?;
                    fault.status = Some(status);
                }
                "retry-after" => fault.retry_after_secs = Some(number(value)?),
                "latency-ms" => fault.latency = Some(Duration::from_millis(number(value)?)),
                "cut-after" => {
                    let n = number(value)?;
                    let n =
                        u32::try_from(n).map_err(|_| err(format!("cut-after {n} too large")))?;
                    fault.cut_after_chunks = Some(n);
                }
                "malformed" if value.is_none() => fault.malformed = true,
                "hang" if value.is_none() => fault.hang = true,
                _ => return Err(err(format!("unknown item `{item}`"))),
            }
        }
        Ok(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        if let Some(s) = self.status {
            items.push(format!("status={s}"));
        }
        if let Some(r) = self.retry_after_secs {
            items.push(format!("retry-after={r}"));
        }
        if let Some(l) = self.latency {
            items.push(format!("latency-ms={}", l.as_millis()));
        }
        if let Some(c) = self.cut_after_chunks {
            items.push(format!("cut-after={c}"));
        }
        if self.malformed {
            items.push("malformed".to_owned());
        }
        if self.hang {
            items.push("hang".to_owned());
        }
        if items.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&items.join(";"))
        }
    }
}

/// A per-vendor fault and how many more requests it applies to (`None`: until cleared).
#[derive(Debug, Clone)]
struct Armed {
    fault: Fault,
    remaining: Option<u32>,
}

/// Per-vendor faults set by `Simulator::set_fault` or `PUT /_sim/faults/{vendor}`.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    armed: Mutex<HashMap<Vendor, Armed>>,
}

impl FaultTable {
    pub fn set(&self, vendor: Vendor, fault: Fault, times: Option<u32>) {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        if times == Some(0) {
            armed.remove(&vendor);
        } else {
            armed.insert(
                vendor,
                Armed {
                    fault,
                    remaining: times,
                },
            );
        }
    }

    pub fn clear(&self) {
        self.armed.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn clear_vendor(&self, vendor: Vendor) {
        self.armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&vendor);
    }

    /// Take the vendor's fault for one request, counting `times` down.
    pub fn take(&self, vendor: Vendor) -> Option<Fault> {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        let entry = armed.get_mut(&vendor)?;
        let fault = entry.fault.clone();
        if let Some(n) = entry.remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                armed.remove(&vendor);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item() {
        let f: Fault = "status=503; retry-after=2;latency-ms=150;cut-after=3;malformed;hang"
            .parse()
            .unwrap();
        assert_eq!(f.status, Some(503));
        assert_eq!(f.retry_after_secs, Some(2));
        assert_eq!(f.latency, Some(Duration::from_millis(150)));
        assert_eq!(f.cut_after_chunks, Some(3));
        assert!(f.malformed && f.hang);
        assert_eq!(f.to_string().parse::<Fault>().unwrap(), f);
    }

    #[test]
    fn none_and_empty_are_no_fault() {
        assert!("".parse::<Fault>().unwrap().is_none());
        assert!("none".parse::<Fault>().unwrap().is_none());
    }

    #[test]
    fn rejects_garbage() {
        assert!("status=abc".parse::<Fault>().is_err());
        assert!("status=700".parse::<Fault>().is_err());
        assert!("explode".parse::<Fault>().is_err());
        assert!("hang=1".parse::<Fault>().is_err());
    }

    #[test]
    fn table_counts_down() {
        let t = FaultTable::default();
        t.set(Vendor::OpenAi, "status=500".parse().unwrap(), Some(2));
        assert!(t.take(Vendor::OpenAi).is_some());
        assert!(t.take(Vendor::Anthropic).is_none());
        assert!(t.take(Vendor::OpenAi).is_some());
        assert!(t.take(Vendor::OpenAi).is_none());
    }
}
