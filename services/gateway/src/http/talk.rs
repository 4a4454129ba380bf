//! The app API (`/api/talk/*`): thin handlers over `ConversationService`.
//! The conversation service enforces ownership by the subject the gRPC
//! metadata carries: another learner's session is simply not found.

use super::AppState;
use super::dto::ErrorBody;
use super::dto::talk::*;
use super::extract::{Json, Path, Query};
use super::sse::{self, json_event};
use crate::auth::Principal;
use crate::backends::CONVERSATION;
use crate::errors::ApiError;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fluentedge_proto::conversation::v1 as pb;
use fluentedge_proto::conversation::v1::stream_message_response::Frame;
use http::{HeaderMap, StatusCode};
use service_kit::{ErrorCode, RequestContext};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/talk/message", post(send_message))
        .route("/api/talk/scenarios", get(list_scenarios))
        .route(
            "/api/talk/sessions",
            post(create_session).get(list_sessions),
        )
        .route(
            "/api/talk/sessions/{id}",
            get(get_session)
                .patch(update_session)
                .delete(delete_session),
        )
        .route("/api/talk/sessions/{id}/messages", get(list_messages))
        .route("/api/talk/profile", get(get_profile).patch(update_profile))
}

fn failed(status: tonic::Status) -> ApiError {
    ApiError::from_status(CONVERSATION, &status)
}

/// Send the learner's message and get the tutor's reply: JSON, or with
/// `Accept: text/event-stream` an SSE stream of `accepted`, `delta`…, then
/// `completed` or `error`. A failure before the reply starts is a plain
/// HTTP error; one after it is an `error` event.
#[utoipa::path(post, path = "/api/talk/message", tag = "talk",
    request_body = SendMessageBody,
    responses(
        (status = 200, description = "JSON: the exchange as stored. With `Accept: text/event-stream`: events `accepted` (MessageDto), `delta` ({\"text\"}), then `completed` (MessageDto) or `error` (StreamErrorEvent)",
            content((SendMessageReply = "application/json"), (StreamErrorEvent = "text/event-stream"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "Rate limited, or `budget_exceeded`", body = ErrorBody),
        (status = 503, description = "Every provider failed (the message names them)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn send_message(
    State(state): State<AppState>,
    _caller: Principal,
    headers: HeaderMap,
    Json(body): Json<SendMessageBody>,
) -> Result<Response, ApiError> {
    if sse::wants_event_stream(&headers) {
        return stream_message(state, body.into_proto()).await;
    }
    let reply = state
        .backends
        .conversation()
        .send_message(state.backends.unary(body.into_proto()))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(SendMessageReply::from(reply)).into_response())
}

pub(super) async fn stream_message(
    state: AppState,
    request: pb::SendMessageRequest,
) -> Result<Response, ApiError> {
    let mut stream = state
        .backends
        .conversation()
        .stream_message(state.backends.streaming(request))
        .await
        .map_err(failed)?
        .into_inner();
    // Hold the response until the reply has started, so that failing before
    // it (budget, providers down) is an HTTP status clients already handle.
    let mut head = Vec::new();
    loop {
        match stream.message().await.map_err(failed)? {
            Some(pb::StreamMessageResponse {
                frame: Some(Frame::Error(e)),
            }) => {
                return Err(ApiError::from_stream_frame(
                    CONVERSATION,
                    e.grpc_code,
                    &e.reason,
                    &e.message,
                ));
            }
            Some(pb::StreamMessageResponse { frame: Some(frame) }) => {
                let started = !matches!(frame, Frame::Accepted(_));
                head.push(frame);
                if started {
                    break;
                }
            }
            Some(pb::StreamMessageResponse { frame: None }) => {}
            None => {
                return Err(ApiError::new(
                    ErrorCode::StreamInterrupted,
                    "the conversation service ended the stream before the reply",
                ));
            }
        }
    }
    let request_id = RequestContext::current()
        .map(|c| c.request_id)
        .unwrap_or_default();
    let events = async_stream::stream! {
        for frame in head {
            let (event, terminal) = frame_event(frame, &request_id);
            yield event;
            if terminal {
                return;
            }
        }
        loop {
            match stream.message().await {
                Ok(Some(pb::StreamMessageResponse { frame: Some(frame) })) => {
                    let (event, terminal) = frame_event(frame, &request_id);
                    yield event;
                    if terminal {
                        return;
                    }
                }
                Ok(Some(_)) => {}
                // A stream without a terminal frame was cut: say so, never close silently.
                Ok(None) => {
                    let e = ApiError::new(ErrorCode::StreamInterrupted, "the reply was cut off");
                    yield error_event(&e, None, &request_id);
                    return;
                }
                Err(status) => {
                    yield error_event(&failed(status), None, &request_id);
                    return;
                }
            }
        }
    };
    Ok(sse::response(events))
}

fn frame_event(frame: Frame, request_id: &str) -> (axum::response::sse::Event, bool) {
    match frame {
        Frame::Accepted(m) => (json_event(Some("accepted"), &MessageDto::from(m)), false),
        Frame::Delta(text) => (
            json_event(Some("delta"), &serde_json::json!({ "text": text })),
            false,
        ),
        Frame::Completed(m) => (json_event(Some("completed"), &MessageDto::from(m)), true),
        Frame::Error(e) => {
            let error =
                ApiError::from_stream_frame(CONVERSATION, e.grpc_code, &e.reason, &e.message);
            (error_event(&error, e.tutor_message, request_id), true)
        }
    }
}

fn error_event(
    error: &ApiError,
    tutor_message: Option<pb::Message>,
    request_id: &str,
) -> axum::response::sse::Event {
    let data = StreamErrorEvent {
        error: super::dto::ErrorDetail {
            code: error.code().to_owned(),
            message: error.message().to_owned(),
            request_id: request_id.to_owned(),
        },
        tutor_message: tutor_message.map(Into::into),
    };
    json_event(Some("error"), &data)
}

/// The tutor's scenarios.
#[utoipa::path(get, path = "/api/talk/scenarios", tag = "talk",
    responses((status = 200, body = ScenarioList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list_scenarios(
    State(state): State<AppState>,
    _caller: Principal,
) -> Result<axum::Json<ScenarioList>, ApiError> {
    let reply = state
        .backends
        .conversation()
        .list_scenarios(state.backends.unary(pb::ListScenariosRequest {}))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(ScenarioList {
        scenarios: reply.scenarios.into_iter().map(Into::into).collect(),
    }))
}

/// Start a practice session.
#[utoipa::path(post, path = "/api/talk/sessions", tag = "talk",
    request_body = CreateSessionBody,
    responses((status = 201, body = SessionDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn create_session(
    State(state): State<AppState>,
    _caller: Principal,
    Json(body): Json<CreateSessionBody>,
) -> Result<(StatusCode, axum::Json<SessionDto>), ApiError> {
    let session = state
        .backends
        .conversation()
        .create_session(state.backends.unary(body.into_proto()))
        .await
        .map_err(failed)?
        .into_inner();
    Ok((StatusCode::CREATED, axum::Json(session.into())))
}

/// The caller's sessions, newest first.
#[utoipa::path(get, path = "/api/talk/sessions", tag = "talk",
    params(ListSessionsQuery),
    responses((status = 200, body = SessionPage), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list_sessions(
    State(state): State<AppState>,
    _caller: Principal,
    Query(q): Query<ListSessionsQuery>,
) -> Result<axum::Json<SessionPage>, ApiError> {
    let reply = state
        .backends
        .conversation()
        .list_sessions(state.backends.unary(pb::ListSessionsRequest {
            page_size: q.page_size.unwrap_or(0),
            page_token: q.page_token.unwrap_or_default(),
            include_archived: q.include_archived.unwrap_or(false),
        }))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(SessionPage {
        sessions: reply.sessions.into_iter().map(Into::into).collect(),
        next_page_token: super::dto::non_empty(reply.next_page_token),
    }))
}

/// One of the caller's sessions (another learner's is 404).
#[utoipa::path(get, path = "/api/talk/sessions/{id}", tag = "talk",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 200, body = SessionDto), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn get_session(
    State(state): State<AppState>,
    _caller: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<SessionDto>, ApiError> {
    let session = state
        .backends
        .conversation()
        .get_session(
            state
                .backends
                .unary(pb::GetSessionRequest { session_id: id }),
        )
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(session.into()))
}

/// Archive or unarchive a session.
#[utoipa::path(patch, path = "/api/talk/sessions/{id}", tag = "talk",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    request_body = UpdateSessionBody,
    responses((status = 200, body = SessionDto), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn update_session(
    State(state): State<AppState>,
    _caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<UpdateSessionBody>,
) -> Result<axum::Json<SessionDto>, ApiError> {
    let session = state
        .backends
        .conversation()
        .update_session(state.backends.unary(pb::UpdateSessionRequest {
            session_id: id,
            archived: body.archived,
        }))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(session.into()))
}

/// Delete a session and its messages.
#[utoipa::path(delete, path = "/api/talk/sessions/{id}", tag = "talk",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn delete_session(
    State(state): State<AppState>,
    _caller: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .backends
        .conversation()
        .delete_session(
            state
                .backends
                .unary(pb::DeleteSessionRequest { session_id: id }),
        )
        .await
        .map_err(failed)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A session's messages, oldest first.
#[utoipa::path(get, path = "/api/talk/sessions/{id}/messages", tag = "talk",
    params(("id" = uuid::Uuid, Path, description = "Session id"), ListMessagesQuery),
    responses((status = 200, body = MessagePage), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list_messages(
    State(state): State<AppState>,
    _caller: Principal,
    Path(id): Path<String>,
    Query(q): Query<ListMessagesQuery>,
) -> Result<axum::Json<MessagePage>, ApiError> {
    let reply = state
        .backends
        .conversation()
        .list_messages(state.backends.unary(pb::ListMessagesRequest {
            session_id: id,
            page_size: q.page_size.unwrap_or(0),
            page_token: q.page_token.unwrap_or_default(),
        }))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(MessagePage {
        messages: reply.messages.into_iter().map(Into::into).collect(),
        next_page_token: super::dto::non_empty(reply.next_page_token),
    }))
}

/// The caller's learner profile.
#[utoipa::path(get, path = "/api/talk/profile", tag = "talk",
    responses((status = 200, body = ProfileDto), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn get_profile(
    State(state): State<AppState>,
    _caller: Principal,
) -> Result<axum::Json<ProfileDto>, ApiError> {
    let profile = state
        .backends
        .conversation()
        .get_profile(state.backends.unary(pb::GetProfileRequest {}))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(profile.into()))
}

/// Change the caller's profile (fields left out stay as they are).
#[utoipa::path(patch, path = "/api/talk/profile", tag = "talk",
    request_body = UpdateProfileBody,
    responses((status = 200, body = ProfileDto), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn update_profile(
    State(state): State<AppState>,
    _caller: Principal,
    Json(body): Json<UpdateProfileBody>,
) -> Result<axum::Json<ProfileDto>, ApiError> {
    let profile = state
        .backends
        .conversation()
        .update_profile(state.backends.unary(body.into_proto()))
        .await
        .map_err(failed)?
        .into_inner();
    Ok(axum::Json(profile.into()))
}
