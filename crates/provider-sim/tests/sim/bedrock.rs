use provider_sim::Vendor;
use serde_json::{Value, json};

use crate::support::*;

const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1%3A0";

fn url(sim: &provider_sim::Simulator, op: &str) -> String {
    format!("{}/model/{MODEL}/{op}", sim.base_url())
}

fn body(max_tokens: Option<u64>) -> Value {
    let mut b = json!({
        "messages": [{ "role": "user", "content": [{ "text": "Can you help me with my homework?" }] }],
        "system": [{ "text": "Be kind." }],
        "inferenceConfig": { "temperature": 0.5, "topP": 0.9 }
    });
    if let Some(m) = max_tokens {
        b["inferenceConfig"]["maxTokens"] = json!(m);
    }
    b
}

async fn stream_frames(resp: reqwest::Response) -> Vec<aws_smithy_types::event_stream::Message> {
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    decode_frames(&resp.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn converse_matches_documented_shape() {
    let sim = sim().await;
    let resp = sigv4(client().post(url(&sim, "converse")))
        .json(&body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["output"]["message"]["role"], "assistant");
    let text = v["output"]["message"]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(text.starts_with("Sure! You said: Can you help me with my homework."));
    assert!(
        text.ends_with("anthropic.claude-3-5-haiku-20241022-v1:0."),
        "{text}"
    );
    assert_eq!(v["stopReason"], "end_turn");
    let input = approx_tokens(&["Be kind.", "Can you help me with my homework?"]);
    assert_eq!(v["usage"]["inputTokens"], input);
    assert_eq!(v["usage"]["outputTokens"], words(text));
    assert_eq!(v["usage"]["totalTokens"], input + words(text));
    assert!(v["metrics"]["latencyMs"].as_u64().is_some());
    let recorded = sim.requests();
    assert_eq!(recorded[0].path, format!("/model/{MODEL}/converse"));
}

#[tokio::test]
async fn converse_stream_is_a_valid_event_stream() {
    let sim = sim().await;
    let resp = sigv4(client().post(url(&sim, "converse-stream")))
        .json(&body(None))
        .send()
        .await
        .unwrap();
    let frames = stream_frames(resp).await;
    let types: Vec<String> = frames
        .iter()
        .map(|f| frame_header(f, ":event-type"))
        .collect();
    for f in &frames {
        assert_eq!(frame_header(f, ":message-type"), "event");
        assert_eq!(frame_header(f, ":content-type"), "application/json");
    }
    assert_eq!(types[0], "messageStart");
    assert_eq!(frame_json(&frames[0]), json!({ "role": "assistant" }));
    assert_eq!(
        &types[types.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    let deltas: Vec<Value> = frames
        .iter()
        .filter(|f| frame_header(f, ":event-type") == "contentBlockDelta")
        .map(frame_json)
        .collect();
    assert!(deltas.iter().all(|d| d["contentBlockIndex"] == 0));
    let text: String = deltas
        .iter()
        .map(|d| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert!(text.starts_with("Sure! You said:"));
    assert_eq!(
        frame_json(&frames[frames.len() - 2])["stopReason"],
        "end_turn"
    );
    let meta = frame_json(frames.last().unwrap());
    assert_eq!(meta["usage"]["outputTokens"], words(&text));
    assert_eq!(
        meta["usage"]["totalTokens"],
        meta["usage"]["inputTokens"].as_u64().unwrap() + words(&text)
    );
    assert!(meta["metrics"]["latencyMs"].is_u64());
}

#[tokio::test]
async fn max_tokens_truncation() {
    let sim = sim().await;
    let v: Value = sigv4(client().post(url(&sim, "converse")))
        .json(&body(Some(3)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["stopReason"], "max_tokens");
    assert_eq!(v["usage"]["outputTokens"], 3);
    let frames = stream_frames(
        sigv4(client().post(url(&sim, "converse-stream")))
            .json(&body(Some(3)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let stop = frames
        .iter()
        .find(|f| frame_header(f, ":event-type") == "messageStop")
        .unwrap();
    assert_eq!(frame_json(stop)["stopReason"], "max_tokens");
}

#[tokio::test]
async fn sigv4_structure_is_required() {
    let sim = sim().await;
    let resp = client()
        .post(url(&sim, "converse"))
        .json(&body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    let v: Value = resp.json().await.unwrap();
    assert!(v["message"].is_string());

    let resp = client()
        .post(url(&sim, "converse"))
        .header("authorization", "Bearer nope")
        .header("x-amz-date", "20250101T000000Z")
        .json(&body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );

    let wrong_service = "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=".to_owned() + &"a".repeat(64);
    let resp = client()
        .post(url(&sim, "converse"))
        .header("authorization", wrong_service)
        .header("x-amz-date", "20250101T000000Z")
        .json(&body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
}

#[tokio::test]
async fn error_faults_use_amzn_error_type() {
    let sim = sim().await;
    for (status, name) in [
        (429, "ThrottlingException"),
        (400, "ValidationException"),
        (503, "ServiceUnavailableException"),
        (408, "ModelTimeoutException"),
        (500, "InternalServerException"),
    ] {
        let resp = sigv4(client().post(url(&sim, "converse")))
            .header("x-sim-fault", format!("status={status}"))
            .json(&body(None))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(resp.headers()["x-amzn-errortype"], name);
        let v: Value = resp.json().await.unwrap();
        assert!(v["message"].is_string());
    }
}

#[tokio::test]
async fn stream_faults_cut_corrupt_and_exception() {
    let sim = sim().await;
    let resp = sigv4(client().post(url(&sim, "converse-stream")))
        .header("x-sim-fault", "cut-after=2")
        .json(&body(None))
        .send()
        .await
        .unwrap();
    let (bytes, errored) = read_until_error(resp).await;
    assert!(errored, "a cut stream must end in a body error");
    let frames = decode_frames(&bytes).unwrap();
    assert_eq!(frames.len(), 3, "messageStart + 2 deltas");
    assert!(
        !frames
            .iter()
            .any(|f| frame_header(f, ":event-type") == "messageStop")
    );

    let resp = sigv4(client().post(url(&sim, "converse-stream")))
        .header("x-sim-fault", "malformed")
        .json(&body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        decode_frames(&resp.bytes().await.unwrap()).is_err(),
        "corrupt CRC must be rejected"
    );

    sim.set_fault(
        Vendor::Bedrock,
        "status=429;cut-after=1".parse().unwrap(),
        Some(1),
    );
    let resp = sigv4(client().post(url(&sim, "converse-stream")))
        .json(&body(None))
        .send()
        .await
        .unwrap();
    let frames = stream_frames(resp).await;
    let last = frames.last().unwrap();
    assert_eq!(frame_header(last, ":message-type"), "exception");
    assert_eq!(frame_header(last, ":exception-type"), "throttlingException");
    assert!(frame_json(last)["message"].is_string());
}

#[tokio::test]
async fn content_filter_and_context_length() {
    let sim = sim().await;
    let filtered =
        json!({ "messages": [{ "role": "user", "content": [{ "text": "[[content_filter]]" }] }] });
    let v: Value = sigv4(client().post(url(&sim, "converse")))
        .json(&filtered)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["stopReason"], "content_filtered");
    let long =
        json!({ "messages": [{ "role": "user", "content": [{ "text": "[[context_length]]" }] }] });
    let resp = sigv4(client().post(url(&sim, "converse")))
        .json(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-amzn-errortype"], "ValidationException");
}

#[tokio::test]
async fn titan_embeddings_via_invoke() {
    let sim = sim().await;
    let resp = sigv4(client().post(format!(
        "{}/model/amazon.titan-embed-text-v2:0/invoke",
        sim.base_url()
    )))
    .json(&json!({ "inputText": "good evening", "dimensions": 256, "normalize": true }))
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["embedding"].as_array().unwrap().len(), 256);
    assert_eq!(v["inputTextTokenCount"], approx_tokens(&["good evening"]));
    let resp = sigv4(client().post(format!(
        "{}/model/amazon.titan-embed-text-v2:0/invoke",
        sim.base_url()
    )))
    .json(&json!({ "text": "wrong" }))
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
}
