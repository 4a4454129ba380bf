use serde_json::{Value, json};

use crate::support::*;

fn req(sim: &provider_sim::Simulator, body: &Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/v1/messages", sim.base_url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(body)
}

fn body(extra: Value) -> Value {
    let mut b = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{ "type": "text", "text": "You are a friendly tutor." }],
        "messages": [
            { "role": "user", "content": [{ "type": "text", "text": "How are you today?" }] }
        ]
    });
    if let (Some(o), Some(e)) = (b.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    b
}

#[tokio::test]
async fn unary_message_matches_documented_shape() {
    let sim = sim().await;
    let resp = req(&sim, &body(json!({}))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("request-id"));
    let v: Value = resp.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    assert_eq!(v["content"][0]["type"], "text");
    let text = v["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Sure! You said: How are you today."));
    assert_eq!(
        v["usage"]["input_tokens"],
        approx_tokens(&["You are a friendly tutor.", "How are you today?"])
    );
    assert_eq!(v["usage"]["output_tokens"], words(text));
}

#[tokio::test]
async fn streaming_event_sequence() {
    let sim = sim().await;
    let resp = req(&sim, &body(json!({ "stream": true })))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = parse_sse(&resp.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        &names[..3],
        ["message_start", "content_block_start", "ping"]
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    for (e, name) in events.iter().zip(&names) {
        assert_eq!(e.json()["type"], *name, "event name matches data.type");
    }
    let start = events[0].json();
    let input = approx_tokens(&["You are a friendly tutor.", "How are you today?"]);
    assert_eq!(start["message"]["usage"]["input_tokens"], input);
    assert_eq!(start["message"]["usage"]["output_tokens"], 1);
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(
        events[1].json()["content_block"],
        json!({ "type": "text", "text": "" })
    );
    let deltas: Vec<Value> = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(Sse::json)
        .collect();
    assert!(
        deltas
            .iter()
            .all(|d| d["delta"]["type"] == "text_delta" && d["index"] == 0)
    );
    let text: String = deltas
        .iter()
        .map(|d| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert!(text.starts_with("Sure! You said:"));
    let delta = events[events.len() - 2].json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], words(&text));
    assert_eq!(deltas.len() as u64, words(&text));
}

#[tokio::test]
async fn max_tokens_truncation_reports_max_tokens() {
    let sim = sim().await;
    let v: Value = req(&sim, &body(json!({ "max_tokens": 2 })))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["content"][0]["text"], "Sure! You");
    assert_eq!(v["usage"]["output_tokens"], 2);
    let text = req(&sim, &body(json!({ "max_tokens": 2, "stream": true })))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    let delta = events[events.len() - 2].json();
    assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
    assert_eq!(delta["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn required_headers_and_fields() {
    let sim = sim().await;
    let url = format!("{}/v1/messages", sim.base_url());
    let resp = client()
        .post(&url)
        .header("anthropic-version", "2023-06-01")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");

    let resp = client()
        .post(&url)
        .header("x-api-key", "k")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let mut no_max = body(json!({}));
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let resp = req(&sim, &no_max).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens")
    );

    let resp = req(&sim, &json!(null)).body("{oops").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn fault_statuses_map_to_documented_error_types() {
    let sim = sim().await;
    for (status, kind) in [
        (529, "overloaded_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (400, "invalid_request_error"),
        (401, "authentication_error"),
    ] {
        let resp = req(&sim, &body(json!({})))
            .header("x-sim-fault", format!("status={status}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind);
        assert!(v["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn mid_stream_overload_is_an_error_event() {
    let sim = sim().await;
    let resp = req(&sim, &body(json!({ "stream": true })))
        .header("x-sim-fault", "status=529;cut-after=3")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    let deltas = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .count();
    assert_eq!(deltas, 3);
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"));
    let v = last.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert!(
        !events
            .iter()
            .any(|e| e.event.as_deref() == Some("message_stop"))
    );
}

#[tokio::test]
async fn refusal_and_context_length_triggers() {
    let sim = sim().await;
    let refuse = json!({ "messages": [{ "role": "user", "content": "[[content_filter]]" }] });
    let v: Value = req(&sim, &body(refuse.clone()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["stop_reason"], "refusal");
    assert_eq!(v["usage"]["output_tokens"], 0);
    let mut stream = body(refuse);
    stream["stream"] = json!(true);
    let events = parse_sse(
        &req(&sim, &stream)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let delta = events
        .iter()
        .find(|e| e.event.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(delta.json()["delta"]["stop_reason"], "refusal");
    assert_eq!(
        events.last().unwrap().event.as_deref(),
        Some("message_stop")
    );

    let long = json!({ "messages": [{ "role": "user", "content": "[[context_length]]" }] });
    let resp = req(&sim, &body(long)).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("prompt is too long")
    );
}
