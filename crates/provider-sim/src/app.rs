//! The axum application: shared state, the request extractor handlers use, and the middleware
//! that records every request and resolves its fault.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Uri};
use serde_json::json;

use crate::faults::{FAULT_HEADER, Fault, FaultTable};
use crate::record::{RecordedRequest, Recorder};
use crate::{SimConfig, Vendor, control, respond, vendors};

/// Largest request body accepted.
pub(crate) const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// State shared by every handler and by the [`crate::Simulator`] handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SimConfig,
    pub faults: FaultTable,
    pub recorder: Recorder,
    seq: AtomicU64,
}

pub(crate) type AppState = Arc<Shared>;

impl Shared {
    pub fn new(config: SimConfig) -> Self {
        Shared {
            config,
            faults: FaultTable::default(),
            recorder: Recorder::default(),
            seq: AtomicU64::new(0),
        }
    }

    /// A process-unique sequence number for ids (`chatcmpl-sim-7`, `sim-token-3`…).
    pub fn next_id(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The fault resolved for the current request (header > per-vendor > default).
#[derive(Debug, Clone, Default)]
struct ActiveFault(Fault);

/// What every vendor handler needs from a request besides its path and body.
pub(crate) struct Ctx {
    pub state: AppState,
    pub fault: Fault,
    pub headers: HeaderMap,
    pub uri: Uri,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let fault = parts
            .extensions
            .get::<ActiveFault>()
            .map(|f| f.0.clone())
            .unwrap_or_default();
        Ok(Ctx {
            state: state.clone(),
            fault,
            headers: parts.headers.clone(),
            uri: parts.uri.clone(),
        })
    }
}

impl Ctx {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The token of `Authorization: Bearer <token>`, if present and non-empty.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// A query parameter (values here never need percent-decoding).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.uri.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    pub fn require_auth(&self) -> bool {
        self.state.config.require_auth
    }

    pub fn chunk_delay(&self) -> std::time::Duration {
        self.state.config.chunk_delay
    }

    pub fn next_id(&self) -> u64 {
        self.state.next_id()
    }
}

/// The whole application.
pub(crate) fn router(state: AppState) -> Router {
    vendors::routes()
        .merge(control::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), intercept))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Record the request, resolve its fault, apply latency / hang, add `Retry-After`.
async fn intercept(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(vendor) = Vendor::for_path(req.uri().path()) else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return vendor.error(413, "Request body too large or unreadable.");
    };
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let is_token = parts.uri.path() == "/token";
    state.recorder.record(RecordedRequest {
        vendor,
        method: parts.method.as_str().to_owned(),
        path,
        headers,
        body: bytes.clone(),
        timestamp: SystemTime::now(),
    });

    let fault = match parts.headers.get(FAULT_HEADER) {
        Some(raw) => match raw.to_str().map(str::parse::<Fault>) {
            Ok(Ok(fault)) => fault,
            Ok(Err(e)) => return vendor.error(400, &e.to_string()),
            Err(_) => return vendor.error(400, "x-sim-fault is not valid ASCII"),
        },
        None => {
            // The OAuth token endpoint does not consume per-vendor faults, so `times` counts
            // model calls only.
            let armed = if is_token {
                None
            } else {
                state.faults.take(vendor)
            };
            armed
                .or_else(|| state.config.default_fault.clone())
                .unwrap_or_default()
        }
    };
    if let Some(latency) = fault.latency {
        tokio::time::sleep(latency).await;
    }
    if fault.hang {
        // Accept and never answer; the connection task drops this future on shutdown.
        std::future::pending::<()>().await;
    }
    let retry_after = fault.retry_after_secs;
    parts.extensions.insert(ActiveFault(fault));
    let mut resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

async fn not_found(uri: Uri) -> Response {
    let message = format!("No route for {}", uri.path());
    match Vendor::for_path(uri.path()) {
        Some(vendor) => vendor.error(404, &message),
        None => respond::json(
            404,
            &json!({ "error": { "code": 404, "message": message } }),
        ),
    }
}

async fn method_not_allowed(uri: Uri) -> Response {
    let message = format!("Method not allowed for {}", uri.path());
    match Vendor::for_path(uri.path()) {
        Some(vendor) => vendor.error(405, &message),
        None => respond::json(
            405,
            &json!({ "error": { "code": 405, "message": message } }),
        ),
    }
}
