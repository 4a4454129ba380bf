//! The admin API: budget, reset, providers, the provider pin, usage reports.

use super::app::*;
use serde_json::json;

#[tokio::test]
async fn budget_shows_exact_money_and_rfc3339_times() {
    let app = spawn_app().await;
    let r = app
        .get("/api/v1/admin/budget")
        .bearer_auth(admin("ops"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200);
    let b = &body["budget"];
    assert_eq!(b["limit_micro_usd"], 100_000_000);
    assert_eq!(b["limit_usd"], "100.000000");
    assert_eq!(b["spent_micro_usd"], 85_123_456);
    assert_eq!(b["spent_usd"], "85.123456");
    assert_eq!(b["reserved_usd"], "0.250000");
    assert_eq!(b["state"], "HALF_OPEN");
    assert_eq!(b["utilisation_bp"], 8512);
    assert_eq!(b["period_start"], "2026-11-01T00:00:00.000Z");
    assert_eq!(b["next_reset"], "2026-12-01T00:00:00.000Z");
    assert_eq!(b["store"], "memory");
}

#[tokio::test]
async fn reset_is_made_in_the_admins_name() {
    let app = spawn_app().await;
    // No body at all.
    let r = app
        .post("/api/v1/admin/budget/reset")
        .bearer_auth(admin("ops-7"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["actor"], "ops-7");
    assert_eq!(body["before"]["state"], "HALF_OPEN");
    assert_eq!(body["after"]["state"], "CLOSED");
    assert_eq!(body["after"]["spent_usd"], "0.000000");
    // With a reason.
    let r = app
        .post("/api/v1/admin/budget/reset")
        .bearer_auth(admin("ops-8"))
        .json(&json!({"reason": "new contract"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let calls = app.fakes.router.admin_calls.lock().clone();
    assert_eq!(
        calls,
        [
            ("reset".to_owned(), "ops-7".to_owned(), String::new()),
            (
                "reset".to_owned(),
                "ops-8".to_owned(),
                "new contract".to_owned()
            )
        ]
    );
}

#[tokio::test]
async fn providers_and_the_pin() {
    let app = spawn_app().await;
    let (status, body) = json_of(
        app.get("/api/v1/admin/providers")
            .bearer_auth(admin("ops"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["providers"][0]["name"], "azure");
    assert_eq!(body["providers"][0]["breaker_state"], "open");
    assert_eq!(body["providers"][0]["last_error"], "HTTP 503");
    assert_eq!(
        body["providers"][0]["last_failure_at"],
        "2026-11-01T02:26:40.000Z"
    );
    assert_eq!(body["providers"][1]["breaker_state"], "closed");
    assert_eq!(body["providers"][1]["last_error"], serde_json::Value::Null);
    assert_eq!(body["override_provider"], serde_json::Value::Null);

    let pin = |provider: &str| {
        app.http
            .put(app.url("/api/v1/admin/providers/override"))
            .bearer_auth(admin("ops"))
            .json(&json!({"provider": provider, "reason": "azure incident"}))
            .send()
    };
    let (status, body) = json_of(pin("anthropic").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"previous": null, "current": "anthropic"}));
    let (_, body) = json_of(
        app.get("/api/v1/admin/providers")
            .bearer_auth(admin("ops"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["override_provider"], "anthropic");

    let (status, body) = json_of(pin("carrier-pigeon").await.unwrap()).await;
    assert_eq!((status, app_error(&body)), (400, "invalid_argument"));
    let (status, _) = json_of(pin(" ").await.unwrap()).await;
    assert_eq!(status, 400);

    let r = app
        .http
        .delete(app.url("/api/v1/admin/providers/override"))
        .bearer_auth(admin("ops"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"previous": "anthropic", "current": null}));
    let calls = app.fakes.router.admin_calls.lock().clone();
    assert!(calls.iter().all(|(_, actor, _)| actor == "ops"));
}

#[tokio::test]
async fn monthly_usage_summary() {
    let app = spawn_app().await;
    let r = app
        .get("/api/v1/admin/usage/summary?month=2026-11&group_by=provider,model")
        .bearer_auth(admin("ops"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["period_start"], "2026-11-01T00:00:00.000Z");
    assert_eq!(body["period_end"], "2026-12-01T00:00:00.000Z");
    assert_eq!(body["group_by"], json!(["provider", "model"]));
    assert_eq!(body["rows"][0]["provider"], "azure");
    assert_eq!(body["rows"][0]["cost_usd"], "2.500000");
    assert_eq!(body["rows"][0]["user_id"], serde_json::Value::Null);
    assert_eq!(body["total"]["cost_micro_usd"], 3_500_001);
    assert_eq!(body["total"]["cost_usd"], "3.500001");
    let sent = app.fakes.usage.last_summary.lock().clone().unwrap();
    assert_eq!(sent.group_by, [1, 2]);
    assert_eq!(sent.period_start.unwrap().seconds, 1_793_491_200);
    assert_eq!(sent.period_end.unwrap().seconds, 1_796_083_200);

    for bad in [
        "month=2026-13",
        "month=11-2026",
        "group_by=colour",
        "month=2026-11&from=2026-11-02T00:00:00Z",
    ] {
        let r = app
            .get(&format!("/api/v1/admin/usage/summary?{bad}"))
            .bearer_auth(admin("ops"))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!(
            (status, app_error(&body)),
            (400, "invalid_argument"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn usage_records_with_filters() {
    let app = spawn_app().await;
    let r = app
        .get("/api/v1/admin/usage?from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z&provider=azure&user_id=learner-a&request_id=rq-1&page_size=10")
        .bearer_auth(admin("ops"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    let rec = &body["records"][0];
    assert_eq!(rec["call_id"], "call-1");
    assert_eq!(rec["request_id"], "rq-1");
    assert_eq!(rec["outcome"], "success");
    assert_eq!(rec["cost_usd"], "0.000042");
    assert_eq!(rec["created_at"], "2026-11-01T02:26:40.000Z");
    assert_eq!(body["next_page_token"], "next");
    let sent = app.fakes.usage.last_list.lock().clone().unwrap();
    assert_eq!(
        (
            sent.provider.as_str(),
            sent.user_id.as_str(),
            sent.request_id.as_str(),
            sent.page_size
        ),
        ("azure", "learner-a", "rq-1", 10)
    );
    assert_eq!(sent.period_start.unwrap().seconds, 1_793_577_600);
}
