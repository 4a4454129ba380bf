use serde_json::{Value, json};

use crate::support::*;

fn url(sim: &provider_sim::Simulator, what: &str) -> String {
    format!(
        "{}/openai/deployments/tutor-sota/{what}?api-version=2024-10-21",
        sim.base_url()
    )
}

fn body() -> Value {
    json!({ "messages": [{ "role": "user", "content": "Where is the station?" }] })
}

#[tokio::test]
async fn unary_chat_uses_deployment_and_content_filter_annotations() {
    let sim = sim().await;
    let resp = client()
        .post(url(&sim, "chat/completions"))
        .header("api-key", "azure-key")
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "tutor-sota");
    assert_eq!(v["prompt_filter_results"][0]["prompt_index"], 0);
    assert_eq!(
        v["choices"][0]["content_filter_results"]["hate"]["filtered"],
        false
    );
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("Where is the station."), "{content}");
    assert_eq!(v["usage"]["completion_tokens"], words(content));
}

#[tokio::test]
async fn entra_bearer_token_is_accepted_and_stream_starts_with_filter_chunk() {
    let sim = sim().await;
    let mut b = body();
    b["stream"] = json!(true);
    b["stream_options"] = json!({ "include_usage": true });
    let resp = client()
        .post(url(&sim, "chat/completions"))
        .bearer_auth("entra-token")
        .json(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    let first = events[0].json();
    assert_eq!(first["choices"], json!([]));
    assert!(first["prompt_filter_results"].is_array());
    assert_eq!(events[1].json()["model"], "tutor-sota");
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let usage = events[events.len() - 2].json();
    assert!(usage["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn api_version_and_credentials_are_required() {
    let sim = sim().await;
    let resp = client()
        .post(format!(
            "{}/openai/deployments/d/chat/completions",
            sim.base_url()
        ))
        .header("api-key", "k")
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api-version")
    );

    let resp = client()
        .post(url(&sim, "chat/completions"))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].is_string());
    assert!(v["error"].get("code").is_some());
}

#[tokio::test]
async fn content_filter_is_a_400_with_innererror() {
    let sim = sim().await;
    let resp = client()
        .post(url(&sim, "chat/completions"))
        .header("api-key", "k")
        .json(&json!({ "messages": [{ "role": "user", "content": "[[content_filter]]" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "content_filter");
    assert_eq!(
        v["error"]["innererror"]["code"],
        "ResponsibleAIPolicyViolation"
    );
}

#[tokio::test]
async fn embeddings_on_deployment() {
    let sim = sim().await;
    let v: Value = client()
        .post(url(&sim, "embeddings"))
        .header("api-key", "k")
        .json(&json!({ "input": "hello" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["model"], "tutor-sota");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 64);
    assert_eq!(v["usage"]["prompt_tokens"], approx_tokens(&["hello"]));
}

#[tokio::test]
async fn azure_fault_uses_azure_error_shape() {
    let sim = sim().await;
    sim.set_fault(
        provider_sim::Vendor::Azure,
        provider_sim::Fault::status(429).with_retry_after(7),
        None,
    );
    let resp = client()
        .post(url(&sim, "chat/completions"))
        .header("api-key", "k")
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["message"].is_string());
}
