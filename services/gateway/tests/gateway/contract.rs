//! The OpenAPI document states what the server enforces: the constraints of
//! each field and every status an operation can answer (schemathesis checks
//! the running suite against it in ops/api-check.sh; these pin the parts a
//! refactor could silently drop).

use super::app::*;
use serde_json::{Value, json};

async fn document() -> Value {
    let app = spawn_app().await;
    let (status, doc) = json_of(app.get("/openapi.json").send().await.unwrap()).await;
    assert_eq!(status, 200);
    doc
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]["properties"]
}

#[tokio::test]
async fn every_operation_documents_the_statuses_its_middleware_can_answer() {
    let doc = document().await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            let guarded = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if guarded {
                assert!(has("401") && has("429"), "{method} {path}: {responses:?}");
                assert!(has("503") && has("504"), "{method} {path}: {responses:?}");
            }
            if op.get("requestBody").is_some() {
                assert!(has("400") && has("413") && has("415"), "{method} {path}");
            }
            if path.starts_with("/api/v1/admin") {
                assert!(has("403"), "{method} {path}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 23, "{checked}");
    // `/v1/*` errors are documented in OpenAI's shape, the others in the app's.
    let openai_415 = &doc["paths"]["/v1/chat/completions"]["post"]["responses"]["415"];
    assert!(
        openai_415["content"]["application/json"]["schema"]["properties"]["error"]["properties"]
            ["type"]
            .is_object(),
        "{openai_415}"
    );
}

#[tokio::test]
async fn fields_carry_the_limits_the_server_enforces() {
    let doc = document().await;
    let chat = schema(&doc, "ChatCompletionRequest");
    assert_eq!(chat["messages"]["maxItems"], 256);
    assert_eq!(chat["messages"]["minItems"], 1);
    assert_eq!(chat["max_tokens"]["minimum"], 1);
    assert_eq!(chat["max_completion_tokens"]["minimum"], 1);
    let message = schema(&doc, "SendMessageBody");
    assert_eq!(message["content"]["maxLength"], 4000);
    assert!(
        message["content"]["pattern"]
            .as_str()
            .unwrap()
            .contains("u0000")
    );
    assert_eq!(schema(&doc, "ResetBudgetBody")["reason"]["maxLength"], 500);
    assert_eq!(schema(&doc, "OverrideBody")["reason"]["maxLength"], 500);
    assert_eq!(
        doc["components"]["schemas"]["UpdateProfileBody"]["type"],
        "object"
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused_naming_the_shape() {
    let app = spawn_app().await;
    for body in [json!([]), json!("x"), json!(1)] {
        let r = app
            .http
            .patch(app.url("/api/talk/profile"))
            .bearer_auth(learner("a"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, out) = json_of(r).await;
        assert_eq!(status, 400, "{body}: {out}");
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap()
                .contains("a JSON object"),
            "{out}"
        );
    }
}
