//! Traces tell the same story as the logs, checked with a real OTLP receiver
//! (an in-process OTLP/gRPC trace collector): one tutor reply through the
//! gateway continues the caller's `traceparent` as one trace with spans from
//! the gateway, conversation and the router; the usage record's delivery is
//! linked to it; each provider request is a CLIENT span whose context and
//! request id the vendor receives; attribute types are the semantic conventions' (integers for
//! status codes and token counts); a failed provider attempt has ERROR status;
//! an answer's vendor id is the attempt's `gen_ai.response.id`, streamed or not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Attr;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};
use provider_sim::Vendor;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suite::Suite;

/// A received span and the service that exported it.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                    Attr::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                received.extend(scope.spans.into_iter().map(|span| Received {
                    service: service.clone(),
                    span,
                }));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .unwrap();
        });
        format!("http://{addr}")
    }

    fn spans(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until a span satisfies `pred`.
    async fn wait_for(&self, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = self.spans().into_iter().find(|r| pred(r)) {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no span {what}; received: {:#?}",
                self.spans()
                    .iter()
                    .map(|r| (&r.service, &r.span.name))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Attr> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_and_its_usage_record_is_linked_to_it() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let suite = Suite::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        // Export within a fraction of a second rather than the default 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ])
    .await;
    let (status, session) = suite
        .post(
            "trace-session",
            "/api/talk/sessions",
            json!({"scenario_id": "restaurant_order", "level": "B1"}),
        )
        .await;
    assert_eq!(status, 201, "{session}");
    let session: serde_json::Value = serde_json::from_str(&session).unwrap();
    // The first provider fails once: its attempt is an ERROR span, the next answers.
    suite
        .sim
        .set_fault(Vendor::Azure, "status=503".parse().unwrap(), Some(1));
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let (status, body) = suite
        .post_with(
            "trace-talk",
            "/api/talk/message",
            json!({"session_id": session["id"], "content": "A table for two, please."}),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let in_trace = |r: &Received| hex(&r.span.trace_id) == TRACE_ID;
    let gateway = collector
        .wait_for("gateway http.request", |r| {
            in_trace(r) && r.service == "gateway" && r.span.name.starts_with("POST ")
        })
        .await;
    assert_eq!(gateway.span.kind, SpanKind::Server as i32);
    assert_eq!(hex(&gateway.span.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(
        attr(&gateway.span, "http.response.status_code"),
        Some(&Attr::IntValue(200))
    );
    assert_eq!(
        attr(&gateway.span, "http.route"),
        Some(&Attr::StringValue("/api/talk/message".into()))
    );
    // Each hop: the caller's CLIENT span is the parent of the callee's SERVER span.
    for (caller, service) in [("gateway", "conversation"), ("conversation", "llm-router")] {
        let server = collector
            .wait_for(&format!("{service} grpc.request"), |r| {
                in_trace(r) && r.service == service && r.span.kind == SpanKind::Server as i32
            })
            .await;
        let client = collector
            .wait_for(&format!("{caller}'s client span to {service}"), |r| {
                in_trace(r)
                    && r.service == caller
                    && r.span.kind == SpanKind::Client as i32
                    && attr(&r.span, "rpc.method") == attr(&server.span, "rpc.method")
            })
            .await;
        assert_eq!(
            server.span.parent_span_id, client.span.span_id,
            "{caller} → {service}"
        );
        assert_eq!(
            attr(&client.span, "rpc.grpc.status_code"),
            Some(&Attr::IntValue(0))
        );
        assert_eq!(
            attr(&server.span, "rpc.system"),
            Some(&Attr::StringValue("grpc".into()))
        );
        assert_eq!(
            attr(&server.span, "rpc.grpc.status_code"),
            Some(&Attr::IntValue(0)),
            "{service}"
        );
    }
    let failed = collector
        .wait_for("a failed provider attempt", |r| {
            in_trace(r)
                && r.span.name == "provider.attempt"
                && r.span.status.as_ref().map(|s| s.code) == Some(StatusCode::Error as i32)
        })
        .await;
    assert_eq!(
        attr(&failed.span, "gen_ai.request.model"),
        Some(&Attr::StringValue("gpt-4o-mini".into()))
    );
    let answered = collector
        .wait_for("the answering attempt", |r| {
            in_trace(r)
                && r.span.name == "provider.attempt"
                && attr(&r.span, "gen_ai.usage.input_tokens").is_some()
        })
        .await;
    assert!(
        matches!(
            attr(&answered.span, "gen_ai.usage.input_tokens"),
            Some(Attr::IntValue(n)) if *n > 0
        ),
        "{:?}",
        answered.span.attributes
    );
    assert!(matches!(
        attr(&answered.span, "gen_ai.usage.output_tokens"),
        Some(Attr::IntValue(_))
    ));
    assert!(
        matches!(
            attr(&answered.span, "gen_ai.response.finish_reasons"),
            Some(Attr::ArrayValue(a)) if a.values.len() == 1
        ),
        "{:?}",
        answered.span.attributes
    );
    assert!(matches!(
        attr(&answered.span, "gen_ai.response.model"),
        Some(Attr::StringValue(_))
    ));

    // Each provider request is a CLIENT span under its attempt, and the
    // request the vendor received carried that span's context and the
    // caller's request id.
    for attempt in [&failed, &answered] {
        let http = collector
            .wait_for("a provider request's client span", |r| {
                r.span.kind == SpanKind::Client as i32
                    && r.span.parent_span_id == attempt.span.span_id
            })
            .await;
        assert_eq!(
            attr(&http.span, "http.request.method"),
            Some(&Attr::StringValue("POST".into()))
        );
        assert_eq!(
            attr(&http.span, "gen_ai.request.model"),
            attr(&attempt.span, "gen_ai.request.model")
        );
        assert_eq!(
            attr(&http.span, "gen_ai.system"),
            attr(&attempt.span, "gen_ai.system")
        );
        assert!(
            matches!(attr(&http.span, "url.full"), Some(Attr::StringValue(u)) if !u.contains('?')),
            "{:?}",
            http.span.attributes
        );
        assert!(matches!(
            attr(&http.span, "server.address"),
            Some(Attr::StringValue(_))
        ));
        let answered_ok = std::ptr::eq(attempt, &answered);
        assert_eq!(
            attr(&http.span, "http.response.status_code"),
            Some(&Attr::IntValue(if answered_ok { 200 } else { 503 }))
        );
        let status = http.span.status.as_ref().map(|s| s.code);
        assert_eq!(
            status == Some(StatusCode::Error as i32),
            !answered_ok,
            "{status:?}"
        );
        let parent = format!("00-{TRACE_ID}-{}-01", hex(&http.span.span_id));
        let sent = suite
            .sim
            .requests()
            .into_iter()
            .find(|r| r.header("traceparent") == Some(parent.as_str()))
            .unwrap_or_else(|| panic!("no provider request carried traceparent {parent}"));
        assert_eq!(sent.header("x-request-id"), Some("trace-talk"));
    }

    // The usage record travels later, in a batch: its delivery links to the
    // call's trace, and the ledger's RecordUsageBatch is that delivery's call.
    let delivery = collector
        .wait_for("usage.deliver linked to the request", |r| {
            r.span.name == "usage.deliver"
                && r.span.links.iter().any(|l| hex(&l.trace_id) == TRACE_ID)
        })
        .await;
    let recorded = collector
        .wait_for("usage-accounting RecordUsageBatch", |r| {
            r.service == "usage-accounting"
                && r.span.kind == SpanKind::Server as i32
                && r.span.trace_id == delivery.span.trace_id
        })
        .await;
    let call = collector
        .wait_for("the router's RecordUsageBatch client span", |r| {
            r.span.kind == SpanKind::Client as i32 && r.span.trace_id == delivery.span.trace_id
        })
        .await;
    assert_eq!(call.span.parent_span_id, delivery.span.span_id);
    assert_eq!(recorded.span.parent_span_id, call.span.span_id);
    assert_eq!(
        attr(&recorded.span, "rpc.method"),
        Some(&Attr::StringValue("RecordUsageBatch".into()))
    );

    // The answer's vendor id is the attempt's, unary or streamed (the id of
    // a stream comes in its chunks).
    for (stream, trace_id) in [
        (false, "5bf92f3577b34da6a3ce929d0e0e4737"),
        (true, "6bf92f3577b34da6a3ce929d0e0e4738"),
    ] {
        let chat = json!({"model": "cost_effective", "stream": stream,
            "messages": [{"role": "user", "content": "Hi!"}]});
        let (status, body) = suite
            .post_with(
                "trace-id",
                "/v1/chat/completions",
                chat,
                &[("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let attempt = collector
            .wait_for("the attempt", |r| {
                hex(&r.span.trace_id) == trace_id && r.span.name == "provider.attempt"
            })
            .await;
        assert_eq!(
            attr(&attempt.span, "gen_ai.system"),
            Some(&Attr::StringValue("az.ai.openai".into()))
        );
        assert!(
            matches!(
                attr(&attempt.span, "gen_ai.response.id"),
                Some(Attr::StringValue(id)) if id.starts_with("chatcmpl-")
            ),
            "stream: {stream}: {:?}",
            attempt.span.attributes
        );
    }
}
