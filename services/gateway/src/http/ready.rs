//! `GET /ready`: each backend's `grpc.health.v1.Health/Check`, concurrently,
//! each bounded by a short timeout. 200 only when every one is SERVING.

use super::AppState;
use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Map, Value, json};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Each backend's gRPC health: 200 when all are SERVING, else 503; the body
/// names each dependency's status.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses((status = 200, description = "`{\"status\":\"ready\",\"dependencies\":{\"conversation\":\"SERVING\",…}}`", body = Object),
        (status = 503, description = "`status` is `not_ready`; each dependency SERVING, NOT_SERVING, UNREACHABLE, TIMEOUT…", body = Object)))]
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
    let all_serving = results.iter().all(|(_, s)| *s == "SERVING");
    let dependencies: Map<String, Value> = results
        .into_iter()
        .map(|(name, status)| (name.to_owned(), Value::from(status)))
        .collect();
    let (code, status) = if all_serving {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (
        code,
        Json(json!({"status": status, "dependencies": dependencies})),
    )
}
