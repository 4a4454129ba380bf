//! `GET /ready`: each backend's `grpc.health.v1.Health/Check`, concurrently,
//! each bounded by a short timeout. Ready (200) when every backend the
//! gateway cannot serve without is SERVING; usage-accounting is not one of
//! them: with it down, calls keep working and the router's outbox holds
//! their usage records until it is back, so taking every gateway out of the
//! load balancer would turn a reporting outage into a full one. The body
//! names what blocks readiness and what is degraded.

use super::AppState;
use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Map, Value, json};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Backends whose loss the gateway rides out (see the module docs).
const OPTIONAL: &[&str] = &["usage-accounting"];

/// Each backend's gRPC health: 200 when the required ones are SERVING, else
/// 503; the body names each dependency's status, the required ones that are
/// not SERVING (`blocking`) and the optional ones (`degraded`).
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses((status = 200, description = "`{\"status\":\"ready\",\"dependencies\":{\"conversation\":\"SERVING\",…},\"blocking\":[],\"degraded\":[]}`; `degraded` names optional backends that are down (usage-accounting: usage records wait in the router's outbox)", body = Object),
        (status = 503, description = "`status` is `not_ready`; `blocking` names the required backends (conversation, llm-router) that are not SERVING; each dependency SERVING, NOT_SERVING, UNREACHABLE, TIMEOUT…", body = Object)))]
pub(super) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let timeout = state.ready_timeout;
    let checks = state.backends.channels().iter().map(|(name, channel)| {
        let mut client = HealthClient::new(channel.clone());
        async move {
            let mut req = tonic::Request::new(HealthCheckRequest {
                service: String::new(),
            });
            req.set_timeout(timeout);
            let status = match tokio::time::timeout(timeout, client.check(req)).await {
                Err(_) => "TIMEOUT",
                Ok(Err(_)) => "UNREACHABLE",
                Ok(Ok(r)) => match r.into_inner().status() {
                    ServingStatus::Serving => "SERVING",
                    ServingStatus::NotServing => "NOT_SERVING",
                    ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN",
                    ServingStatus::Unknown => "UNKNOWN",
                },
            };
            (*name, status)
        }
    });
    let results = futures::future::join_all(checks).await;
    let down = |optional: bool| -> Vec<&str> {
        results
            .iter()
            .filter(|(name, status)| *status != "SERVING" && OPTIONAL.contains(name) == optional)
            .map(|(name, _)| *name)
            .collect()
    };
    let (blocking, degraded) = (down(false), down(true));
    let (code, status) = if blocking.is_empty() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let dependencies: Map<String, Value> = results
        .iter()
        .map(|(name, status)| ((*name).to_owned(), Value::from(*status)))
        .collect();
    (
        code,
        Json(json!({
            "status": status,
            "dependencies": dependencies,
            "blocking": blocking,
            "degraded": degraded,
        })),
    )
}
