use std::time::Duration;

use provider_sim::Vendor;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn health_and_unknown_routes() {
    let sim = sim().await;
    let resp = client()
        .get(format!("{}/_sim/health", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client()
        .get(format!("{}/nowhere", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let _: Value = resp.json().await.unwrap();
    let resp = client()
        .get(format!("{}/v1/unknown", sim.base_url()))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].is_string(), "OpenAI-shaped 404");
}

#[tokio::test]
async fn faults_over_http_with_times() {
    let sim = sim().await;
    let base = sim.base_url();
    let resp = client()
        .put(format!("{base}/_sim/faults/anthropic"))
        .json(&json!({ "fault": "status=529", "times": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let send = || {
        client()
            .post(format!("{base}/v1/messages"))
            .header("x-api-key", "k")
            .header("anthropic-version", "2023-06-01")
            .json(&json!({ "model": "c", "max_tokens": 5, "messages": [{ "role": "user", "content": "hi" }] }))
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 529);
    assert_eq!(send().await.unwrap().status(), 200);

    client()
        .put(format!("{base}/_sim/faults/anthropic"))
        .json(&json!({ "fault": "status=500" }))
        .send()
        .await
        .unwrap();
    assert_eq!(send().await.unwrap().status(), 500);
    let resp = client()
        .delete(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(send().await.unwrap().status(), 200);

    let bad = client()
        .put(format!("{base}/_sim/faults/aws"))
        .json(&json!({ "fault": "status=500" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad = client()
        .put(format!("{base}/_sim/faults/openai"))
        .json(&json!({ "fault": "bogus" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn requests_are_recorded_and_listed() {
    let sim = sim().await;
    let base = sim.base_url();
    client()
        .post(format!(
            "{base}/openai/deployments/d/chat/completions?api-version=2024-10-21"
        ))
        .header("API-Key", "secret")
        .header("X-Custom", "yes")
        .json(&json!({ "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    let recorded = sim.requests();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.vendor, Vendor::Azure);
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        "/openai/deployments/d/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(r.header("api-key"), Some("secret"));
    assert!(
        r.headers.iter().any(|(n, v)| n == "x-custom" && v == "yes"),
        "names are lowercased"
    );
    assert_eq!(r.json().unwrap()["messages"][0]["content"], "hi");
    assert!(r.timestamp <= std::time::SystemTime::now());
    assert_eq!(sim.request_count(Vendor::Azure), 1);
    assert_eq!(sim.request_count(Vendor::OpenAi), 0);

    let list: Value = client()
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "control calls are not recorded");
    assert_eq!(list[0]["vendor"], "azure");
    assert_eq!(list[0]["method"], "POST");
    assert_eq!(list[0]["headers"]["x-custom"], "yes");
    assert!(list[0]["body"].as_str().unwrap().contains("\"hi\""));

    let stats: Value = client()
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"]["azure"], 1);
    client()
        .delete(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap();
    assert!(sim.requests().is_empty());
    assert_eq!(sim.request_count(Vendor::Azure), 0);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let sim = sim().await;
    let base = sim.base_url();
    // Keep a request hanging on the server to prove shutdown does not wait for it.
    let hanging = tokio::spawn({
        let base = base.clone();
        async move {
            client()
                .get(format!("{base}/api/tags"))
                .header("x-sim-fault", "hang")
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(sim);
    let result = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_err(), "the hanging connection is closed");
    let mut refused = false;
    for _ in 0..50 {
        if client()
            .get(format!("{base}/_sim/health"))
            .send()
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "no longer listening");
}

#[tokio::test]
async fn http2_prior_knowledge_works() {
    let sim = sim().await;
    install_crypto_provider();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2
        .get(format!("{}/_sim/health", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
}

#[test]
fn public_types_are_thread_safe() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<provider_sim::Simulator>();
    assert_send_sync::<provider_sim::RecordedRequest>();
    assert_send_sync::<provider_sim::Fault>();
    assert_send_sync::<provider_sim::SimConfig>();
}
