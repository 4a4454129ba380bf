//! Shared helpers: the simulator, clients, requests, and the error-class matrix.

use std::time::Duration;

use futures::StreamExt;
use llm_providers::transport::http::build_client;
use llm_providers::{
    ChatRequest, ChatSupport, ErrorKind, FrameStream, Message, Provider, ProviderError, Role,
    StreamFrame, Timeouts, TokenUsage,
};
use provider_sim::{Fault, RecordedRequest, SimConfig, Simulator, Vendor};

pub async fn sim() -> Simulator {
    service_kit::install_crypto_provider();
    Simulator::spawn(SimConfig::default()).await.unwrap()
}

pub fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        first_token: Duration::from_secs(5),
        total: Duration::from_secs(10),
    }
}

/// Short enough for the `hang` fault to fail fast.
pub fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        first_token: Duration::from_millis(300),
        total: Duration::from_millis(600),
    }
}

pub fn http(t: &Timeouts) -> reqwest::Client {
    service_kit::install_crypto_provider();
    build_client(t).unwrap()
}

pub const SYSTEM: &str = "You are a friendly English tutor.";

pub fn chat(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::new(Role::System, SYSTEM),
            Message::new(Role::User, text),
        ],
        max_tokens: 100,
        temperature: Some(0.7),
        top_p: None,
        stop: vec![],
        ..Default::default()
    }
}

/// Sends `provider` a request with every optional parameter it declares it
/// honours (seed 7, presence_penalty 0.5, frequency_penalty -0.5, user
/// `learner-7`); returns what it declared and the body the vendor received,
/// in which the caller finds each parameter in the vendor's own form.
pub async fn send_supported_options(
    sim: &Simulator,
    vendor: Vendor,
    provider: &dyn Provider,
    model: &str,
) -> (ChatSupport, serde_json::Value) {
    let support = provider.chat_support();
    let mut req = chat("Hello there");
    req.seed = support.seed.then_some(7);
    req.presence_penalty = support.presence_penalty.then_some(0.5);
    req.frequency_penalty = support.frequency_penalty.then_some(-0.5);
    req.user = support.user.then(|| "learner-7".to_owned());
    assert_eq!(req.unsupported(support), None);
    provider.complete(model, &req).await.unwrap();
    (support, last_request(sim, vendor).json().unwrap())
}

pub use test_support::expected_reply;

/// The simulator's usage: input ceil(chars / 4), output one token per word.
pub fn expected_usage(request: &ChatRequest, reply: &str) -> TokenUsage {
    TokenUsage::new(
        request.prompt_chars().div_ceil(4) as u64,
        reply.split_whitespace().count() as u64,
    )
}

pub async fn collect(stream: FrameStream) -> Vec<StreamFrame> {
    let frames: Vec<StreamFrame> = stream.collect().await;
    let terminals = frames.iter().filter(|f| f.is_terminal()).count();
    assert_eq!(terminals, 1, "exactly one terminal frame: {frames:?}");
    assert!(
        frames.last().is_some_and(StreamFrame::is_terminal),
        "{frames:?}"
    );
    frames
}

pub fn text_of(frames: &[StreamFrame]) -> String {
    frames
        .iter()
        .filter_map(|f| match f {
            StreamFrame::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

pub fn done_usage(frames: &[StreamFrame]) -> TokenUsage {
    match frames.last() {
        Some(StreamFrame::Done { usage, .. }) => *usage,
        other => panic!("not done: {other:?}"),
    }
}

pub fn stream_error(frames: &[StreamFrame]) -> &ProviderError {
    match frames.last() {
        Some(StreamFrame::Error(e)) => e,
        other => panic!("no error frame: {other:?}"),
    }
}

pub fn fault(s: &str) -> Fault {
    s.parse().unwrap()
}

/// The latest model-API request `vendor` received.
pub fn last_request(sim: &Simulator, vendor: Vendor) -> RecordedRequest {
    sim.requests()
        .into_iter()
        .rev()
        .find(|r| r.vendor == vendor && !r.is_token_request())
        .unwrap_or_else(|| panic!("no {vendor} request recorded"))
}

/// Whether an error has the expected class.
pub type KindCheck = fn(&ErrorKind) -> bool;

/// The error classes every vendor must map its answers to.
pub fn unary_fault_matrix() -> Vec<(&'static str, KindCheck)> {
    vec![
        ("status=429;retry-after=2", |k| {
            *k == ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
            }
        }),
        ("status=500", |k| *k == ErrorKind::ServerError(500)),
        ("status=503", |k| *k == ErrorKind::ServerError(503)),
        ("status=529", |k| *k == ErrorKind::Overloaded),
        ("status=401", |k| *k == ErrorKind::Authentication),
        ("status=400", |k| *k == ErrorKind::BadRequest),
        ("malformed", |k| *k == ErrorKind::Malformed),
    ]
}

/// Runs the unary matrix (and `[[context_length]]`) against `provider`.
pub async fn check_unary_errors(
    sim: &Simulator,
    vendor: Vendor,
    provider: &dyn Provider,
    model: &str,
) {
    for (spec, expected) in unary_fault_matrix() {
        sim.set_fault(vendor, fault(spec), Some(1));
        let err = provider
            .complete(model, &chat("Hello there"))
            .await
            .unwrap_err();
        assert!(expected(err.kind()), "{vendor} {spec}: got {err}");
        assert_eq!(
            err.is_retryable(),
            !matches!(
                err.kind(),
                ErrorKind::Authentication | ErrorKind::BadRequest | ErrorKind::Malformed
            ),
            "{vendor} {spec}"
        );
    }
    let err = provider
        .complete(model, &chat("Tell me everything [[context_length]]"))
        .await
        .unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::ContextTooLong, "{vendor}: {err}");
}

/// Stream faults: an HTTP error before the body, a cut after two chunks, an
/// error event mid-stream, a malformed chunk.
pub async fn check_stream_errors(
    sim: &Simulator,
    vendor: Vendor,
    provider: &dyn Provider,
    model: &str,
    mid_stream_status: &str,
    mid_stream: KindCheck,
) {
    sim.set_fault(vendor, fault("status=429;retry-after=2"), Some(1));
    let err = provider
        .stream(model, &chat("Hello there"))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::RateLimited { .. }),
        "{vendor}: {err}"
    );

    sim.set_fault(vendor, fault("cut-after=2"), Some(1));
    let frames = collect(provider.stream(model, &chat("Hello there")).await.unwrap()).await;
    assert_eq!(text_of(&frames), "Sure! You", "{vendor}");
    assert_eq!(
        *stream_error(&frames).kind(),
        ErrorKind::StreamCut,
        "{vendor}"
    );

    sim.set_fault(
        vendor,
        fault(&format!("{mid_stream_status};cut-after=2")),
        Some(1),
    );
    let frames = collect(provider.stream(model, &chat("Hello there")).await.unwrap()).await;
    assert_eq!(text_of(&frames), "Sure! You", "{vendor}");
    let err = stream_error(&frames);
    assert!(mid_stream(err.kind()), "{vendor} mid-stream: {err}");

    sim.set_fault(vendor, fault("malformed"), Some(1));
    let frames = collect(provider.stream(model, &chat("Hello there")).await.unwrap()).await;
    assert_eq!(
        *stream_error(&frames).kind(),
        ErrorKind::Malformed,
        "{vendor}"
    );
}

/// `hang`: unary and streaming calls fail with Timeout within the short timeouts.
pub async fn check_hang(sim: &Simulator, vendor: Vendor, provider: &dyn Provider, model: &str) {
    sim.set_fault(vendor, fault("hang"), Some(2));
    let err = provider
        .complete(model, &chat("Hello there"))
        .await
        .unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Timeout, "{vendor}: {err}");
    let err = provider
        .stream(model, &chat("Hello there"))
        .await
        .err()
        .unwrap();
    assert_eq!(*err.kind(), ErrorKind::Timeout, "{vendor}: {err}");
}
