//! gRPC adapters: proto in, domain call, proto or Status out.

pub mod access;
mod convert;

use crate::domain::ProfileUpdate;
use crate::service::{Conversations, Error, ReplyEvent, require_subject};
use fluentedge_proto::conversation::v1 as pb;
use futures::StreamExt;
use pb::conversation_service_server::ConversationService;
use pb::stream_message_response::Frame;
use service_kit::auth::Caller;
use service_kit::error::REASON_METADATA;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

pub struct ConversationApi {
    service: Conversations,
}

impl ConversationApi {
    pub fn new(service: Conversations) -> Self {
        Self { service }
    }
}

/// The verified person the call is made for: the subject of the service token
/// the server layer verified (never a bare header).
fn subject<T>(request: &Request<T>) -> Option<String> {
    request
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.subject.clone())
}

fn authenticated<T>(request: &Request<T>) -> Result<String, Status> {
    let subject = subject(request);
    require_subject(subject.as_deref())
        .map(str::to_owned)
        .map_err(status)
}

/// The one place errors become statuses. Internal details are logged here, once.
fn status(e: Error) -> Status {
    if let Error::Storage(inner) = &e {
        tracing::error!(error = %inner, "conversation.storage_failed");
    }
    let service_error = e.to_service_error();
    if let Error::InProgress(message) = &e {
        // ABORTED: a concurrency conflict the client resolves by retrying later.
        let mut s = Status::aborted(message.clone());
        if let Ok(v) = service_error.code.reason().parse() {
            s.metadata_mut().insert(REASON_METADATA, v);
        }
        return s;
    }
    service_error.into_status()
}

fn event_frame(event: ReplyEvent) -> Frame {
    match event {
        ReplyEvent::Delta(text) => Frame::Delta(text),
        ReplyEvent::Completed(m) => Frame::Completed(convert::message(m)),
        ReplyEvent::Failed { error, tutor } => Frame::Error(pb::StreamError {
            grpc_code: u32::try_from(i32::from(error.code.grpc_code())).unwrap_or(2),
            reason: error.code.reason().to_owned(),
            message: error.message,
            tutor_message: tutor.map(convert::message),
        }),
    }
}

#[tonic::async_trait]
impl ConversationService for ConversationApi {
    async fn list_scenarios(
        &self,
        request: Request<pb::ListScenariosRequest>,
    ) -> Result<Response<pb::ListScenariosResponse>, Status> {
        authenticated(&request)?;
        Ok(Response::new(pb::ListScenariosResponse {
            scenarios: self
                .service
                .scenarios()
                .iter()
                .map(convert::scenario)
                .collect(),
        }))
    }

    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let subject = authenticated(&request)?;
        let learner = self.service.profile(&subject).await.map_err(status)?;
        Ok(Response::new(convert::profile(learner)))
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let subject = authenticated(&request)?;
        let req = request.into_inner();
        let update = ProfileUpdate {
            display_name: req.display_name.map(|n| n.trim().to_owned()),
            level: convert::level_from(req.level).map_err(status)?,
            native_language: req.native_language.map(|l| l.trim().to_owned()),
        };
        let learner = self
            .service
            .update_profile(&subject, update)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::profile(learner)))
    }

    async fn create_session(
        &self,
        request: Request<pb::CreateSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let subject = authenticated(&request)?;
        let req = request.into_inner();
        let level = convert::level_from(req.level).map_err(status)?;
        let session = self
            .service
            .create_session(&subject, req.scenario_id.trim(), level, &req.title)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::session(session)))
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let subject = authenticated(&request)?;
        let session = self
            .service
            .session(&subject, &request.get_ref().session_id)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::session(session)))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let subject = authenticated(&request)?;
        let req = request.into_inner();
        let page = self
            .service
            .list_sessions(
                &subject,
                req.page_size,
                &req.page_token,
                req.include_archived,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: page.items.into_iter().map(convert::session).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_session(
        &self,
        request: Request<pb::UpdateSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let subject = authenticated(&request)?;
        let req = request.get_ref();
        let session = self
            .service
            .update_session(&subject, &req.session_id, req.archived)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::session(session)))
    }

    async fn delete_session(
        &self,
        request: Request<pb::DeleteSessionRequest>,
    ) -> Result<Response<pb::DeleteSessionResponse>, Status> {
        let subject = authenticated(&request)?;
        self.service
            .delete_session(&subject, &request.get_ref().session_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteSessionResponse {}))
    }

    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let subject = authenticated(&request)?;
        let req = request.into_inner();
        let exchange = self
            .service
            .send_message(
                &subject,
                &req.session_id,
                &req.content,
                &req.client_message_id,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SendMessageResponse {
            learner_message: Some(convert::message(exchange.learner)),
            tutor_message: Some(convert::message(exchange.tutor)),
        }))
    }

    async fn stream_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<BoxStream<pb::StreamMessageResponse>>, Status> {
        let subject = authenticated(&request)?;
        let req = request.into_inner();
        let started = self
            .service
            .stream_message(
                &subject,
                &req.session_id,
                &req.content,
                &req.client_message_id,
            )
            .await
            .map_err(status)?;
        let accepted = pb::StreamMessageResponse {
            frame: Some(Frame::Accepted(convert::message(started.learner))),
        };
        let events = tokio_stream::wrappers::ReceiverStream::new(started.events).map(|e| {
            Ok(pb::StreamMessageResponse {
                frame: Some(event_frame(e)),
            })
        });
        let frames = futures::stream::once(async move { Ok(accepted) }).chain(events);
        Ok(Response::new(Box::pin(frames)))
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let subject = authenticated(&request)?;
        let req = request.into_inner();
        let page = self
            .service
            .list_messages(&subject, &req.session_id, req.page_size, &req.page_token)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListMessagesResponse {
            messages: page.items.into_iter().map(convert::message).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}
