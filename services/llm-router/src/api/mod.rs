//! gRPC adapters: proto in, domain call, proto or Status out.

mod convert;

use std::sync::Arc;

use fluentedge_proto::router::v1 as pb;
use futures::StreamExt;
use pb::llm_router_server::LlmRouter;
use pb::router_admin_server::RouterAdmin;
use tonic::codegen::BoxStream;
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

#[tonic::async_trait]
impl LlmRouter for RouterApi {
    async fn complete(
        &self,
        request: Request<pb::CompleteRequest>,
    ) -> Result<Response<pb::CompleteResponse>, Status> {
        let call = convert::chat_call(request.into_inner())?;
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
        let call = convert::chat_call(request.into_inner())?;
        let frames = self
            .engine
            .stream(call)
            .map_err(|e| convert::error(e).into_status())?;
        // Frames are produced while tonic polls the response, outside the
        // handler: keep the request's span (request id, trace) around them.
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
        let call = convert::embed_call(request.into_inner())?;
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
        Ok(Response::new(convert::models(self.engine.list_models())))
    }
}

/// RPCs not implemented yet answer UNIMPLEMENTED (the generated defaults).
pub struct AdminApi;

#[tonic::async_trait]
impl RouterAdmin for AdminApi {}
