use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::*;

fn body(max: Option<u64>) -> Value {
    let mut b = json!({
        "contents": [
            { "role": "user", "parts": [{ "text": "Hello" }] },
            { "role": "model", "parts": [{ "text": "Hi! How can I help?" }] },
            { "role": "user", "parts": [{ "text": "I need directions to the museum." }] }
        ],
        "systemInstruction": { "parts": [{ "text": "You are a guide." }] },
        "generationConfig": { "temperature": 0.2 }
    });
    if let Some(m) = max {
        b["generationConfig"]["maxOutputTokens"] = json!(m);
    }
    b
}

fn prompt_tokens() -> u64 {
    approx_tokens(&[
        "You are a guide.",
        "Hello",
        "Hi! How can I help?",
        "I need directions to the museum.",
    ])
}

#[tokio::test]
async fn generate_content_matches_documented_shape() {
    let sim = sim().await;
    let resp = client()
        .post(vertex_url(&sim, "gemini-2.0-flash", "generateContent"))
        .bearer_auth("ya29.token")
        .json(&body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let cand = &v["candidates"][0];
    assert_eq!(cand["content"]["role"], "model");
    assert_eq!(cand["finishReason"], "STOP");
    let text = cand["content"]["parts"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Sure! You said: I need directions to the museum."));
    assert_eq!(v["usageMetadata"]["promptTokenCount"], prompt_tokens());
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], words(text));
    assert_eq!(
        v["usageMetadata"]["totalTokenCount"],
        prompt_tokens() + words(text)
    );
    assert_eq!(v["modelVersion"], "gemini-2.0-flash");
}

#[tokio::test]
async fn stream_sse_has_usage_on_last_chunk_only() {
    let sim = sim().await;
    let resp = client()
        .post(vertex_url(&sim, "gemini-2.0-flash", "streamGenerateContent") + "?alt=sse")
        .bearer_auth("t")
        .json(&body(None))
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
    let chunks: Vec<Value> = events.iter().map(Sse::json).collect();
    let (last, rest) = chunks.split_last().unwrap();
    assert!(
        rest.iter().all(|c| c.get("usageMetadata").is_none()
            && c["candidates"][0].get("finishReason").is_none())
    );
    let text: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert!(text.starts_with("Sure! You said:"));
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], words(&text));
    assert_eq!(rest.len() as u64, words(&text));
}

#[tokio::test]
async fn stream_without_alt_sse_is_a_json_array() {
    let sim = sim().await;
    let resp = client()
        .post(vertex_url(
            &sim,
            "gemini-2.0-flash",
            "streamGenerateContent",
        ))
        .bearer_auth("t")
        .json(&body(Some(2)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    let last = arr.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 2);
}

#[tokio::test]
async fn max_output_tokens_and_safety() {
    let sim = sim().await;
    let v: Value = client()
        .post(vertex_url(&sim, "gemini-2.0-flash", "generateContent"))
        .bearer_auth("t")
        .json(&body(Some(4)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 4);
    let v: Value = client()
        .post(vertex_url(&sim, "gemini-2.0-flash", "generateContent"))
        .bearer_auth("t")
        .json(&json!({ "contents": [{ "role": "user", "parts": [{ "text": "[[content_filter]]" }] }] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["candidates"][0]["finishReason"], "SAFETY");
}

#[tokio::test]
async fn auth_and_error_shapes() {
    let sim = sim().await;
    let url = vertex_url(&sim, "gemini-2.0-flash", "generateContent");
    let resp = client().post(&url).json(&body(None)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 401);
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED");
    for (status, name) in [
        (429, "RESOURCE_EXHAUSTED"),
        (503, "UNAVAILABLE"),
        (500, "INTERNAL"),
    ] {
        let resp = client()
            .post(&url)
            .bearer_auth("t")
            .header("x-sim-fault", format!("status={status}"))
            .json(&body(None))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], status);
        assert_eq!(v["error"]["status"], name);
    }
    let resp = client()
        .post(&url)
        .bearer_auth("t")
        .json(&json!({ "contents": [{ "role": "user", "parts": [{ "text": "[[context_length]]" }] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    let resp = client()
        .post(&url)
        .bearer_auth("t")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn predict_embeddings() {
    let sim = sim().await;
    let v: Value = client()
        .post(vertex_url(&sim, "text-embedding-005", "predict"))
        .bearer_auth("t")
        .json(&json!({
            "instances": [{ "content": "first text" }, { "content": "second" }],
            "parameters": { "outputDimensionality": 32 }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    assert_eq!(
        preds[0]["embeddings"]["values"].as_array().unwrap().len(),
        32
    );
    assert_eq!(
        preds[0]["embeddings"]["statistics"]["token_count"],
        approx_tokens(&["first text"])
    );
    assert_eq!(preds[0]["embeddings"]["statistics"]["truncated"], false);
}

fn jwt(claims: Value) -> String {
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        enc(json!({ "alg": "RS256", "typ": "JWT" })),
        enc(claims),
        "c2ln"
    )
}

#[tokio::test]
async fn oauth_token_endpoint() {
    let sim = sim().await;
    let url = format!("{}/token", sim.base_url());
    let assertion = jwt(json!({
        "iss": "sim@demo.iam.gserviceaccount.com",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "aud": "https://oauth2.googleapis.com/token",
        "iat": 1_700_000_000, "exp": 1_700_003_600
    }));
    let form = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
    );
    let post = |body: String| {
        client()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let resp = post(form.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["access_token"]
            .as_str()
            .unwrap()
            .starts_with("sim-token-")
    );
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["token_type"], "Bearer");
    let second: Value = post(form).await.unwrap().json().await.unwrap();
    assert_ne!(second["access_token"], v["access_token"]);

    let resp = post("grant_type=password&assertion=x".into())
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "unsupported_grant_type");

    let missing_scope = jwt(json!({ "iss": "a", "aud": "b", "iat": 1, "exp": 2 }));
    let resp = post(format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={missing_scope}"
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");

    assert_eq!(sim.token_requests(), 4);
    assert_eq!(
        sim.request_count(provider_sim::Vendor::Vertex),
        0,
        "token calls are not model calls"
    );
    assert!(sim.requests().iter().all(|r| r.is_token_request()));
}
