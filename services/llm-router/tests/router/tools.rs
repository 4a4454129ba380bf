//! Tool calling through the router against the simulator, per vendor that
//! translates tools: a two-step conversation (the model calls a tool, the
//! caller sends the result, the model answers), unary and streamed; and
//! fallback past the vendors that do not translate tools (or a part of them) yet.

use fluentedge_proto::router::v1 as pb;
use pb::stream_complete_response::Frame;
use provider_sim::Vendor;
use tonic::Code;

use crate::grpc::{request, spawn_app, stream_frames};

fn weather_tool() -> pb::Tool {
    pb::Tool {
        name: "get_weather".into(),
        description: "The weather in a city".into(),
        parameters_json: r#"{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}"#.into(),
        strict: false,
    }
}

/// The first step: the user asks something that names the tool.
fn ask(model: &str) -> pb::CompleteRequest {
    pb::CompleteRequest {
        model: model.into(),
        tools: vec![weather_tool()],
        tool_choice: Some(pb::ToolChoice {
            choice: Some(pb::tool_choice::Choice::Mode(
                pb::ToolChoiceMode::Auto as i32,
            )),
        }),
        ..request(pb::Tier::Unspecified, "Use get_weather for Paris")
    }
}

/// The second step: the conversation with the call and its result.
fn answer(first: pb::CompleteRequest, calls: Vec<pb::ToolCall>) -> pb::CompleteRequest {
    let mut next = first;
    let id = calls[0].id.clone();
    next.messages.push(pb::ChatMessage {
        role: pb::Role::Assistant as i32,
        tool_calls: calls,
        ..Default::default()
    });
    next.messages.push(pb::ChatMessage {
        role: pb::Role::Tool as i32,
        content: "sunny, 21 C".into(),
        tool_call_id: id,
        ..Default::default()
    });
    next
}

/// The calls a stream carried, assembled from their deltas as an SDK does.
fn assembled(frames: &[Frame]) -> Vec<pb::ToolCall> {
    let mut calls: Vec<pb::ToolCall> = Vec::new();
    for f in frames {
        if let Frame::ToolCall(d) = f {
            let i = d.index as usize;
            if i == calls.len() {
                assert!(!d.id.is_empty() && !d.name.is_empty(), "first delta: {d:?}");
                calls.push(pb::ToolCall {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    arguments: String::new(),
                });
            }
            calls[i].arguments.push_str(&d.arguments);
        }
    }
    calls
}

fn check_call(calls: &[pb::ToolCall]) {
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].name, "get_weather");
    let args: serde_json::Value = serde_json::from_str(&calls[0].arguments).unwrap();
    assert_eq!(args["days"], 1, "{args}");
    assert!(args["city"].as_str().unwrap().contains("Paris"), "{args}");
}

/// What the vendor was sent: the last request of `vendor`.
fn sent(app: &crate::grpc::App, vendor: Vendor) -> serde_json::Value {
    let sent = app
        .sim
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.vendor == vendor)
        .unwrap();
    sent.json().unwrap()
}

/// `check_sent` sees the vendor's body of the first step, then of the second.
async fn round_trip(
    provider: &str,
    model: &str,
    vendor: Vendor,
    check_sent: impl Fn(&serde_json::Value, &serde_json::Value),
) {
    let mut app = spawn_app(&[("LLM_PROVIDER", provider)]).await;
    // Unary.
    let first = app.client.complete(ask(model)).await.unwrap().into_inner();
    assert_eq!(first.provider, provider);
    assert_eq!(first.finish_reason(), pb::FinishReason::ToolCalls);
    check_call(&first.tool_calls);
    let asked = sent(&app, vendor);
    let last = app
        .client
        .complete(answer(ask(model), first.tool_calls))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(last.finish_reason(), pb::FinishReason::Stop);
    assert_eq!(last.content, "Here is what I found: sunny, 21 C.");
    assert!(last.tool_calls.is_empty());
    check_sent(&asked, &sent(&app, vendor));

    // Streamed.
    let frames = stream_frames(&mut app, ask(model)).await;
    let Some(Frame::End(end)) = frames.last() else {
        panic!("{frames:?}")
    };
    assert_eq!(end.finish_reason(), pb::FinishReason::ToolCalls);
    let calls = assembled(&frames);
    check_call(&calls);
    let frames = stream_frames(&mut app, answer(ask(model), calls)).await;
    let text: String = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Delta(d) => Some(d.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Here is what I found: sunny, 21 C.");
}

fn openai_shape(asked: &serde_json::Value, answered: &serde_json::Value) {
    assert_eq!(asked["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(asked["tool_choice"], "auto");
    let messages = answered["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["role"], "tool");
}

#[tokio::test]
async fn openai_tool_round_trip_unary_and_streamed() {
    round_trip("openai", "gpt-4o", Vendor::OpenAi, openai_shape).await;
}

#[tokio::test]
async fn azure_tool_round_trip_unary_and_streamed() {
    round_trip("azure", "gpt-4o", Vendor::Azure, openai_shape).await;
}

#[tokio::test]
async fn anthropic_tool_round_trip_unary_and_streamed() {
    // The simulated Claude writes a text block before a call it chose
    // freely, so the streamed call is content block 1 and must arrive as
    // OpenAI's tool-call index 0 (`assembled` checks it).
    round_trip(
        "anthropic",
        "claude-haiku-4-5",
        Vendor::Anthropic,
        |asked, answered| {
            assert_eq!(asked["tools"][0]["name"], "get_weather");
            assert_eq!(asked["tools"][0]["input_schema"]["required"][1], "days");
            assert_eq!(asked["tool_choice"], serde_json::json!({"type": "auto"}));
            let turns = answered["messages"].as_array().unwrap();
            assert_eq!(turns.len(), 3, "{answered}");
            assert_eq!(turns[1]["content"][0]["type"], "tool_use");
            assert_eq!(turns[1]["content"][0]["input"]["days"], 1);
            assert_eq!(turns[2]["role"], "user");
            assert_eq!(turns[2]["content"][0]["type"], "tool_result");
            assert_eq!(
                turns[2]["content"][0]["tool_use_id"],
                turns[1]["content"][0]["id"]
            );
        },
    )
    .await;
}

#[tokio::test]
async fn bedrock_tool_round_trip_unary_and_streamed() {
    // As with Anthropic, a freely chosen call follows a text block.
    round_trip(
        "bedrock",
        "claude-haiku-4-5",
        Vendor::Bedrock,
        |asked, answered| {
            let spec = &asked["toolConfig"]["tools"][0]["toolSpec"];
            assert_eq!(spec["name"], "get_weather");
            assert_eq!(spec["inputSchema"]["json"]["required"][0], "city");
            assert_eq!(
                asked["toolConfig"]["toolChoice"],
                serde_json::json!({"auto": {}})
            );
            let turns = answered["messages"].as_array().unwrap();
            assert_eq!(turns.len(), 3, "{answered}");
            let call = &turns[1]["content"][0]["toolUse"];
            assert_eq!(call["input"]["days"], 1);
            let result = &turns[2]["content"][0]["toolResult"];
            assert_eq!(result["toolUseId"], call["toolUseId"]);
            assert_eq!(result["content"][0]["text"], "sunny, 21 C");
        },
    )
    .await;
}

#[tokio::test]
async fn what_converse_cannot_honour_goes_to_anthropic() {
    let mut app = spawn_app(&[("LLM_PROVIDER", "bedrock")]).await;
    for (name, change) in [
        (
            "tool_choice none",
            (|r: &mut pb::CompleteRequest| {
                r.tool_choice = Some(pb::ToolChoice {
                    choice: Some(pb::tool_choice::Choice::Mode(
                        pb::ToolChoiceMode::None as i32,
                    )),
                });
            }) as fn(&mut pb::CompleteRequest),
        ),
        ("single call", |r| r.parallel_tool_calls = Some(false)),
        ("strict", |r| r.tools[0].strict = true),
    ] {
        let mut req = ask("claude-haiku-4-5");
        change(&mut req);
        let r = app.client.complete(req).await.unwrap().into_inner();
        assert_eq!(r.provider, "anthropic", "{name}");
    }
    let plain = app
        .client
        .complete(ask("claude-haiku-4-5"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plain.provider, "bedrock");
}

#[tokio::test]
async fn anthropic_takes_forced_single_calls_by_its_own_names() {
    let mut app = spawn_app(&[("LLM_PROVIDER", "anthropic")]).await;
    let mut req = ask("claude-haiku-4-5");
    req.tools.push(pb::Tool {
        name: "get_time".into(),
        ..weather_tool()
    });
    req.messages.last_mut().unwrap().content = "Use get_time or get_weather".into();
    req.tool_choice = Some(pb::ToolChoice {
        choice: Some(pb::tool_choice::Choice::Mode(
            pb::ToolChoiceMode::Required as i32,
        )),
    });
    let both = app.client.complete(req.clone()).await.unwrap().into_inner();
    assert_eq!(both.tool_calls.len(), 2, "{both:?}");
    // Forced: no text before the calls.
    assert_eq!(both.content, "");
    req.parallel_tool_calls = Some(false);
    let one = app.client.complete(req).await.unwrap().into_inner();
    assert_eq!(one.provider, "anthropic");
    assert_eq!(one.tool_calls.len(), 1, "{one:?}");
    assert_eq!(
        sent(&app, Vendor::Anthropic)["tool_choice"],
        serde_json::json!({"type": "any", "disable_parallel_tool_use": true})
    );
}

#[tokio::test]
async fn tool_requests_skip_vendors_without_tool_translation() {
    // Vertex pinned first: it has no tool translation yet, so Azure serves.
    let mut app = spawn_app(&[("LLM_PROVIDER", "vertex")]).await;
    let r = app
        .client
        .complete(pb::CompleteRequest {
            tools: vec![weather_tool()],
            ..request(pb::Tier::Sota, "Use get_weather for Paris")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.provider, "azure");
    assert_eq!(r.tool_calls.len(), 1);
    // A model only such vendors serve: refused naming `tools`.
    let status = app
        .client
        .complete(pb::CompleteRequest {
            model: "gemini-2.5-flash".into(),
            tools: vec![weather_tool()],
            ..request(pb::Tier::Unspecified, "Hi")
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "tools: not supported by vertex (serving gemini-2.5-flash)"
    );
}

#[tokio::test]
async fn malformed_tool_requests_are_invalid_naming_the_field() {
    let mut app = spawn_app(&[]).await;
    let base = ask("gpt-4o");
    let mut bad_name = base.clone();
    bad_name.tools[0].name = "get weather".into();
    let mut bad_schema = base.clone();
    bad_schema.tools[0].parameters_json = "[1]".into();
    let mut unknown_choice = base.clone();
    unknown_choice.tool_choice = Some(pb::ToolChoice {
        choice: Some(pb::tool_choice::Choice::Function("nope".into())),
    });
    let mut orphan_result = base.clone();
    orphan_result.messages.push(pb::ChatMessage {
        role: pb::Role::Tool as i32,
        content: "x".into(),
        ..Default::default()
    });
    let mut unanswerable = base.clone();
    unanswerable.messages.push(pb::ChatMessage {
        role: pb::Role::Tool as i32,
        content: "x".into(),
        tool_call_id: "call_nope".into(),
        ..Default::default()
    });
    for (req, field) in [
        (unanswerable, "messages[2].tool_call_id"),
        (bad_name, "tools[0].name"),
        (bad_schema, "tools[0].parameters"),
        (unknown_choice, "tool_choice"),
        (orphan_result, "messages[2].tool_call_id"),
    ] {
        let status = app.client.complete(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "{}",
            status.message()
        );
    }
}
