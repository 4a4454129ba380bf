//! The OpenAI-compatible API's wire format.

use super::app::*;
use super::fakes::FAKE_MODELS_CREATED;
use serde_json::{Value, json};

fn chat(model: &str, stream: bool, include_usage: bool) -> Value {
    let mut body = json!({
        "model": model,
        "messages": [{"role": "system", "content": "be kind"}, {"role": "user", "content": "Hi!"}],
        "max_tokens": 64,
        "temperature": 0.2,
        "stop": ["\n\n"],
        "user": "end-user-1",
    });
    if stream {
        body["stream"] = json!(true);
    }
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn data_events(body: &str) -> Vec<String> {
    sse_events(body)
        .into_iter()
        .map(|(event, data)| {
            assert!(event.is_none(), "OpenAI streams have no event names");
            data
        })
        .collect()
}

#[tokio::test]
async fn chat_completion_in_openai_shape() {
    let app = spawn_app().await;
    let r = app
        .post_as(
            "sdk-user",
            "/v1/chat/completions",
            chat("sota", false, false),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "chatcmpl-rq-1");
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(body["model"], "fake-model");
    assert_eq!(
        body["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": "echo: Hi!", "refusal": null}, "finish_reason": "stop", "logprobs": null}])
    );
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
    );
    let sent = app.fakes.router.last_complete.lock().clone().unwrap();
    assert_eq!(sent.tier, 1);
    assert_eq!(sent.model, "");
    assert_eq!(sent.max_tokens, 64);
    assert_eq!(sent.stop, ["\n\n"]);
    assert_eq!(sent.messages.len(), 2);
    let caller = sent.caller.unwrap();
    assert_eq!(
        (caller.user_id.as_str(), caller.service.as_str()),
        ("sdk-user", "gateway")
    );
    // A deadline travels with the call.
    assert!(app.fakes.router.seen.last("Complete").deadline.is_some());

    app.post_as(
        "sdk-user",
        "/v1/chat/completions",
        chat("gpt-4o-mini", false, false),
    )
    .send()
    .await
    .unwrap();
    let sent = app.fakes.router.last_complete.lock().clone().unwrap();
    assert_eq!((sent.tier, sent.model.as_str()), (0, "gpt-4o-mini"));
}

#[tokio::test]
async fn streaming_with_usage_ends_with_done() {
    let app = spawn_app().await;
    let r = app
        .post_as(
            "u",
            "/v1/chat/completions",
            chat("cost_effective", true, true),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = data_events(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], "chatcmpl-rq-2");
        assert_eq!(c["model"], "fake-model");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(chunks[0]["usage"], Value::Null);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello, world");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13})
    );
    assert_eq!(
        app.fakes.router.last_complete.lock().clone().unwrap().tier,
        2
    );
}

#[tokio::test]
async fn streaming_without_usage_has_no_usage_field() {
    let app = spawn_app().await;
    let r = app
        .post_as("u", "/v1/chat/completions", chat("sota", true, false))
        .send()
        .await
        .unwrap();
    let events = data_events(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    for d in &events[..events.len() - 1] {
        let c: Value = serde_json::from_str(d).unwrap();
        assert!(c.get("usage").is_none(), "{c}");
        assert_eq!(c["choices"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_stream_failing_after_its_first_chunk_ends_with_an_error_and_no_done() {
    let app = spawn_app().await;
    // The provider cut the stream / the gateway lost the router's stream.
    for (model, code) in [
        ("cut-stream", "provider_stream_interrupted"),
        ("drop-stream", "stream_interrupted"),
    ] {
        let r = app
            .post_as("u", "/v1/chat/completions", chat(model, true, true))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let events = data_events(&r.text().await.unwrap());
        assert!(!events.iter().any(|d| d == "[DONE]"), "{model}: {events:?}");
        let first: Value = serde_json::from_str(&events[0]).unwrap();
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        let partial: Value = serde_json::from_str(&events[1]).unwrap();
        assert_eq!(partial["choices"][0]["delta"]["content"], "Hello");
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], code, "{model}");
        assert_eq!(last["error"]["type"], "server_error");
        assert!(
            last["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[tokio::test]
async fn failures_before_the_first_chunk_are_http_errors() {
    let app = spawn_app().await;
    for stream in [false, true] {
        let r = app
            .post_as(
                "u",
                "/v1/chat/completions",
                chat("budget-exhausted", stream, false),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-should-retry"], "false");
        let (status, body) = json_of(r).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(
            body,
            json!({"error": {"message": "The AI budget for this period is used up, so new requests cannot be answered now. Try again later, or ask your administrator.", "type": "insufficient_quota", "param": null, "code": "budget_exceeded"}})
        );

        let (status, body) = json_of(
            app.post_as("u", "/v1/chat/completions", chat("all-down", stream, false))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 503);
        assert_eq!(body["error"]["code"], "all_providers_failed");
        // A learner's token: what to do, not which providers failed.
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("azure") && message.contains("try again"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn bad_requests_are_400_in_openai_shape() {
    let app = spawn_app().await;
    for (body, needle) in [
        (json!({"model": "sota", "messages": []}), "messages"),
        (
            json!({"model": "sota", "messages": [{"role": "function", "content": "x"}]}),
            "role",
        ),
        (json!({"model": "sota", "messages": "hi"}), "messages"),
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (
            json!({"model": "sota", "messages": [{"role": "user", "content": "x"}], "stop": 3}),
            "a string or an array of strings",
        ),
    ] {
        let (status, out) = json_of(
            app.post_as("u", "/v1/chat/completions", body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{out}");
        assert_eq!(out["error"]["type"], "invalid_request_error");
        let message = out["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let (status, out) = json_of(
        app.post_as(
            "u",
            "/v1/embeddings",
            json!({"model": "e", "input": [1, 2, 3]}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("token arrays")
    );
}

#[tokio::test]
async fn embeddings_as_floats_and_base64() {
    let app = spawn_app().await;
    let r = app
        .post_as(
            "u",
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": ["ab", "abcd"], "dimensions": 2}),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "fake-embedding");
    assert_eq!(
        body["data"][0],
        json!({"object": "embedding", "index": 0, "embedding": [2.0, 2.5]})
    );
    assert_eq!(body["data"][1]["index"], 1);
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 6, "total_tokens": 6})
    );
    let sent = app.fakes.router.last_embed.lock().clone().unwrap();
    assert_eq!((sent.dimensions, sent.inputs.len()), (2, 2));
    assert_eq!(sent.caller.unwrap().user_id, "u");

    let r = app
        .post_as(
            "u",
            "/v1/embeddings",
            json!({"model": "e", "input": "a", "encoding_format": "base64", "dimensions": 1}),
        )
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(r).await;
    // 1.0f32 little-endian.
    assert_eq!(body["data"][0]["embedding"], "AACAPw==");
}

#[tokio::test]
async fn models_in_openai_list_shape() {
    let app = spawn_app().await;
    let (status, body) = json_of(app.get_as("u", "/v1/models").send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "list");
    assert_eq!(
        body["data"][0],
        json!({"id": "sota", "object": "model", "created": FAKE_MODELS_CREATED, "owned_by": "fluentedge"})
    );
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn one_model_by_id_and_404_for_unknown_ones() {
    let app = spawn_app().await;
    let r = app
        .get_as("u", "/v1/models/text-embedding-3-small")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"id": "text-embedding-3-small", "object": "model", "created": FAKE_MODELS_CREATED, "owned_by": "fluentedge"})
    );
    let (status, body) = json_of(app.get_as("u", "/v1/models/gpt-9").send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("gpt-9"),
        "{body}"
    );
}

fn weather_request(stream: bool) -> Value {
    json!({
        "model": "sota",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "stream": stream,
    })
}

#[tokio::test]
async fn tool_calls_unary_in_openai_shape_and_the_result_travels_back() {
    let app = spawn_app().await;
    let r = app
        .post_as("u", "/v1/chat/completions", weather_request(false))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    let sent = app.fakes.router.last_complete.lock().clone().unwrap();
    assert_eq!(sent.tools[0].name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&sent.tools[0].parameters_json).unwrap()["required"],
        json!(["city"])
    );
    assert_eq!(sent.parallel_tool_calls, Some(false));

    let mut next = weather_request(false);
    next["messages"] = json!([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": choice["message"]["tool_calls"]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    ]);
    let (status, body) = json_of(
        app.post_as("u", "/v1/chat/completions", next)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "echo: sunny");
    let sent = app.fakes.router.last_complete.lock().clone().unwrap();
    assert_eq!(sent.messages[1].tool_calls[0].id, "call_1");
    assert_eq!(sent.messages[2].role, 4, "ROLE_TOOL");
    assert_eq!(sent.messages[2].tool_call_id, "call_1");
}

#[tokio::test]
async fn tool_calls_stream_as_openai_deltas() {
    let app = spawn_app().await;
    let r = app
        .post_as("u", "/v1/chat/completions", weather_request(true))
        .send()
        .await
        .unwrap();
    let chunks: Vec<Value> = data_events(&r.text().await.unwrap())
        .into_iter()
        .filter(|d| d != "[DONE]")
        .map(|d| serde_json::from_str(&d).unwrap())
        .collect();
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(
        deltas[1]["tool_calls"],
        json!([{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}])
    );
    assert_eq!(
        deltas[2]["tool_calls"],
        json!([{"index": 0, "function": {"arguments": "{\"city\":"}}])
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}
