//! `/_sim/*`: steer a separately running simulator over HTTP (end-to-end tests).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, put};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::faults::Fault;
use crate::respond;
use crate::{Vendor, record::RecordedRequest};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/health", get(health))
        .route("/_sim/faults", delete(clear_faults))
        .route("/_sim/faults/{vendor}", put(set_fault).delete(clear_vendor))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/stats", get(stats))
}

fn bad_request(message: &str) -> Response {
    respond::json(400, &json!({ "error": message }))
}

fn no_content() -> Response {
    Response::builder()
        .status(204)
        .body(axum::body::Body::empty())
        .unwrap_or_default()
}

async fn health() -> Response {
    respond::json(200, &json!({ "status": "ok" }))
}

#[derive(Debug, Deserialize)]
struct SetFault {
    fault: String,
    #[serde(default)]
    times: Option<u32>,
}

async fn set_fault(
    State(state): State<AppState>,
    Path(vendor): Path<String>,
    body: Bytes,
) -> Response {
    let vendor: Vendor = match vendor.parse() {
        Ok(v) => v,
        Err(e) => return bad_request(&e.to_string()),
    };
    let req: SetFault = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(&format!(
                "expected {{\"fault\": \"...\", \"times\": n}}: {e}"
            ));
        }
    };
    let fault: Fault = match req.fault.parse() {
        Ok(f) => f,
        Err(e) => return bad_request(&e.to_string()),
    };
    state.faults.set(vendor, fault, req.times);
    no_content()
}

async fn clear_vendor(State(state): State<AppState>, Path(vendor): Path<String>) -> Response {
    match vendor.parse::<Vendor>() {
        Ok(v) => {
            state.faults.clear_vendor(v);
            no_content()
        }
        Err(e) => bad_request(&e.to_string()),
    }
}

async fn clear_faults(State(state): State<AppState>) -> Response {
    state.faults.clear();
    no_content()
}

async fn requests(State(state): State<AppState>) -> Response {
    let all: Vec<RecordedRequest> = state.recorder.all();
    let list: Vec<Value> = all
        .iter()
        .filter_map(|r| serde_json::to_value(r.to_json()).ok())
        .collect();
    respond::json(200, &Value::Array(list))
}

async fn clear_requests(State(state): State<AppState>) -> Response {
    state.recorder.clear();
    no_content()
}

async fn stats(State(state): State<AppState>) -> Response {
    let mut counts = serde_json::Map::new();
    for v in Vendor::ALL {
        counts.insert(v.as_str().to_owned(), json!(state.recorder.count(v)));
    }
    respond::json(
        200,
        &json!({
            "requests": counts,
            "token_requests": state.recorder.token_requests(),
        }),
    )
}
