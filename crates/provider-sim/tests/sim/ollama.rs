use serde_json::{Value, json};

use crate::support::*;

fn chat(sim: &provider_sim::Simulator, body: &Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(body)
}

fn body(extra: Value) -> Value {
    let mut b = json!({
        "model": "llama3.2",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": "What time is it?" }
        ]
    });
    if let (Some(o), Some(e)) = (b.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    b
}

#[tokio::test]
async fn chat_streams_ndjson_by_default() {
    let sim = sim().await;
    let resp = chat(&sim, &body(json!({}))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (last, rest) = lines.split_last().unwrap();
    assert!(
        rest.iter()
            .all(|l| l["done"] == false && l["model"] == "llama3.2" && l["created_at"].is_string())
    );
    let reply: String = rest
        .iter()
        .map(|l| l["message"]["content"].as_str().unwrap())
        .collect();
    assert!(reply.starts_with("Sure! You said: What time is it."));
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(
        last["prompt_eval_count"],
        approx_tokens(&["Be brief.", "What time is it?"])
    );
    assert_eq!(last["eval_count"], words(&reply));
    assert!(last["total_duration"].is_u64());
}

#[tokio::test]
async fn chat_unary_and_num_predict() {
    let sim = sim().await;
    let v: Value = chat(&sim, &body(json!({ "stream": false })))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["done"], true);
    assert_eq!(v["message"]["role"], "assistant");
    let content = v["message"]["content"].as_str().unwrap();
    assert_eq!(v["eval_count"], words(content));
    let v: Value = chat(
        &sim,
        &body(json!({ "stream": false, "options": { "num_predict": 2 } })),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(v["done_reason"], "length");
    assert_eq!(v["message"]["content"], "Sure! You");
    assert_eq!(v["eval_count"], 2);
}

#[tokio::test]
async fn embed_tags_and_errors() {
    let sim = sim().await;
    let v: Value = client()
        .post(format!("{}/api/embed", sim.base_url()))
        .json(&json!({ "model": "nomic-embed-text", "input": ["a cat", "a dog"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["model"], "nomic-embed-text");
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(v["embeddings"][0].as_array().unwrap().len(), 64);
    assert_eq!(
        v["prompt_eval_count"],
        approx_tokens(&["a cat"]) + approx_tokens(&["a dog"])
    );

    let v: Value = client()
        .get(format!("{}/api/tags", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["name"].is_string() && m["details"]["format"] == "gguf")
    );

    let resp = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"].is_string());

    let resp = chat(&sim, &body(json!({})))
        .header("x-sim-fault", "status=503")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"].is_string());
}

#[tokio::test]
async fn stream_faults() {
    let sim = sim().await;
    let resp = chat(&sim, &body(json!({})))
        .header("x-sim-fault", "cut-after=2")
        .send()
        .await
        .unwrap();
    let (bytes, errored) = read_until_error(resp).await;
    assert!(errored);
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(!text.contains("\"done\":true"));

    let resp = chat(&sim, &body(json!({})))
        .header("x-sim-fault", "malformed")
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| serde_json::from_str::<Value>(l).is_err())
    );

    let resp = chat(&sim, &body(json!({})))
        .header("x-sim-fault", "status=500;cut-after=1")
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(last["error"].is_string());
}

#[tokio::test]
async fn embeddings_agree_across_vendors() {
    let sim = sim().await;
    let ollama: Value = client()
        .post(format!("{}/api/embed", sim.base_url()))
        .json(&json!({ "model": "m", "input": "same text" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let openai: Value = client()
        .post(format!("{}/v1/embeddings", sim.base_url()))
        .bearer_auth("k")
        .json(&json!({ "model": "m", "input": "same text" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ollama["embeddings"][0], openai["data"][0]["embedding"]);
}
