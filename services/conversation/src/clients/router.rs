//! The llm-router, seen through a thin trait ([`TutorModel`]) so the tutor's
//! logic does not depend on gRPC and tests can plug in a fake.

use crate::config::TutorTier;
use crate::domain::Usage;
use crate::domain::prompt::{PromptMessage, PromptRole};
use fluentedge_proto::router::v1 as pb;
use futures::StreamExt;
use futures::stream::BoxStream;
use pb::llm_router_client::LlmRouterClient;
use pb::stream_complete_response::Frame;
use service_kit::grpc_client::InterceptedChannel;
use service_kit::{ErrorCode, ServiceError};
use std::time::Duration;

/// One tutor reply to ask for.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    /// The router's idempotency key for the budget reservation and usage record.
    pub call_id: String,
    pub tier: TutorTier,
    pub model: Option<String>,
    pub max_tokens: u32,
    pub messages: Vec<PromptMessage>,
    pub user_id: String,
    pub session_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub provider: String,
    pub model: String,
    pub content: String,
    pub usage: Usage,
}

/// Why the router could not answer, with the usage billed so far.
#[derive(Debug, Clone)]
pub struct RouterFailure {
    pub error: ServiceError,
    pub usage: Usage,
}

impl RouterFailure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ServiceError::new(code, message),
            usage: Usage::default(),
        }
    }
}

/// A piece of a streamed reply. A stream that ends without `End` or `Error` was cut.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    Start { provider: String, model: String },
    Delta(String),
    End { usage: Usage },
    Error(RouterFailure),
}

pub type EventStream = BoxStream<'static, StreamEvent>;

#[async_trait::async_trait]
pub trait TutorModel: Send + Sync + 'static {
    async fn complete(&self, req: CompletionRequest) -> Result<Completion, RouterFailure>;
    async fn stream(&self, req: CompletionRequest) -> Result<EventStream, RouterFailure>;
}

/// The real router over gRPC; every call carries the call id, the trace
/// context and the learner's subject (the service-kit interceptor).
#[derive(Clone)]
pub struct GrpcRouter {
    client: LlmRouterClient<InterceptedChannel>,
    timeout: Duration,
}

impl GrpcRouter {
    pub fn new(
        addrs: &str,
        timeout: Duration,
    ) -> Result<Self, service_kit::grpc_client::ChannelError> {
        let channel = service_kit::grpc_client::channel(addrs)?;
        Ok(Self {
            client: LlmRouterClient::new(service_kit::grpc_client::intercepted(channel)),
            timeout,
        })
    }

    fn request(&self, req: CompletionRequest) -> tonic::Request<pb::CompleteRequest> {
        let tier = match req.tier {
            TutorTier::Sota => pb::Tier::Sota,
            TutorTier::CostEffective => pb::Tier::CostEffective,
        };
        let messages = req
            .messages
            .into_iter()
            .map(|m| pb::ChatMessage {
                role: match m.role {
                    PromptRole::System => pb::Role::System,
                    PromptRole::User => pb::Role::User,
                    PromptRole::Assistant => pb::Role::Assistant,
                } as i32,
                content: m.content,
                ..Default::default()
            })
            .collect();
        let mut request = tonic::Request::new(pb::CompleteRequest {
            call_id: req.call_id,
            tier: tier as i32,
            model: req.model.unwrap_or_default(),
            messages,
            max_tokens: req.max_tokens,
            caller: Some(pb::CallerContext {
                user_id: req.user_id,
                session_id: req.session_id,
                service: crate::SERVICE.to_owned(),
            }),
            ..Default::default()
        });
        request.set_timeout(self.timeout);
        request
    }
}

fn usage(u: Option<pb::Usage>) -> Usage {
    u.map(|u| Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cost_micro_usd: u.cost_micro_usd,
    })
    .unwrap_or_default()
}

fn failure(status: &tonic::Status) -> RouterFailure {
    RouterFailure {
        error: ServiceError::from_status(status),
        usage: Usage::default(),
    }
}

/// A router stream frame as an event (`None`: an empty frame, skipped).
fn event(frame: Frame) -> StreamEvent {
    match frame {
        Frame::Start(s) => StreamEvent::Start {
            provider: s.provider,
            model: s.model,
        },
        Frame::Delta(d) => StreamEvent::Delta(d.text),
        // The tutor offers no tools, so a tool call is a broken answer.
        Frame::ToolCall(_) => StreamEvent::Error(RouterFailure {
            error: ServiceError::new(
                ErrorCode::Internal,
                "the model answered with a tool call, but the tutor offers no tools",
            ),
            usage: Usage::default(),
        }),
        Frame::End(e) => StreamEvent::End {
            usage: usage(e.usage),
        },
        Frame::Error(e) => {
            let code = ErrorCode::from_reason(&e.reason).unwrap_or_else(|| {
                ErrorCode::of_status(&tonic::Status::new(
                    tonic::Code::from_i32(i32::try_from(e.grpc_code).unwrap_or(2)),
                    "",
                ))
            });
            StreamEvent::Error(RouterFailure {
                error: ServiceError::new(code, e.message),
                usage: usage(e.usage),
            })
        }
    }
}

#[async_trait::async_trait]
impl TutorModel for GrpcRouter {
    async fn complete(&self, req: CompletionRequest) -> Result<Completion, RouterFailure> {
        let mut client = self.client.clone();
        let reply = client
            .complete(self.request(req))
            .await
            .map_err(|s| failure(&s))?
            .into_inner();
        Ok(Completion {
            provider: reply.provider,
            model: reply.model,
            content: reply.content,
            usage: usage(reply.usage),
        })
    }

    async fn stream(&self, req: CompletionRequest) -> Result<EventStream, RouterFailure> {
        let mut client = self.client.clone();
        let frames = client
            .stream_complete(self.request(req))
            .await
            .map_err(|s| failure(&s))?
            .into_inner();
        let events = frames.filter_map(|item| async move {
            match item {
                Ok(resp) => resp.frame.map(event),
                // A status in the middle of a stream: the connection or the
                // router broke off. Keep a reason the router gave, else "cut".
                Err(status) => {
                    let mut f = failure(&status);
                    if status
                        .metadata()
                        .get(service_kit::error::REASON_METADATA)
                        .is_none()
                    {
                        f.error = ServiceError::new(
                            ErrorCode::StreamInterrupted,
                            format!("the router's stream broke off: {}", status.message()),
                        );
                    }
                    Some(StreamEvent::Error(f))
                }
            }
        });
        Ok(events.boxed())
    }
}
