//! The `LlmRouter` gRPC surface: `llm_router::run` on port 0, providers
//! served by the simulator, called through the generated client.

use std::net::SocketAddr;

use fluentedge_proto::router::v1 as pb;
use futures::StreamExt;
use llm_router::Config;
use pb::llm_router_client::LlmRouterClient;
use pb::stream_complete_response::Frame;
use provider_sim::{Simulator, Vendor};
use service_kit::grpc_client::{InterceptedChannel, development_operator};
use service_kit::{Env, ServerSettings};
use tokio::sync::oneshot;
use tonic::Code;

use crate::support::*;

pub struct App {
    pub addr: SocketAddr,
    pub client: LlmRouterClient<InterceptedChannel>,
    pub sim: Simulator,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// The router on the embedded defaults with no usage-accounting running:
/// its budget starts the month from zero (`BUDGET_REQUIRE_LEDGER` is off
/// without Redis) and records wait in its outbox.
pub async fn spawn_app(env: &[(&str, &str)]) -> App {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let mut vars = Env::from_pairs(env.iter().copied());
    vars.set("SIMULATOR_URL", sim.base_url());
    vars.set("USAGE_ADDR", "http://127.0.0.1:1");
    vars.set(
        "USAGE_OUTBOX_PATH",
        dir.path().join("outbox.db").display().to_string(),
    );
    if vars.get("ROUTER_RETRY_BASE_MS").is_none() {
        vars.set("ROUTER_RETRY_BASE_MS", "1");
    }
    let mut config = Config::from_env(&vars).unwrap();
    service_kit::auth::install(service_kit::auth::development(
        service_kit::auth::Issuer::Router,
    ));
    config.server = ServerSettings::for_tests();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(llm_router::run(
        config,
        listener,
        Box::pin(async move {
            let _ = stopped.await;
        }),
    ));
    let client = LlmRouterClient::new(development_operator(&addr.to_string()).unwrap());
    App {
        addr,
        client,
        sim,
        _stop: stop,
        _dir: dir,
    }
}

fn message(role: pb::Role, content: &str) -> pb::ChatMessage {
    pb::ChatMessage {
        role: role as i32,
        content: content.into(),
        ..Default::default()
    }
}

pub fn request(tier: pb::Tier, text: &str) -> pb::CompleteRequest {
    pb::CompleteRequest {
        tier: tier as i32,
        messages: vec![
            message(pb::Role::System, SYSTEM),
            message(pb::Role::User, text),
        ],
        max_tokens: 100,
        ..Default::default()
    }
}

/// ceil((in × in_price + out × out_price) / 1M), prices in µUSD per 1M tokens.
fn cost(input: u64, output: u64, in_price: u64, out_price: u64) -> i64 {
    (input * in_price + output * out_price).div_ceil(1_000_000) as i64
}

pub async fn stream_frames(app: &mut App, req: pb::CompleteRequest) -> Vec<Frame> {
    let mut stream = app.client.stream_complete(req).await.unwrap().into_inner();
    let mut frames = Vec::new();
    while let Some(item) = stream.next().await {
        frames.push(item.unwrap().frame.unwrap());
    }
    let terminals = frames
        .iter()
        .filter(|f| matches!(f, Frame::End(_) | Frame::Error(_)))
        .count();
    assert_eq!(terminals, 1, "{frames:?}");
    assert!(matches!(
        frames.last(),
        Some(Frame::End(_) | Frame::Error(_))
    ));
    frames
}

fn streamed_text(frames: &[Frame]) -> String {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Delta(d) => Some(d.text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn complete_serves_the_sota_tier_from_the_primary_with_exact_cost() {
    let mut app = spawn_app(&[]).await;
    let r = app
        .client
        .complete(request(pb::Tier::Sota, "Hello there"))
        .await
        .unwrap()
        .into_inner();
    let reply = expected_reply("Hello there", "gpt-4o");
    assert_eq!(r.provider, "azure");
    assert_eq!(r.model, "gpt-4o");
    assert_eq!(r.content, reply);
    assert_eq!(r.finish_reason, pb::FinishReason::Stop as i32);
    assert_eq!(r.served_tier, pb::Tier::Sota as i32);
    assert_eq!(r.attempts, 1);
    assert!(!r.call_id.is_empty());
    let usage = r.usage.unwrap();
    let expected = expected_usage(&chat("Hello there"), &reply);
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (expected.input_tokens, expected.output_tokens)
    );
    // gpt-4o: $2.50 / $10.00 per 1M tokens.
    assert_eq!(
        usage.cost_micro_usd,
        cost(
            usage.input_tokens,
            usage.output_tokens,
            2_500_000,
            10_000_000
        )
    );
    assert!(usage.cost_micro_usd > 0);
    assert_eq!(usage.price_version, "2025-10-01");
}

#[tokio::test]
async fn stream_complete_starts_with_the_provider_and_ends_with_usage() {
    let mut app = spawn_app(&[]).await;
    let mut req = request(pb::Tier::CostEffective, "Hello there");
    req.call_id = "call-123".into();
    let frames = stream_frames(&mut app, req).await;
    let Some(Frame::Start(start)) = frames.first() else {
        panic!("{frames:?}")
    };
    assert_eq!(start.call_id, "call-123");
    assert_eq!(start.provider, "azure");
    assert_eq!(start.model, "gpt-4o-mini");
    assert_eq!(start.served_tier, pb::Tier::CostEffective as i32);
    let reply = expected_reply("Hello there", "gpt-4o-mini");
    assert_eq!(streamed_text(&frames), reply);
    let Some(Frame::End(end)) = frames.last() else {
        panic!("{frames:?}")
    };
    assert_eq!(end.finish_reason, pb::FinishReason::Stop as i32);
    let usage = end.usage.clone().unwrap();
    assert_eq!(usage.output_tokens, reply.split_whitespace().count() as u64);
    // gpt-4o-mini: $0.15 / $0.60 per 1M tokens.
    assert_eq!(
        usage.cost_micro_usd,
        cost(usage.input_tokens, usage.output_tokens, 150_000, 600_000)
    );
}

#[tokio::test]
async fn a_failing_primary_falls_back_to_anthropic() {
    let mut app = spawn_app(&[]).await;
    app.sim.set_fault(Vendor::Azure, fault("status=503"), None);
    let r = app
        .client
        .complete(request(pb::Tier::Sota, "Hello there"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.provider, "anthropic");
    assert_eq!(r.model, "claude-sonnet-4-5");
    assert_eq!(r.attempts, 5, "azure tried 1 + 3 retries, then anthropic");
    let frames = stream_frames(&mut app, request(pb::Tier::Sota, "Hello there")).await;
    let Some(Frame::Start(start)) = frames.first() else {
        panic!("{frames:?}")
    };
    assert_eq!(start.provider, "anthropic");
    let Some(Frame::End(end)) = frames.last() else {
        panic!("{frames:?}")
    };
    // Its first attempt at azure was the fifth failed one: the breaker opened
    // and the retries were not sent.
    assert_eq!(end.attempts, 2, "azure once, then anthropic");
}

#[tokio::test]
async fn when_every_provider_fails_the_error_names_each() {
    let mut app = spawn_app(&[]).await;
    for v in [
        Vendor::Azure,
        Vendor::Anthropic,
        Vendor::Bedrock,
        Vendor::Vertex,
    ] {
        app.sim.set_fault(v, fault("status=503"), None);
    }
    let status = app
        .client
        .complete(request(pb::Tier::Sota, "Hello there"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        status.metadata().get("x-error-reason").unwrap(),
        "all_providers_failed"
    );
    for p in [
        "azure/gpt-4o",
        "anthropic/",
        "bedrock/",
        "vertex/gemini-2.5-pro",
    ] {
        assert!(status.message().contains(p), "{p}: {}", status.message());
    }
    assert!(status.message().contains("server_error"));

    let frames = stream_frames(&mut app, request(pb::Tier::Sota, "Hello there")).await;
    assert_eq!(frames.len(), 1, "nothing but the error frame: {frames:?}");
    let Some(Frame::Error(e)) = frames.last() else {
        panic!("{frames:?}")
    };
    assert_eq!(e.reason, "all_providers_failed");
    assert_eq!(e.grpc_code, Code::Unavailable as u32);
    assert!(e.message.contains("anthropic/"), "{}", e.message);
}

#[tokio::test]
async fn a_stream_cut_after_its_first_token_ends_with_an_error_and_partial_usage() {
    let mut app = spawn_app(&[]).await;
    app.sim
        .set_fault(Vendor::Azure, fault("cut-after=3"), Some(1));
    let frames = stream_frames(&mut app, request(pb::Tier::Sota, "Hello there")).await;
    assert!(matches!(frames.first(), Some(Frame::Start(s)) if s.provider == "azure"));
    assert_eq!(streamed_text(&frames), "Sure! You said:");
    let Some(Frame::Error(e)) = frames.last() else {
        panic!("{frames:?}")
    };
    assert_eq!(e.reason, "stream_interrupted");
    assert_eq!(e.grpc_code, Code::Unavailable as u32);
    let usage = e.usage.clone().unwrap();
    assert!(
        usage.input_tokens > 0 && usage.output_tokens > 0,
        "{usage:?}"
    );
    assert!(usage.cost_micro_usd > 0);
    // Committed to azure: no fallback once text reached the caller.
    assert_eq!(app.sim.request_count(Vendor::Anthropic), 0);
}

#[tokio::test]
async fn a_content_filter_refusal_is_an_answer_not_a_fallback() {
    let mut app = spawn_app(&[]).await;
    let r = app
        .client
        .complete(request(pb::Tier::Sota, "[[content_filter]] something"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.provider, "azure");
    assert_eq!(r.finish_reason, pb::FinishReason::ContentFilter as i32);
    assert!(r.content.is_empty());
    let frames = stream_frames(&mut app, request(pb::Tier::Sota, "[[content_filter]]")).await;
    let Some(Frame::End(end)) = frames.last() else {
        panic!("{frames:?}")
    };
    assert_eq!(end.finish_reason, pb::FinishReason::ContentFilter as i32);
    assert_eq!(app.sim.request_count(Vendor::Anthropic), 0);
}

#[tokio::test]
async fn embed_uses_the_default_embedding_model() {
    let mut app = spawn_app(&[]).await;
    let r = app
        .client
        .embed(pb::EmbedRequest {
            inputs: vec!["hello".into(), "good morning".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.provider, "azure");
    assert_eq!(r.model, "text-embedding-3-small");
    assert_eq!(r.embeddings.len(), 2);
    assert_eq!(r.embeddings[0].values.len(), 64);
    let usage = r.usage.unwrap();
    assert_eq!(usage.input_tokens, 5);
    // $0.02 per 1M tokens: 5 tokens cost 0.1 µUSD, rounded up to 1.
    assert_eq!(usage.cost_micro_usd, 1);
}

#[tokio::test]
async fn list_models_shows_tiers_aliases_and_candidates_in_order() {
    let mut app = spawn_app(&[]).await;
    let models = app
        .client
        .list_models(pb::ListModelsRequest {})
        .await
        .unwrap()
        .into_inner()
        .models;
    let sota = models.iter().find(|m| m.id == "sota").unwrap();
    assert_eq!(sota.tier, pb::Tier::Sota as i32);
    assert_eq!(sota.kind, pb::ModelKind::Chat as i32);
    assert_eq!(
        sota.candidates,
        [
            "azure/gpt-4o",
            "anthropic/claude-sonnet-4-5",
            "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "vertex/gemini-2.5-pro"
        ]
    );
    assert!(models.iter().any(|m| m.id == "cost_effective"));
    assert!(
        models
            .iter()
            .any(|m| m.id == "gpt-4o-mini" && m.kind == pb::ModelKind::Chat as i32)
    );
    assert!(
        models
            .iter()
            .any(|m| m.id == "text-embedding-3-small" && m.kind == pb::ModelKind::Embedding as i32)
    );
}

#[tokio::test]
async fn invalid_requests_are_invalid_argument_naming_the_field() {
    let mut app = spawn_app(&[]).await;
    let base = request(pb::Tier::Sota, "Hello");
    let cases: Vec<(pb::CompleteRequest, &str)> = vec![
        (
            pb::CompleteRequest {
                messages: vec![],
                ..base.clone()
            },
            "messages",
        ),
        (
            pb::CompleteRequest {
                messages: vec![message(pb::Role::Unspecified, "hi")],
                ..base.clone()
            },
            "messages[0].role",
        ),
        (
            pb::CompleteRequest {
                max_tokens: 10_000_000,
                ..base.clone()
            },
            "max_tokens",
        ),
        (
            pb::CompleteRequest {
                model: "gpt-17".into(),
                ..base.clone()
            },
            "model",
        ),
        (
            pb::CompleteRequest {
                temperature: Some(3.0),
                ..base.clone()
            },
            "temperature",
        ),
        (
            pb::CompleteRequest {
                tier: 42,
                ..base.clone()
            },
            "tier",
        ),
    ];
    for (req, field) in cases {
        let status = app.client.complete(req.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
        let status = app.client.stream_complete(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "stream {field}");
    }
    let status = app
        .client
        .embed(pb::EmbedRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("inputs"));
    // Nothing reached a provider.
    assert!(app.sim.requests().is_empty());
}

#[tokio::test]
async fn a_model_alias_routes_to_its_providers() {
    let mut app = spawn_app(&[]).await;
    let r = app
        .client
        .complete(pb::CompleteRequest {
            model: "claude-haiku-4-5".into(),
            ..request(pb::Tier::Sota, "Hi")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.provider.as_str(), r.model.as_str()),
        ("anthropic", "claude-haiku-4-5")
    );
    assert_eq!(r.served_tier, pb::Tier::Unspecified as i32);
}

#[tokio::test]
async fn llm_provider_pins_the_primary() {
    let mut app = spawn_app(&[("LLM_PROVIDER", "bedrock")]).await;
    let r = app
        .client
        .complete(request(pb::Tier::Sota, "Hi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.provider, "bedrock");
}

#[tokio::test]
async fn ai_mode_local_routes_to_ollama() {
    let mut app = spawn_app(&[("AI_MODE", "local")]).await;
    let r = app
        .client
        .complete(request(pb::Tier::Sota, "Hi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.provider.as_str(), r.model.as_str()),
        ("ollama", "llama3.2")
    );
    assert_eq!(r.usage.unwrap().cost_micro_usd, 0);
}

/// The README's grpcurl commands, through server reflection.
#[tokio::test]
async fn the_readme_grpcurl_commands_work() {
    let app = spawn_app(&[]).await;
    // An operator's token, as `make token ROLE=admin INTERNAL=1` prints it.
    let token = service_kit::auth::development_signer(service_kit::auth::Issuer::Operator)
        .token(Some("ops-jane"), service_kit::auth::Role::Admin)
        .unwrap();
    let header = format!("authorization: Bearer {token}");
    let grpcurl = |data: Option<&'static str>, method: &'static str| {
        let addr = app.addr.to_string();
        let header = header.clone();
        async move {
            let mut cmd = test_support::grpcurl();
            cmd.args(["-plaintext", "-H", &header]);
            if let Some(data) = data {
                cmd.args(["-d", data]);
            }
            let out = cmd.arg(addr).arg(method).output().await.unwrap();
            assert!(
                out.status.success(),
                "{method}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let data =
        r#"{"tier":"TIER_COST_EFFECTIVE","messages":[{"role":"ROLE_USER","content":"Hello"}]}"#;
    for method in [
        "fluentedge.router.v1.LlmRouter/Complete",
        "fluentedge.router.v1.LlmRouter/StreamComplete",
    ] {
        let stdout = grpcurl(Some(data), method).await;
        assert!(
            stdout.contains("\"provider\": \"azure\""),
            "{method}: {stdout}"
        );
        assert!(stdout.contains("costMicroUsd"), "{method}: {stdout}");
    }
    let budget = grpcurl(None, "fluentedge.router.v1.RouterAdmin/GetBudget").await;
    assert!(budget.contains("BUDGET_STATE_CLOSED"), "{budget}");
    assert!(budget.contains("\"store\": \"memory\""), "{budget}");
    let pinned = grpcurl(
        Some(r#"{"provider":"anthropic","actor":"ops-jane","reason":"azure incident"}"#),
        "fluentedge.router.v1.RouterAdmin/SetProviderOverride",
    )
    .await;
    assert!(pinned.contains("\"current\": \"anthropic\""), "{pinned}");
    let providers = grpcurl(None, "fluentedge.router.v1.RouterAdmin/ListProviders").await;
    assert!(
        providers.contains("\"overrideProvider\": \"anthropic\""),
        "{providers}"
    );
    grpcurl(
        Some(r#"{"provider":"","actor":"ops-jane","reason":"resolved"}"#),
        "fluentedge.router.v1.RouterAdmin/SetProviderOverride",
    )
    .await;
    let health = grpcurl(None, "grpc.health.v1.Health/Check").await;
    assert!(health.contains("\"SERVING\""), "{health}");
}

#[tokio::test]
async fn fallback_skips_vendors_that_cannot_honour_a_parameter() {
    // Bedrock first (LLM_PROVIDER): it has no seed, so Azure, the next in
    // fallback order, serves the call with the seed, and Bedrock is never asked.
    let mut app = spawn_app(&[("LLM_PROVIDER", "bedrock")]).await;
    let r = app
        .client
        .complete(pb::CompleteRequest {
            seed: Some(42),
            ..request(pb::Tier::Sota, "Hi")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.provider, "azure");
    let sent = app.sim.requests();
    assert!(sent.iter().all(|s| s.vendor != Vendor::Bedrock), "{sent:?}");
    let azure = sent
        .iter()
        .rev()
        .find(|s| s.vendor == Vendor::Azure)
        .unwrap();
    assert_eq!(azure.json().unwrap()["seed"], 42);
}

#[tokio::test]
async fn a_temperature_above_anthropics_range_goes_to_bedrock_rather_than_being_clamped() {
    let mut app = spawn_app(&[]).await;
    let r = app
        .client
        .complete(pb::CompleteRequest {
            model: "claude-haiku-4-5".into(),
            temperature: Some(1.5),
            ..request(pb::Tier::Unspecified, "Hi")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.provider, "bedrock");
    assert!(
        app.sim
            .requests()
            .iter()
            .all(|s| s.vendor != Vendor::Anthropic),
        "anthropic was not asked"
    );
}

#[tokio::test]
async fn a_parameter_no_candidate_honours_is_invalid_naming_it_and_the_vendors() {
    let mut app = spawn_app(&[]).await;
    for streamed in [false, true] {
        let req = pb::CompleteRequest {
            model: "claude-haiku-4-5".into(),
            presence_penalty: Some(0.5),
            ..request(pb::Tier::Unspecified, "Hi")
        };
        let status = if streamed {
            app.client.stream_complete(req).await.err().unwrap()
        } else {
            app.client.complete(req).await.unwrap_err()
        };
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "presence_penalty: not supported by anthropic, bedrock (serving claude-haiku-4-5)"
        );
    }
    assert!(app.sim.requests().is_empty(), "no vendor was asked");
}

#[tokio::test]
async fn models_carry_the_time_the_configuration_was_loaded() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut app = spawn_app(&[]).await;
    let models = app
        .client
        .list_models(pb::ListModelsRequest {})
        .await
        .unwrap()
        .into_inner()
        .models;
    assert!(!models.is_empty());
    for m in &models {
        assert!(
            (before..before + 60).contains(&m.created),
            "{}: {}",
            m.id,
            m.created
        );
    }
}
