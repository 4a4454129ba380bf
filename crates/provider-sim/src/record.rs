//! Recorded requests, for tests that check what a client actually sent.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;

use crate::Vendor;

/// How many requests are kept; older ones are dropped (counters stay exact).
/// Bounded so a long benchmark run does not grow memory without limit.
pub const MAX_RECORDED: usize = 10_000;

/// One request as the simulator received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub vendor: Vendor,
    pub method: String,
    /// Path and query, as sent (still percent-encoded).
    pub path: String,
    /// Header names lowercased, in arrival order; repeated headers appear repeatedly.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub timestamp: SystemTime,
}

impl RecordedRequest {
    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as (lossy) UTF-8.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether this is a request to Google's OAuth2 token endpoint rather than the model API.
    pub fn is_token_request(&self) -> bool {
        self.path == "/token" || self.path.starts_with("/token?")
    }

    pub(crate) fn to_json(&self) -> RecordedJson<'_> {
        let mut headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            let merged = match headers.get(name) {
                Some(serde_json::Value::String(prev)) => format!("{prev}, {value}"),
                _ => value.clone(),
            };
            headers.insert(name.clone(), serde_json::Value::String(merged));
        }
        RecordedJson {
            vendor: self.vendor,
            method: &self.method,
            path: &self.path,
            headers,
            body: self.body_text(),
            timestamp_ms: self
                .timestamp
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// The `/_sim/requests` JSON form of a [`RecordedRequest`].
#[derive(Debug, Serialize)]
pub(crate) struct RecordedJson<'a> {
    vendor: Vendor,
    method: &'a str,
    path: &'a str,
    headers: serde_json::Map<String, serde_json::Value>,
    body: String,
    timestamp_ms: u64,
}

/// Request log plus exact counters.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    log: Mutex<VecDeque<RecordedRequest>>,
    /// Model-API requests per vendor (index = `Vendor as usize`), token endpoint excluded.
    counts: [AtomicU64; Vendor::ALL.len()],
    tokens: AtomicU64,
}

impl Recorder {
    pub fn record(&self, req: RecordedRequest) {
        if req.is_token_request() {
            self.tokens.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counts[req.vendor.index()].fetch_add(1, Ordering::Relaxed);
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= MAX_RECORDED {
            log.pop_front();
        }
        log.push_back(req);
    }

    pub fn all(&self) -> Vec<RecordedRequest> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
        self.tokens.store(0, Ordering::Relaxed);
    }

    pub fn count(&self, vendor: Vendor) -> usize {
        usize::try_from(self.counts[vendor.index()].load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    pub fn token_requests(&self) -> usize {
        usize::try_from(self.tokens.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }
}
