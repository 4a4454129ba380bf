//! gRPC adapters: proto in, domain call, proto or Status out.

pub mod access;
mod convert;
mod tools;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use fluentedge_proto::router::v1 as pb;
use futures::StreamExt;
use pb::llm_router_server::LlmRouter;
use tokio::time::Instant;
use tonic::codegen::BoxStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::engine::Engine;

/// The `LlmRouter` service over the routing engine.
pub struct RouterApi {
    engine: Arc<Engine>,
}

impl RouterApi {
    pub fn new(engine: Arc<Engine>) -> Self {
        RouterApi { engine }
    }
}

/// The caller's deadline from its `grpc-timeout` header ("<= 8 digits" and a
/// unit: H, M, S, m, u, n), so retries stop before the caller gives up.
fn deadline(metadata: &MetadataMap) -> Option<Instant> {
    let raw = metadata.get("grpc-timeout")?.to_str().ok()?;
    let split = raw.len().checked_sub(1)?;
    let (digits, unit) = raw.split_at(split);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(value.saturating_mul(3600)),
        "M" => Duration::from_secs(value.saturating_mul(60)),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    };
    Instant::now().checked_add(timeout)
}

/// The caller the server layer verified from the service token.
fn verified_caller<T>(request: &Request<T>) -> Option<service_kit::auth::Caller> {
    request.extensions().get().cloned()
}

/// A learner's call is billed to the learner the verified token names, never
/// to a user the request body claims; `caller.service` is the service that
/// signed the token. Administrators and services may name the user. The
/// request id is the one the server layer scoped for this request (the
/// caller's `x-request-id`, or one it made).
fn bind_caller(caller: &mut crate::engine::Caller, verified: Option<service_kit::auth::Caller>) {
    if let Some(ctx) = service_kit::RequestContext::current() {
        caller.request_id = ctx.request_id;
    }
    if let Some(v) = verified {
        if v.role == service_kit::auth::Role::User
            && let Some(subject) = v.subject
        {
            caller.user_id = subject;
        }
        caller.service = v.issuer.as_str().to_owned();
    }
}

#[tonic::async_trait]
impl LlmRouter for RouterApi {
    async fn complete(
        &self,
        request: Request<pb::CompleteRequest>,
    ) -> Result<Response<pb::CompleteResponse>, Status> {
        let deadline = deadline(request.metadata());
        let verified = verified_caller(&request);
        let mut call = convert::chat_call(request.into_inner(), deadline)?;
        bind_caller(&mut call.caller, verified);
        let completion = self
            .engine
            .complete(call)
            .await
            .map_err(|e| convert::error(e).into_status())?;
        Ok(Response::new(convert::completion(completion)))
    }

    async fn stream_complete(
        &self,
        request: Request<pb::CompleteRequest>,
    ) -> Result<Response<BoxStream<pb::StreamCompleteResponse>>, Status> {
        let deadline = deadline(request.metadata());
        let verified = verified_caller(&request);
        let mut call = convert::chat_call(request.into_inner(), deadline)?;
        bind_caller(&mut call.caller, verified);
        let frames = self
            .engine
            .stream(call)
            .await
            .map_err(|e| convert::error(e).into_status())?;
        // Frames are produced while tonic polls the response, outside the
        // handler: keep the request's span (call id, trace) around them.
        let span = tracing::Span::current();
        let out = async_stream::stream! {
            let mut frames = frames;
            while let Some(frame) = frames.next().instrument(span.clone()).await {
                yield Ok(convert::frame(frame));
            }
        };
        Ok(Response::new(Box::pin(out)))
    }

    async fn embed(
        &self,
        request: Request<pb::EmbedRequest>,
    ) -> Result<Response<pb::EmbedResponse>, Status> {
        let deadline = deadline(request.metadata());
        let verified = verified_caller(&request);
        let mut call = convert::embed_call(request.into_inner(), deadline)?;
        bind_caller(&mut call.caller, verified);
        let embedding = self
            .engine
            .embed(call)
            .await
            .map_err(|e| convert::error(e).into_status())?;
        Ok(Response::new(convert::embedding(embedding)))
    }

    async fn list_models(
        &self,
        _request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let created = self
            .engine
            .configured_at()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Ok(Response::new(convert::models(
            self.engine.list_models(),
            created,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_timeout(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("grpc-timeout", value.parse().unwrap());
        m
    }

    #[test]
    fn reads_the_grpc_timeout_header() {
        let now = Instant::now();
        let d = deadline(&with_timeout("1500m")).unwrap();
        assert!(d >= now + Duration::from_millis(1500));
        assert!(d <= Instant::now() + Duration::from_millis(1500));
        assert!(deadline(&with_timeout("2S")).unwrap() >= now + Duration::from_secs(2));
        for bad in ["", "m", "123456789S", "10x", "-1S"] {
            assert!(deadline(&with_timeout(bad)).is_none(), "{bad}");
        }
        assert!(deadline(&MetadataMap::new()).is_none());
    }
}
