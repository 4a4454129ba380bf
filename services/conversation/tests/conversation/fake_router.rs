//! A fake llm-router (a real tonic server) whose every call follows a script,
//! for deterministic failure injection, and which records what it was asked.

use fluentedge_proto::router::v1 as pb;
use pb::llm_router_server::{LlmRouter, LlmRouterServer};
use pb::stream_complete_response::Frame;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, oneshot};
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

/// What the next call does (default: `Echo`).
#[derive(Debug, Clone)]
pub enum Script {
    /// Answer "Tutor says: <last user message>", streamed word by word.
    Echo,
    /// Fail the call with this status and `x-error-reason`.
    Fail(tonic::Code, &'static str),
    /// Stream this many deltas, then an error frame with this reason.
    ErrorAfter(usize, &'static str),
    /// Stream this many deltas, then end without a terminal frame (a cut).
    CutAfter(usize),
    /// Like `Echo`, but wait for [`FakeRouter::release`] first (unary) or
    /// after the first delta (stream).
    Gated,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub request: pb::CompleteRequest,
    pub streaming: bool,
    pub subject: Option<String>,
    pub call_id_header: Option<String>,
}

#[derive(Default)]
struct State {
    scripts: Mutex<VecDeque<Script>>,
    calls: Mutex<Vec<Call>>,
}

#[derive(Clone)]
struct Fake {
    state: Arc<State>,
    gate: Arc<Semaphore>,
}

pub struct FakeRouter {
    pub addr: SocketAddr,
    state: Arc<State>,
    gate: Arc<Semaphore>,
    _stop: oneshot::Sender<()>,
}

pub const USAGE: pb::Usage = pb::Usage {
    input_tokens: 120,
    output_tokens: 7,
    cost_micro_usd: 345,
    price_version: String::new(),
};

impl FakeRouter {
    pub async fn spawn() -> FakeRouter {
        let state = Arc::new(State::default());
        let gate = Arc::new(Semaphore::new(0));
        let fake = Fake {
            state: state.clone(),
            gate: gate.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(LlmRouterServer::new(fake))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async move {
                        let _ = stopped.await;
                    },
                ),
        );
        FakeRouter {
            addr,
            state,
            gate,
            _stop: stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Scripts for the next calls, in order.
    pub fn script(&self, scripts: impl IntoIterator<Item = Script>) {
        self.state.scripts.lock().unwrap().extend(scripts);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Lets one gated call go on.
    pub fn release(&self) {
        self.gate.add_permits(1);
    }
}

pub fn reply_words(request: &pb::CompleteRequest) -> Vec<String> {
    let last = request
        .messages
        .last()
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let text = format!("Tutor says: {last}");
    let words: Vec<&str> = text.split(' ').collect();
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                (*w).to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

fn failure(code: tonic::Code, reason: &'static str) -> Status {
    let mut s = Status::new(code, format!("fake router: {reason}"));
    s.metadata_mut()
        .insert("x-error-reason", reason.parse().unwrap());
    s
}

fn frame(f: Frame) -> Result<pb::StreamCompleteResponse, Status> {
    Ok(pb::StreamCompleteResponse { frame: Some(f) })
}

impl Fake {
    fn next(&self, request: &Request<pb::CompleteRequest>, streaming: bool) -> Script {
        let header = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        self.state.calls.lock().unwrap().push(Call {
            request: request.get_ref().clone(),
            streaming,
            subject: service_kit::auth::development_subject(request.metadata()),
            call_id_header: header("x-request-id"),
        });
        self.state
            .scripts
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Script::Echo)
    }
}

#[tonic::async_trait]
impl LlmRouter for Fake {
    async fn complete(
        &self,
        request: Request<pb::CompleteRequest>,
    ) -> Result<Response<pb::CompleteResponse>, Status> {
        let script = self.next(&request, false);
        match script {
            Script::Fail(code, reason) => return Err(failure(code, reason)),
            Script::ErrorAfter(_, reason) => {
                return Err(failure(tonic::Code::Unavailable, reason));
            }
            Script::CutAfter(_) => return Err(Status::unavailable("connection reset")),
            Script::Gated => self.gate.acquire().await.unwrap().forget(),
            Script::Echo => {}
        }
        let req = request.into_inner();
        Ok(Response::new(pb::CompleteResponse {
            call_id: req.call_id.clone(),
            provider: "fake".into(),
            model: "fake-model".into(),
            content: reply_words(&req).concat(),
            finish_reason: pb::FinishReason::Stop as i32,
            usage: Some(USAGE),
            served_tier: req.tier,
            attempts: 1,
            latency_ms: 1,
            ..Default::default()
        }))
    }

    async fn stream_complete(
        &self,
        request: Request<pb::CompleteRequest>,
    ) -> Result<Response<BoxStream<pb::StreamCompleteResponse>>, Status> {
        let script = self.next(&request, true);
        if let Script::Fail(code, reason) = script {
            return Err(failure(code, reason));
        }
        let req = request.into_inner();
        let words = reply_words(&req);
        let gate = self.gate.clone();
        let stream = async_stream::stream! {
            yield frame(Frame::Start(pb::StreamStart {
                call_id: req.call_id.clone(),
                provider: "fake".into(),
                model: "fake-model".into(),
                served_tier: req.tier,
            }));
            let (limit, ending) = match script {
                Script::ErrorAfter(n, reason) => (n, Some(Some(reason))),
                Script::CutAfter(n) => (n, Some(None)),
                _ => (words.len(), None),
            };
            for (i, w) in words.iter().take(limit).enumerate() {
                yield frame(Frame::Delta(pb::TextDelta { text: w.clone() }));
                if i == 0 && matches!(script, Script::Gated) {
                    gate.acquire().await.unwrap().forget();
                }
            }
            match ending {
                None => yield frame(Frame::End(pb::StreamEnd {
                    finish_reason: pb::FinishReason::Stop as i32,
                    usage: Some(USAGE),
                    attempts: 1,
                    latency_ms: 1,
                })),
                Some(Some(reason)) => yield frame(Frame::Error(pb::StreamError {
                    grpc_code: tonic::Code::Unavailable as u32,
                    reason: reason.into(),
                    message: format!("fake router: {reason}"),
                    usage: Some(pb::Usage { input_tokens: 120, output_tokens: 2, cost_micro_usd: 99, price_version: String::new() }),
                })),
                Some(None) => {}
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }
}
