//! The fake conversation service: sessions owned by the subject metadata.

use super::{FrameStream, Recorder, budget, providers_down, subject_of, ts};
use fluentedge_proto::conversation::v1 as conv;
use parking_lot::Mutex;
use service_kit::{ErrorCode, ServiceError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

#[derive(Default)]
pub struct ConversationState {
    /// session id → (owner, session)
    sessions: HashMap<String, (String, conv::Session)>,
    messages: HashMap<String, Vec<conv::Message>>,
    profiles: HashMap<String, conv::Profile>,
    next: u32,
}

#[derive(Clone, Default)]
pub struct FakeConversation {
    pub seen: Recorder,
    state: Arc<Mutex<ConversationState>>,
}

impl FakeConversation {
    fn owned_session(&self, owner: &str, id: &str) -> Result<conv::Session, Status> {
        if let Some(code) = id.strip_prefix("fail-") {
            let code = tonic::Code::from_i32(code.parse().unwrap());
            return Err(Status::new(code, "injected failure"));
        }
        if let Some(reason) = id.strip_prefix("reason-") {
            let code = ErrorCode::from_reason(reason).unwrap();
            return Err(ServiceError::new(code, format!("injected {reason}")).into_status());
        }
        match self.state.lock().sessions.get(id) {
            Some((o, s)) if o == owner => Ok(s.clone()),
            _ => Err(ServiceError::not_found(format!("no session {id}")).into_status()),
        }
    }

    fn message(session: &str, role: conv::MessageRole, content: &str, n: u32) -> conv::Message {
        conv::Message {
            id: format!("m-{n}"),
            session_id: session.to_owned(),
            role: role as i32,
            content: content.to_owned(),
            status: conv::MessageStatus::Completed as i32,
            input_tokens: if role == conv::MessageRole::Tutor {
                12
            } else {
                0
            },
            output_tokens: if role == conv::MessageRole::Tutor {
                7
            } else {
                0
            },
            cost_micro_usd: if role == conv::MessageRole::Tutor {
                1_234_567
            } else {
                0
            },
            provider: if role == conv::MessageRole::Tutor {
                "azure".into()
            } else {
                String::new()
            },
            model: String::new(),
            call_id: String::new(),
            created_at: ts(1_790_000_000),
            client_message_id: String::new(),
        }
    }

    /// Stores the learner message and the tutor's reply; returns both.
    fn exchange(
        &self,
        owner: &str,
        req: &conv::SendMessageRequest,
    ) -> Result<(conv::Message, conv::Message), Status> {
        self.owned_session(owner, &req.session_id)?;
        let mut st = self.state.lock();
        st.next += 2;
        let n = st.next;
        let mut learner =
            Self::message(&req.session_id, conv::MessageRole::Learner, &req.content, n);
        learner.client_message_id = req.client_message_id.clone();
        let tutor = Self::message(
            &req.session_id,
            conv::MessageRole::Tutor,
            &format!("Tutor: {}", req.content),
            n + 1,
        );
        let list = st.messages.entry(req.session_id.clone()).or_default();
        list.push(learner.clone());
        list.push(tutor.clone());
        Ok((learner, tutor))
    }
}

#[tonic::async_trait]
impl conv::conversation_service_server::ConversationService for FakeConversation {
    async fn list_scenarios(
        &self,
        req: Request<conv::ListScenariosRequest>,
    ) -> Result<Response<conv::ListScenariosResponse>, Status> {
        subject_of(self.seen.record("ListScenarios", &req))?;
        let scenario = |id: &str, title: &str| conv::Scenario {
            id: id.into(),
            title: title.into(),
            description: format!("Practise {title}"),
            category: "work".into(),
            tutor_role: "a hiring manager".into(),
            goals: vec!["answer clearly".into()],
            opening_line: "Hello!".into(),
        };
        Ok(Response::new(conv::ListScenariosResponse {
            scenarios: vec![
                scenario("job_interview", "Job interview"),
                scenario("restaurant", "Ordering food"),
            ],
        }))
    }

    async fn get_profile(
        &self,
        req: Request<conv::GetProfileRequest>,
    ) -> Result<Response<conv::Profile>, Status> {
        let who = subject_of(self.seen.record("GetProfile", &req))?;
        let st = self.state.lock();
        Ok(Response::new(st.profiles.get(&who).cloned().unwrap_or(
            conv::Profile {
                learner_id: who,
                display_name: String::new(),
                level: conv::CefrLevel::B1 as i32,
                native_language: "ja".into(),
                created_at: ts(1_790_000_000),
                updated_at: ts(1_790_000_000),
            },
        )))
    }

    async fn update_profile(
        &self,
        req: Request<conv::UpdateProfileRequest>,
    ) -> Result<Response<conv::Profile>, Status> {
        let who = subject_of(self.seen.record("UpdateProfile", &req))?;
        let r = req.into_inner();
        let mut st = self.state.lock();
        let p = st
            .profiles
            .entry(who.clone())
            .or_insert_with(|| conv::Profile {
                learner_id: who,
                level: conv::CefrLevel::B1 as i32,
                ..Default::default()
            });
        if let Some(n) = r.display_name {
            p.display_name = n;
        }
        if r.level != 0 {
            p.level = r.level;
        }
        if let Some(l) = r.native_language {
            p.native_language = l;
        }
        Ok(Response::new(p.clone()))
    }

    async fn create_session(
        &self,
        req: Request<conv::CreateSessionRequest>,
    ) -> Result<Response<conv::Session>, Status> {
        let who = subject_of(self.seen.record("CreateSession", &req))?;
        let r = req.into_inner();
        if r.scenario_id != "job_interview" && r.scenario_id != "restaurant" {
            return Err(
                ServiceError::invalid(format!("unknown scenario {:?}", r.scenario_id))
                    .into_status(),
            );
        }
        let mut st = self.state.lock();
        st.next += 1;
        let id = format!("s-{}", st.next);
        let session = conv::Session {
            id: id.clone(),
            scenario_id: r.scenario_id,
            level: if r.level == 0 {
                conv::CefrLevel::B1 as i32
            } else {
                r.level
            },
            title: if r.title.is_empty() {
                "Job interview".into()
            } else {
                r.title
            },
            created_at: ts(1_790_000_000),
            updated_at: ts(1_790_000_000),
            archived: false,
            message_count: 0,
        };
        st.sessions.insert(id, (who, session.clone()));
        Ok(Response::new(session))
    }

    async fn get_session(
        &self,
        req: Request<conv::GetSessionRequest>,
    ) -> Result<Response<conv::Session>, Status> {
        let who = subject_of(self.seen.record("GetSession", &req))?;
        self.owned_session(&who, &req.get_ref().session_id)
            .map(Response::new)
    }

    async fn list_sessions(
        &self,
        req: Request<conv::ListSessionsRequest>,
    ) -> Result<Response<conv::ListSessionsResponse>, Status> {
        let who = subject_of(self.seen.record("ListSessions", &req))?;
        let st = self.state.lock();
        let mut sessions: Vec<_> = st
            .sessions
            .values()
            .filter(|(o, _)| *o == who)
            .map(|(_, s)| s.clone())
            .collect();
        sessions.sort_by(|a, b| b.id.cmp(&a.id));
        let size = if req.get_ref().page_size == 0 {
            20
        } else {
            req.get_ref().page_size as usize
        };
        let next = if sessions.len() > size {
            "more".to_owned()
        } else {
            String::new()
        };
        sessions.truncate(size);
        Ok(Response::new(conv::ListSessionsResponse {
            sessions,
            next_page_token: next,
        }))
    }

    async fn update_session(
        &self,
        req: Request<conv::UpdateSessionRequest>,
    ) -> Result<Response<conv::Session>, Status> {
        let who = subject_of(self.seen.record("UpdateSession", &req))?;
        let r = req.into_inner();
        let mut session = self.owned_session(&who, &r.session_id)?;
        if let Some(archived) = r.archived {
            session.archived = archived;
            self.state
                .lock()
                .sessions
                .insert(r.session_id.clone(), (who, session.clone()));
        }
        Ok(Response::new(session))
    }

    async fn delete_session(
        &self,
        req: Request<conv::DeleteSessionRequest>,
    ) -> Result<Response<conv::DeleteSessionResponse>, Status> {
        let who = subject_of(self.seen.record("DeleteSession", &req))?;
        let id = req.into_inner().session_id;
        self.owned_session(&who, &id)?;
        self.state.lock().sessions.remove(&id);
        Ok(Response::new(conv::DeleteSessionResponse {}))
    }

    async fn send_message(
        &self,
        req: Request<conv::SendMessageRequest>,
    ) -> Result<Response<conv::SendMessageResponse>, Status> {
        let who = subject_of(self.seen.record("SendMessage", &req))?;
        let r = req.into_inner();
        match r.content.as_str() {
            "budget" => return Err(budget()),
            "providers" => return Err(providers_down()),
            "slow" => tokio::time::sleep(Duration::from_secs(3)).await,
            _ => {}
        }
        let (learner, tutor) = self.exchange(&who, &r)?;
        Ok(Response::new(conv::SendMessageResponse {
            learner_message: Some(learner),
            tutor_message: Some(tutor),
        }))
    }

    async fn stream_message(
        &self,
        req: Request<conv::SendMessageRequest>,
    ) -> Result<Response<FrameStream<conv::StreamMessageResponse>>, Status> {
        use conv::stream_message_response::Frame;
        let who = subject_of(self.seen.record("StreamMessage", &req))?;
        let r = req.into_inner();
        let (learner, tutor) = self.exchange(&who, &r)?;
        let f = |frame| Ok(conv::StreamMessageResponse { frame: Some(frame) });
        let stream_error = |code: ErrorCode, msg: &str, tutor: Option<conv::Message>| {
            f(Frame::Error(conv::StreamError {
                grpc_code: code.grpc_code() as u32,
                reason: code.reason().into(),
                message: msg.into(),
                tutor_message: tutor,
            }))
        };
        let frames = match r.content.as_str() {
            "budget" => vec![
                f(Frame::Accepted(learner)),
                stream_error(
                    ErrorCode::BudgetExceeded,
                    "the monthly AI budget is exhausted",
                    None,
                ),
            ],
            "cut" => {
                let mut partial = tutor;
                partial.content = "Hel".into();
                partial.status = conv::MessageStatus::Partial as i32;
                vec![
                    f(Frame::Accepted(learner)),
                    f(Frame::Delta("Hel".into())),
                    stream_error(
                        ErrorCode::StreamInterrupted,
                        "the provider cut the stream",
                        Some(partial),
                    ),
                ]
            }
            "drop" => vec![f(Frame::Accepted(learner)), f(Frame::Delta("Hel".into()))],
            _ => vec![
                f(Frame::Accepted(learner)),
                f(Frame::Delta("Tutor: ".into())),
                f(Frame::Delta(r.content.clone())),
                f(Frame::Completed(tutor)),
            ],
        };
        Ok(Response::new(Box::pin(futures::stream::iter(frames))))
    }

    async fn list_messages(
        &self,
        req: Request<conv::ListMessagesRequest>,
    ) -> Result<Response<conv::ListMessagesResponse>, Status> {
        let who = subject_of(self.seen.record("ListMessages", &req))?;
        let r = req.into_inner();
        self.owned_session(&who, &r.session_id)?;
        let all = self
            .state
            .lock()
            .messages
            .get(&r.session_id)
            .cloned()
            .unwrap_or_default();
        let start: usize = r.page_token.parse().unwrap_or(0);
        let size = if r.page_size == 0 {
            50
        } else {
            r.page_size as usize
        };
        let page: Vec<_> = all.iter().skip(start).take(size).cloned().collect();
        let next = if start + size < all.len() {
            (start + size).to_string()
        } else {
            String::new()
        };
        Ok(Response::new(conv::ListMessagesResponse {
            messages: page,
            next_page_token: next,
        }))
    }
}
