//! AWS Bedrock (Converse, ConverseStream, Titan embeddings) against the simulator.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llm_providers::bedrock::Bedrock;
use llm_providers::transport::sigv4::{AwsCredentials, Signer};
use llm_providers::{EmbedRequest, ErrorKind, FinishReason, Provider, Timeouts};
use provider_sim::{RecordedRequest, Vendor};
use secrecy::SecretString;

use crate::support::*;
use llm_providers::ChatSupport;

const MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

fn credentials(token: Option<&str>) -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIDTESTEXAMPLE".into(),
        secret_access_key: SecretString::from("test/secret/key"),
        session_token: token.map(SecretString::from),
    }
}

fn bedrock(sim: &provider_sim::Simulator, t: Timeouts, token: Option<&str>) -> Bedrock {
    Bedrock::new(
        "bedrock",
        http(&t),
        t,
        &sim.base_url(),
        Signer::new(&credentials(token), "us-east-1", "bedrock"),
    )
}

/// `20250102T030405Z` → SystemTime.
fn amz_date(s: &str) -> SystemTime {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").unwrap();
    UNIX_EPOCH + Duration::from_secs(t.and_utc().timestamp() as u64)
}

/// Signs the recorded request again, from its own bytes and date: the
/// signature the client sent must be the one those bytes deserve.
fn assert_signed_correctly(
    sim: &provider_sim::Simulator,
    sent: &RecordedRequest,
    token: Option<&str>,
) {
    let auth = sent.header("authorization").unwrap();
    let date = sent.header("x-amz-date").unwrap();
    let today = &date[..8];
    assert!(
        auth.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIDTESTEXAMPLE/{today}/us-east-1/bedrock/aws4_request, SignedHeaders="
        )),
        "{auth}"
    );
    let signed = auth
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let expected = if token.is_some() {
        "accept;content-type;host;x-amz-date;x-amz-security-token"
    } else {
        "accept;content-type;host;x-amz-date"
    };
    assert_eq!(signed, expected);
    let signature = auth.rsplit("Signature=").next().unwrap();
    assert_eq!(signature.len(), 64);
    assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));

    let url = format!("{}{}", sim.base_url(), sent.path);
    let headers = [
        ("content-type", sent.header("content-type").unwrap()),
        ("accept", sent.header("accept").unwrap()),
    ];
    let again = Signer::new(&credentials(token), "us-east-1", "bedrock")
        .sign("POST", &url, &headers, &sent.body, amz_date(date))
        .unwrap();
    let again_auth = again
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.to_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(again_auth, auth);
}

#[tokio::test]
async fn converse_is_signed_and_reads_usage() {
    let sim = sim().await;
    let p = bedrock(&sim, timeouts(), None);
    let req = chat("Hello there");
    let r = p.complete(MODEL, &req).await.unwrap();
    let reply = expected_reply("Hello there", MODEL);
    assert_eq!(r.content, reply);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, expected_usage(&req, &reply));

    let sent = last_request(&sim, Vendor::Bedrock);
    // The model id is one path segment: its ':' is escaped.
    assert_eq!(
        sent.path,
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    assert_signed_correctly(&sim, &sent, None);
    let body = sent.json().unwrap();
    assert_eq!(body["system"][0]["text"], SYSTEM);
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["messages"][0]["content"][0]["text"], "Hello there");
    assert_eq!(body["inferenceConfig"]["maxTokens"], 100);
}

#[tokio::test]
async fn converse_stream_decodes_event_stream_frames() {
    let sim = sim().await;
    let p = bedrock(&sim, timeouts(), Some("session-token-value"));
    let req = chat("Hello there");
    let frames = collect(p.stream(MODEL, &req).await.unwrap()).await;
    let reply = expected_reply("Hello there", MODEL);
    assert_eq!(text_of(&frames), reply);
    assert_eq!(done_usage(&frames), expected_usage(&req, &reply));
    let sent = last_request(&sim, Vendor::Bedrock);
    assert!(sent.path.ends_with("/converse-stream"));
    assert_eq!(
        sent.header("accept"),
        Some("application/vnd.amazon.eventstream")
    );
    assert_eq!(
        sent.header("x-amz-security-token"),
        Some("session-token-value")
    );
    assert_signed_correctly(&sim, &sent, Some("session-token-value"));
}

#[tokio::test]
async fn titan_embeddings_one_call_per_input() {
    let sim = sim().await;
    let p = bedrock(&sim, timeouts(), None);
    let req = EmbedRequest {
        inputs: vec!["hello".into(), "good morning".into(), "bye".into()],
        dimensions: Some(8),
    };
    let r = p.embed("amazon.titan-embed-text-v2:0", &req).await.unwrap();
    assert_eq!(r.embeddings.len(), 3);
    assert!(r.embeddings.iter().all(|v| v.len() == 8));
    assert_eq!(r.usage.input_tokens, 2 + 3 + 1);
    assert_eq!(sim.request_count(Vendor::Bedrock), 3);
    let sent = last_request(&sim, Vendor::Bedrock);
    assert_eq!(sent.path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    assert_eq!(sent.json().unwrap()["dimensions"], 8);
}

#[tokio::test]
async fn content_filter_and_every_error_class() {
    let sim = sim().await;
    let p = bedrock(&sim, timeouts(), None);
    let r = p
        .complete(MODEL, &chat("[[content_filter]]"))
        .await
        .unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    check_unary_errors(&sim, Vendor::Bedrock, &p, MODEL).await;
    check_stream_errors(&sim, Vendor::Bedrock, &p, MODEL, "status=429", |k| {
        matches!(k, ErrorKind::RateLimited { .. })
    })
    .await;
}

#[tokio::test]
async fn hang_times_out() {
    let sim = sim().await;
    let p = bedrock(&sim, short_timeouts(), None);
    check_hang(&sim, Vendor::Bedrock, &p, MODEL).await;
}

#[tokio::test]
async fn the_optional_parameters_it_declares_travel() {
    let sim = sim().await;
    let p = bedrock(&sim, timeouts(), None);
    let (support, body) = send_supported_options(
        &sim,
        Vendor::Bedrock,
        &p,
        "anthropic.claude-3-haiku-20240307-v1:0",
    )
    .await;
    // Converse's inferenceConfig has none of them; tools without `none`,
    // single calls or strict tools.
    assert_eq!(
        support,
        ChatSupport {
            tools: true,
            high_temperature: true,
            ..ChatSupport::default()
        }
    );
    assert_eq!(
        body["inferenceConfig"].as_object().unwrap().len(),
        2,
        "{body}"
    );
}
