use std::time::Duration;

use provider_sim::{Fault, SimConfig, Vendor};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::*;

fn openai(sim: &provider_sim::Simulator, stream: bool) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .bearer_auth("k")
        .json(&json!({
            "model": "gpt-4o",
            "stream": stream,
            "messages": [{ "role": "user", "content": "one two three" }]
        }))
}

#[tokio::test]
async fn status_fault_returns_vendor_error_and_retry_after() {
    let sim = sim().await;
    let resp = openai(&sim, false)
        .header("x-sim-fault", "status=429;retry-after=2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    for key in ["message", "type", "param", "code"] {
        assert!(v["error"].get(key).is_some(), "missing {key}");
    }
    // A status fault on a stream without cut-after is an HTTP error before any event.
    let resp = openai(&sim, true)
        .header("x-sim-fault", "status=503")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "server_error");
}

#[tokio::test]
async fn latency_fault_delays_the_answer() {
    let sim = sim().await;
    let start = Instant::now();
    let resp = openai(&sim, false)
        .header("x-sim-fault", "latency-ms=150")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn cut_stream_has_n_chunks_and_no_terminal_event() {
    let sim = sim().await;
    let resp = openai(&sim, true)
        .header("x-sim-fault", "cut-after=3")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (bytes, errored) = read_until_error(resp).await;
    assert!(errored, "the body must fail, not end cleanly");
    let events = parse_sse(&String::from_utf8(bytes).unwrap());
    assert!(events.iter().all(|e| e.data != "[DONE]"));
    let contents = events
        .iter()
        .filter(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        })
        .count();
    assert_eq!(contents, 3);
    assert!(
        events
            .iter()
            .all(|e| e.json()["choices"][0]["finish_reason"].is_null())
    );
}

#[tokio::test]
async fn mid_stream_error_for_openai_is_an_error_data_line_without_done() {
    let sim = sim().await;
    let resp = openai(&sim, true)
        .header("x-sim-fault", "status=500;cut-after=2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    let last = events.last().unwrap().json();
    assert_eq!(last["error"]["type"], "server_error");
    assert!(events.iter().all(|e| e.data != "[DONE]"));
}

#[tokio::test]
async fn malformed_unary_and_stream() {
    let sim = sim().await;
    let resp = openai(&sim, false)
        .header("x-sim-fault", "malformed")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.is_empty());
    assert!(serde_json::from_str::<Value>(&text).is_err());

    let resp = openai(&sim, true)
        .header("x-sim-fault", "malformed")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    assert!(
        events
            .iter()
            .any(|e| serde_json::from_str::<Value>(&e.data).is_err())
    );
}

#[tokio::test]
async fn hang_never_answers() {
    let sim = sim().await;
    let err = openai(&sim, false)
        .header("x-sim-fault", "hang")
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        sim.request_count(Vendor::OpenAi),
        1,
        "the request was received"
    );
}

#[tokio::test]
async fn per_vendor_fault_counts_down_and_is_isolated() {
    let sim = sim().await;
    sim.set_fault(Vendor::OpenAi, "status=503".parse().unwrap(), Some(2));
    assert_eq!(openai(&sim, false).send().await.unwrap().status(), 503);
    let other = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "m", "stream": false, "messages": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "other vendors are unaffected");
    assert_eq!(openai(&sim, false).send().await.unwrap().status(), 503);
    assert_eq!(openai(&sim, false).send().await.unwrap().status(), 200);
    assert_eq!(sim.request_count(Vendor::OpenAi), 3);
    assert_eq!(sim.request_count(Vendor::Ollama), 1);

    sim.set_fault(Vendor::OpenAi, "status=500".parse().unwrap(), None);
    for _ in 0..3 {
        assert_eq!(openai(&sim, false).send().await.unwrap().status(), 500);
    }
    sim.clear_faults();
    assert_eq!(openai(&sim, false).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn precedence_header_then_vendor_then_default() {
    let config = SimConfig {
        default_fault: Some(Fault {
            status: Some(502),
            ..Fault::default()
        }),
        ..SimConfig::default()
    };
    let sim = sim_with(config).await;
    assert_eq!(
        openai(&sim, false).send().await.unwrap().status(),
        502,
        "default"
    );
    sim.set_fault(Vendor::OpenAi, "status=503".parse().unwrap(), None);
    assert_eq!(
        openai(&sim, false).send().await.unwrap().status(),
        503,
        "per-vendor beats default"
    );
    let resp = openai(&sim, false)
        .header("x-sim-fault", "status=429")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "header beats per-vendor");
    let resp = openai(&sim, false)
        .header("x-sim-fault", "none")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "an empty header fault means no fault");
}

#[tokio::test]
async fn invalid_fault_header_is_a_vendor_400() {
    let sim = sim().await;
    let resp = openai(&sim, false)
        .header("x-sim-fault", "explode")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("explode"));
}

#[tokio::test]
async fn chunk_delay_spaces_chunks() {
    let sim = sim_with(SimConfig {
        chunk_delay: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .await;
    let start = Instant::now();
    let text = openai(&sim, true)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let chunks = parse_sse(&text)
        .iter()
        .filter(|e| {
            e.data != "[DONE]"
                && e.json()["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
        })
        .count() as u32;
    assert!(chunks > 3);
    assert!(start.elapsed() >= Duration::from_millis(20) * (chunks - 1));
}

#[tokio::test]
async fn no_auth_mode_accepts_missing_credentials() {
    let sim = sim_with(SimConfig {
        require_auth: false,
        ..SimConfig::default()
    })
    .await;
    let resp = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(&json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client()
        .post(format!("{}/model/m/converse", sim.base_url()))
        .json(&json!({ "messages": [{ "role": "user", "content": [{ "text": "hi" }] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn oversized_body_is_rejected() {
    let sim = sim().await;
    let resp = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .bearer_auth("k")
        .body(vec![b' '; 5 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}
