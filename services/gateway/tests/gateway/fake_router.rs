//! The fake llm-router: LlmRouter and RouterAdmin.

use super::{FrameStream, Recorder, budget, providers_down, ts};
use fluentedge_proto::router::v1 as router;
use parking_lot::Mutex;
use service_kit::{ErrorCode, ServiceError};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// The `created` every model of the fake catalogue carries.
pub const FAKE_MODELS_CREATED: i64 = 1_700_000_000;

#[derive(Clone, Default)]
pub struct FakeRouter {
    pub seen: Recorder,
    pub last_complete: Arc<Mutex<Option<router::CompleteRequest>>>,
    pub last_embed: Arc<Mutex<Option<router::EmbedRequest>>>,
    pub admin_calls: Arc<Mutex<Vec<(String, String, String)>>>,
    override_provider: Arc<Mutex<String>>,
}

/// With tools offered and the conversation not ending in a tool result: one
/// call of the first tool with `{"city":"Paris"}` (id `call_1`).
fn tool_call_for(req: &router::CompleteRequest) -> Option<router::ToolCall> {
    let answered = req
        .messages
        .last()
        .is_some_and(|m| m.role == router::Role::Tool as i32);
    let tool = req.tools.first().filter(|_| !answered)?;
    Some(router::ToolCall {
        id: "call_1".into(),
        name: tool.name.clone(),
        arguments: r#"{"city":"Paris"}"#.into(),
    })
}

fn completion_for(req: &router::CompleteRequest) -> String {
    let last = req
        .messages
        .last()
        .map(|m| m.content.as_str())
        .unwrap_or_default();
    format!("echo: {last}")
}

#[tonic::async_trait]
impl router::llm_router_server::LlmRouter for FakeRouter {
    async fn complete(
        &self,
        req: Request<router::CompleteRequest>,
    ) -> Result<Response<router::CompleteResponse>, Status> {
        self.seen.record("Complete", &req);
        let r = req.into_inner();
        *self.last_complete.lock() = Some(r.clone());
        match r.model.as_str() {
            "budget-exhausted" => return Err(budget()),
            "all-down" => return Err(providers_down()),
            "slow" => tokio::time::sleep(Duration::from_secs(3)).await,
            _ => {}
        }
        let call = tool_call_for(&r);
        Ok(Response::new(router::CompleteResponse {
            call_id: "rq-1".into(),
            provider: "azure".into(),
            model: "fake-model".into(),
            content: if call.is_some() {
                String::new()
            } else {
                completion_for(&r)
            },
            finish_reason: if call.is_some() {
                router::FinishReason::ToolCalls as i32
            } else {
                router::FinishReason::Stop as i32
            },
            tool_calls: call.into_iter().collect(),
            usage: Some(router::Usage {
                input_tokens: 10,
                output_tokens: 5,
                cost_micro_usd: 42,
                price_version: "v1".into(),
            }),
            served_tier: r.tier,
            attempts: 1,
            latency_ms: 3,
        }))
    }

    async fn stream_complete(
        &self,
        req: Request<router::CompleteRequest>,
    ) -> Result<Response<FrameStream<router::StreamCompleteResponse>>, Status> {
        use router::stream_complete_response::Frame;
        self.seen.record("StreamComplete", &req);
        let r = req.into_inner();
        *self.last_complete.lock() = Some(r.clone());
        let f = |frame| Ok(router::StreamCompleteResponse { frame: Some(frame) });
        let start = f(Frame::Start(router::StreamStart {
            call_id: "rq-2".into(),
            provider: "azure".into(),
            model: "fake-model".into(),
            served_tier: r.tier,
        }));
        let delta = |t: &str| f(Frame::Delta(router::TextDelta { text: t.into() }));
        let error = |code: ErrorCode, msg: &str| {
            f(Frame::Error(router::StreamError {
                grpc_code: code.grpc_code() as u32,
                reason: code.reason().into(),
                message: msg.into(),
                usage: None,
            }))
        };
        let usage = Some(router::Usage {
            input_tokens: 10,
            output_tokens: 3,
            cost_micro_usd: 30,
            price_version: "v1".into(),
        });
        let frames = match r.model.as_str() {
            "all-down" => return Err(providers_down()),
            "budget-exhausted" => vec![
                start,
                error(
                    ErrorCode::BudgetExceeded,
                    "the monthly AI budget is exhausted",
                ),
            ],
            "cut-stream" => vec![
                start,
                delta("Hello"),
                error(ErrorCode::StreamInterrupted, "azure cut the stream"),
            ],
            "drop-stream" => vec![start, delta("Hello")],
            _ if tool_call_for(&r).is_some() => {
                let call = tool_call_for(&r).unwrap_or_default();
                let piece = |index: u32, id: &str, name: &str, arguments: &str| {
                    f(Frame::ToolCall(router::ToolCallDelta {
                        index,
                        id: id.into(),
                        name: name.into(),
                        arguments: arguments.into(),
                    }))
                };
                vec![
                    start,
                    piece(0, &call.id, &call.name, ""),
                    piece(0, "", "", r#"{"city":"#),
                    piece(0, "", "", r#""Paris"}"#),
                    f(Frame::End(router::StreamEnd {
                        finish_reason: router::FinishReason::ToolCalls as i32,
                        usage,
                        attempts: 1,
                        latency_ms: 2,
                    })),
                ]
            }
            _ => vec![
                start,
                delta("Hello"),
                delta(", "),
                delta("world"),
                f(Frame::End(router::StreamEnd {
                    finish_reason: router::FinishReason::Stop as i32,
                    usage,
                    attempts: 1,
                    latency_ms: 2,
                })),
            ],
        };
        Ok(Response::new(Box::pin(futures::stream::iter(frames))))
    }

    async fn embed(
        &self,
        req: Request<router::EmbedRequest>,
    ) -> Result<Response<router::EmbedResponse>, Status> {
        self.seen.record("Embed", &req);
        let r = req.into_inner();
        *self.last_embed.lock() = Some(r.clone());
        if r.model == "budget-exhausted" {
            return Err(budget());
        }
        let dims = if r.dimensions == 0 {
            3
        } else {
            r.dimensions as usize
        };
        let embeddings = r
            .inputs
            .iter()
            .map(|text| router::Embedding {
                values: (0..dims)
                    .map(|i| text.len() as f32 + i as f32 * 0.5)
                    .collect(),
            })
            .collect();
        let tokens = r.inputs.iter().map(|t| t.len() as u64).sum();
        Ok(Response::new(router::EmbedResponse {
            call_id: "rq-3".into(),
            provider: "azure".into(),
            model: "fake-embedding".into(),
            embeddings,
            usage: Some(router::Usage {
                input_tokens: tokens,
                output_tokens: 0,
                cost_micro_usd: 1,
                price_version: "v1".into(),
            }),
        }))
    }

    async fn list_models(
        &self,
        req: Request<router::ListModelsRequest>,
    ) -> Result<Response<router::ListModelsResponse>, Status> {
        self.seen.record("ListModels", &req);
        let model = |id: &str, kind: router::ModelKind| router::ModelInfo {
            id: id.into(),
            kind: kind as i32,
            tier: 0,
            candidates: vec![format!("azure/{id}")],
            created: FAKE_MODELS_CREATED,
        };
        Ok(Response::new(router::ListModelsResponse {
            models: vec![
                model("sota", router::ModelKind::Chat),
                model("cost_effective", router::ModelKind::Chat),
                model("text-embedding-3-small", router::ModelKind::Embedding),
            ],
        }))
    }
}

pub fn budget_state(spent: i64) -> router::Budget {
    router::Budget {
        limit_micro_usd: 100_000_000,
        spent_micro_usd: spent,
        reserved_micro_usd: 250_000,
        utilisation_bp: (spent / 10_000) as u32,
        state: router::BudgetState::HalfOpen as i32,
        period_start: ts(1_793_491_200),
        next_reset: ts(1_796_083_200),
        window_start: ts(1_793_491_200),
        alert_threshold_bp: 8000,
        block_threshold_bp: 9500,
        downgrade_enabled: true,
        store: "memory".into(),
    }
}

#[tonic::async_trait]
impl router::router_admin_server::RouterAdmin for FakeRouter {
    async fn get_budget(
        &self,
        req: Request<router::GetBudgetRequest>,
    ) -> Result<Response<router::GetBudgetResponse>, Status> {
        self.seen.record("GetBudget", &req);
        Ok(Response::new(router::GetBudgetResponse {
            budget: Some(budget_state(85_123_456)),
        }))
    }

    async fn reset_budget(
        &self,
        req: Request<router::ResetBudgetRequest>,
    ) -> Result<Response<router::ResetBudgetResponse>, Status> {
        self.seen.record("ResetBudget", &req);
        let r = req.into_inner();
        self.admin_calls
            .lock()
            .push(("reset".into(), r.actor, r.reason));
        let mut after = budget_state(0);
        after.state = router::BudgetState::Closed as i32;
        Ok(Response::new(router::ResetBudgetResponse {
            before: Some(budget_state(85_123_456)),
            after: Some(after),
        }))
    }

    async fn list_providers(
        &self,
        req: Request<router::ListProvidersRequest>,
    ) -> Result<Response<router::ListProvidersResponse>, Status> {
        self.seen.record("ListProviders", &req);
        let p = |name: &str, priority, state: router::BreakerState| router::ProviderStatus {
            name: name.into(),
            configured: true,
            breaker_state: state as i32,
            consecutive_failures: if state == router::BreakerState::Open {
                5
            } else {
                0
            },
            last_error: if state == router::BreakerState::Open {
                "HTTP 503".into()
            } else {
                String::new()
            },
            last_failure_at: if state == router::BreakerState::Open {
                ts(1_793_500_000)
            } else {
                None
            },
            recent_latency_ms: 420,
            retry_at: None,
            priority,
            base_url: format!("https://{name}.example"),
        };
        Ok(Response::new(router::ListProvidersResponse {
            providers: vec![
                p("azure", 0, router::BreakerState::Open),
                p("anthropic", 1, router::BreakerState::Closed),
            ],
            override_provider: self.override_provider.lock().clone(),
        }))
    }

    async fn set_provider_override(
        &self,
        req: Request<router::SetProviderOverrideRequest>,
    ) -> Result<Response<router::SetProviderOverrideResponse>, Status> {
        self.seen.record("SetProviderOverride", &req);
        let r = req.into_inner();
        if !r.provider.is_empty() && r.provider != "azure" && r.provider != "anthropic" {
            return Err(
                ServiceError::invalid(format!("unknown provider {:?}", r.provider)).into_status(),
            );
        }
        self.admin_calls
            .lock()
            .push(("override".into(), r.actor, r.provider.clone()));
        let previous = std::mem::replace(&mut *self.override_provider.lock(), r.provider.clone());
        Ok(Response::new(router::SetProviderOverrideResponse {
            previous,
            current: r.provider,
        }))
    }
}
