use serde_json::{Value, json};

use crate::support::*;

fn chat_body(extra: Value) -> Value {
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            { "role": "system", "content": "You are a tutor." },
            { "role": "user", "content": "I would like to order a coffee, please." }
        ]
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

async fn post(sim: &provider_sim::Simulator, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .bearer_auth("sk-test")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn unary_chat_matches_documented_shape() {
    let sim = sim().await;
    let resp = post(&sim, &chat_body(json!({}))).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v: Value = resp.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["model"], "gpt-4o-mini");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["finish_reason"], "stop");
    let content = choice["message"]["content"].as_str().unwrap();
    assert_eq!(
        content,
        "Sure! You said: I would like to order a coffee, please. Let's keep practising with gpt-4o-mini."
    );
    let usage = &v["usage"];
    let prompt = approx_tokens(&[
        "You are a tutor.",
        "I would like to order a coffee, please.",
    ]);
    assert_eq!(usage["prompt_tokens"], prompt);
    assert_eq!(usage["completion_tokens"], words(content));
    assert_eq!(usage["total_tokens"], prompt + words(content));
}

#[tokio::test]
async fn replies_are_deterministic() {
    let sim = sim().await;
    let a: Value = post(&sim, &chat_body(json!({})))
        .await
        .json()
        .await
        .unwrap();
    let b: Value = post(&sim, &chat_body(json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["choices"], b["choices"]);
    assert_eq!(a["usage"], b["usage"]);
}

#[tokio::test]
async fn streaming_chat_with_usage_ends_with_usage_chunk_and_done() {
    let sim = sim().await;
    let resp = post(
        &sim,
        &chat_body(json!({ "stream": true, "stream_options": { "include_usage": true } })),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(Sse::json).collect();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "gpt-4o-mini");
        assert_eq!(c["id"], chunks[0]["id"]);
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.starts_with("Sure! You said: I would like"));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert!(finish["usage"].is_null());
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], words(&text));
    let content_chunks = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count() as u64;
    assert_eq!(content_chunks, words(&text), "one word per chunk");
}

#[tokio::test]
async fn streaming_without_include_usage_has_no_usage() {
    let sim = sim().await;
    let body = post(&sim, &chat_body(json!({ "stream": true })))
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&body);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    for e in &events[..events.len() - 1] {
        let v = e.json();
        assert!(v.get("usage").is_none());
        assert_eq!(v["choices"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn max_tokens_truncates_with_length() {
    let sim = sim().await;
    for field in ["max_tokens", "max_completion_tokens"] {
        let v: Value = post(&sim, &chat_body(json!({ field: 4 })))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        assert_eq!(v["choices"][0]["message"]["content"], "Sure! You said: I");
        assert_eq!(v["usage"]["completion_tokens"], 4);
    }
    let body = post(&sim, &chat_body(json!({ "max_tokens": 3, "stream": true })))
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&body);
    let finish = events[events.len() - 2].json();
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn missing_api_key_is_401() {
    let sim = sim().await;
    let resp = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(&chat_body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("API key"));
    assert!(v["error"].get("param").is_some() && v["error"].get("code").is_some());
}

#[tokio::test]
async fn invalid_bodies_get_openai_400s() {
    let sim = sim().await;
    let resp = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .bearer_auth("k")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let resp = post(&sim, &json!({ "model": "gpt-4o" })).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["param"], "messages");
}

#[tokio::test]
async fn context_length_and_content_filter_triggers() {
    let sim = sim().await;
    let long = json!({ "messages": [{ "role": "user", "content": "tell me [[context_length]]" }] });
    let resp = post(&sim, &chat_body(long)).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "context_length_exceeded");

    let filtered = json!({ "messages": [{ "role": "user", "content": "[[content_filter]] bad" }] });
    let resp = post(&sim, &chat_body(filtered)).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "content_filter");
}

#[tokio::test]
async fn embeddings_floats_base64_and_dimensions() {
    let sim = sim().await;
    let url = format!("{}/v1/embeddings", sim.base_url());
    let v: Value = client()
        .post(&url)
        .bearer_auth("k")
        .json(
            &json!({ "model": "text-embedding-3-small", "input": ["hello world", "good morning"] }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "text-embedding-3-small");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["object"], "embedding");
    let vec0: Vec<f64> = data[0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(vec0.len(), 64);
    assert!((vec0.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-3);
    let tokens = approx_tokens(&["hello world"]) + approx_tokens(&["good morning"]);
    assert_eq!(v["usage"]["prompt_tokens"], tokens);
    assert_eq!(v["usage"]["total_tokens"], tokens);

    let v: Value = client()
        .post(&url)
        .bearer_auth("k")
        .json(&json!({ "model": "m", "input": "hello world", "dimensions": 8, "encoding_format": "base64" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw.len(), 8 * 4);
    let first = f32::from_le_bytes(raw[..4].try_into().unwrap());
    let v8: Value = client()
        .post(&url)
        .bearer_auth("k")
        .json(&json!({ "model": "m", "input": "hello world", "dimensions": 8 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!((v8["data"][0]["embedding"][0].as_f64().unwrap() - f64::from(first)).abs() < 1e-6);
}

#[tokio::test]
async fn models_list_and_ollama_compat_path() {
    let sim = sim().await;
    let v: Value = client()
        .get(format!("{}/v1/models", sim.base_url()))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["object"] == "model" && m["id"].is_string())
    );
    assert_eq!(sim.request_count(provider_sim::Vendor::OpenAi), 1);
}
