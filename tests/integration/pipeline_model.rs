//! A tenant's language model in the pipeline, through the real server and a local
//! OpenAI-compatible fake: the messages the rules are unsure of go to it, its answer
//! is checked before it counts, providers are tried in order, and whatever goes wrong
//! the rules' understanding stands.

use crate::common::fake_llm::{Answer, FakeLlm};
use crate::common::{Backend, TestApp, metric, spawn_app, spawn_app_with, subscribed_owner};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_actors::Millis;

/// The rules find no intent here, only a question (confidence 0.5).
const UNSURE: &str = "Hmm, and what about the thing we talked about on Tuesday?";

fn provider(name: &str, llm: &FakeLlm, key: Option<&str>) -> Value {
    let mut provider = json!({
        "name": name, "kind": "openai", "base_url": llm.base_url, "model": "small-model",
    });
    if let Some(key) = key {
        provider["api_key"] = json!(key);
    }
    provider
}

/// Two local fake providers, a server allowed to call them (they are on loopback), and
/// its owner's token and socket, subscribed.
async fn two_fakes(
    backend: Backend,
) -> (FakeLlm, FakeLlm, TestApp, String, crate::common::ws::Agent) {
    let (first, second) = (FakeLlm::start().await, FakeLlm::start().await);
    let app = spawn_app_with(backend, |c| c.ai.allow_local_models = true).await;
    let (owner, socket, _) = subscribed_owner(&app).await;
    (first, second, app, owner, socket)
}

/// A provider speaking Anthropic's Messages API.
fn anthropic(name: &str, llm: &FakeLlm, key: Option<&str>) -> Value {
    let mut provider = provider(name, llm, key);
    provider["kind"] = json!("anthropic");
    provider
}

async fn save(app: &TestApp, owner: &str, providers: Vec<Value>) -> Value {
    let saved = app
        .put(
            "/api/v1/settings/ai",
            owner,
            json!({ "providers": providers }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    saved.body
}

/// The understanding the pipeline stored for the next customer message.
async fn understood(agent: &mut crate::common::ws::Agent) -> Value {
    let frame = agent.next_of(&["message.insights"]).await;
    frame["data"]["insights"].clone()
}

async fn an_unsure_message_goes_to_the_tenants_model_and_a_sure_one_stays_with_the_rules(
    backend: Backend,
) {
    let llm = FakeLlm::start().await;
    let app = spawn_app_with(backend, |c| c.ai.allow_local_models = true).await;
    let (owner, mut socket, _) = subscribed_owner(&app).await;
    save(
        &app,
        &owner,
        vec![provider("local", &llm, Some("sk-test-123"))],
    )
    .await;
    // Saved again without the key: the saved key stays.
    let saved = save(&app, &owner, vec![provider("local", &llm, None)]).await;
    assert_eq!(
        saved,
        json!({
            "providers": [{
                "name": "local", "kind": "openai", "base_url": llm.base_url,
                "model": "small-model", "timeout_ms": 10000, "has_api_key": true
            }],
            "understanding": { "enabled": true, "below_confidence": 0.6 },
            "budget": { "monthly_tokens": 0, "warn_percent": 80 },
            "embeddings": { "provider": "", "model": "" }
        })
    );

    llm.answer([Answer::json(
        json!({ "intent": "demo", "confidence": 0.9, "urgency": "high" }),
    )]);
    app.customer_says(&owner, "ana", UNSURE).await;
    let found = understood(&mut socket).await;
    let understanding = &found["understanding"];
    assert_eq!(understanding["intent"], "demo");
    assert_eq!(understanding["confidence"], 0.9);
    assert_eq!(understanding["urgency"], "high");
    assert_eq!(understanding["model"], "local/small-model");
    assert_eq!(
        understanding["signals"][0],
        json!({ "intent": "demo", "evidence": "model local/small-model" })
    );
    assert!(found.get("skipped").is_none(), "{found}");

    let asked = llm.requests();
    assert_eq!(asked.len(), 1);
    let request = &asked[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk-test-123"));
    assert_eq!(request.body["model"], "small-model");
    assert_eq!(request.body["messages"][0]["role"], "system");
    assert_eq!(
        request.body["messages"][1],
        json!({ "role": "user", "content": UNSURE })
    );
    let format = &request.body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["strict"], true);
    let intents = format["json_schema"]["schema"]["properties"]["intent"]["enum"]
        .as_array()
        .unwrap();
    for intent in ["pricing", "demo", "question", "other"] {
        assert!(intents.contains(&json!(intent)), "{intent} in {intents:?}");
    }

    // The rules are sure of this one: no call.
    app.customer_says(&owner, "ben", "How much is the Pro plan?")
        .await;
    let found = understood(&mut socket).await;
    assert_eq!(found["understanding"]["intent"], "pricing");
    assert!(found["understanding"].get("model").is_none(), "{found}");
    assert_eq!(llm.requests().len(), 1);
}

async fn providers_are_tried_in_order_and_when_none_answers_well_the_rules_stand(backend: Backend) {
    let (first, second, app, owner, mut socket) = two_fakes(backend).await;
    save(
        &app,
        &owner,
        vec![
            provider("first", &first, Some("")),
            provider("second", &second, Some("sk-2")),
        ],
    )
    .await;

    // The first is down: the second answers.
    first.answer([Answer::Status(503, "The server is overloaded")]);
    second.answer([Answer::json(
        json!({ "intent": "availability", "confidence": 0.8, "urgency": "low" }),
    )]);
    app.customer_says(&owner, "ana", UNSURE).await;
    let found = understood(&mut socket).await;
    assert_eq!(found["understanding"]["intent"], "availability");
    assert_eq!(found["understanding"]["model"], "second/small-model");
    assert_eq!(
        first.requests()[0].authorization,
        None,
        "an empty key is not sent"
    );

    // Both fail: the rules' understanding, and why the model was skipped.
    first.answer([Answer::Status(429, "Rate limit reached")]);
    second.answer([Answer::Status(500, "boom")]);
    app.customer_says(&owner, "ben", UNSURE).await;
    let found = understood(&mut socket).await;
    assert_eq!(found["understanding"]["intent"], "question");
    assert!(found["understanding"].get("model").is_none(), "{found}");
    assert_eq!(
        found["skipped"],
        json!([{
            "stage": "model",
            "reason": "first: rate limited (429); second: unavailable: HTTP 500 Internal Server Error: boom"
        }])
    );

    // An answer that is not the JSON asked for, an intent outside the list, a refusal.
    first.answer([
        Answer::Content("Sure! They want to know about pricing.".into()),
        Answer::json(json!({ "intent": "buy_now", "confidence": 0.9, "urgency": "low" })),
        Answer::Refusal("I can't help with that."),
    ]);
    second.answer([Answer::Status(400, "Invalid model")]);
    for (from, says) in [
        ("cara", "the answer is not the JSON asked for"),
        ("dan", "the answer names an unknown intent 'buy_now'"),
        (
            "eve",
            "first: refused: I can't help with that.; second: rejected: HTTP 400 Bad Request: Invalid model",
        ),
    ] {
        app.customer_says(&owner, from, UNSURE).await;
        let found = understood(&mut socket).await;
        assert_eq!(found["understanding"]["intent"], "question", "{from}");
        let reason = found["skipped"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(says), "{from}: {found}");
    }

    let calls = |outcome: &'static str| {
        let base = app.base.clone();
        async move {
            metric(
                &base,
                "llm_requests_total",
                &format!("kind=\"openai\",outcome=\"{outcome}\""),
            )
            .await
        }
    };
    assert_eq!(calls("ok").await, 3.0);
    assert_eq!(calls("unavailable").await, 2.0);
    assert_eq!(calls("rate_limited").await, 1.0);
    assert_eq!(calls("refused").await, 1.0);
    assert_eq!(calls("rejected").await, 1.0);
}

async fn a_model_on_loopback_is_refused_unless_local_models_are_allowed(backend: Backend) {
    let llm = FakeLlm::start().await;
    let app = spawn_app(backend).await;
    let (owner, mut socket, _) = subscribed_owner(&app).await;
    save(&app, &owner, vec![provider("local", &llm, Some("sk"))]).await;
    app.customer_says(&owner, "ana", UNSURE).await;
    let found = understood(&mut socket).await;
    assert_eq!(found["understanding"]["intent"], "question");
    let reason = found["skipped"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("local: not allowed: the scheme 'http' is not allowed"),
        "{found}"
    );
    assert!(llm.requests().is_empty());
}

async fn admins_keep_provider_keys_secret_and_bad_settings_are_refused_naming_the_field(
    backend: Backend,
) {
    let llm = FakeLlm::start().await;
    let app = spawn_app(backend).await;
    let (owner, _, _) = subscribed_owner(&app).await;
    let defaults = app.get("/api/v1/settings/ai", Some(&owner)).await;
    assert_eq!(
        defaults.body,
        json!({
            "providers": [],
            "understanding": { "enabled": true, "below_confidence": 0.6 },
            "budget": { "monthly_tokens": 0, "warn_percent": 80 },
            "embeddings": { "provider": "", "model": "" }
        })
    );
    save(
        &app,
        &owner,
        vec![provider("main", &llm, Some("sk-live-secret"))],
    )
    .await;
    let read = app.get("/api/v1/settings/ai", Some(&owner)).await;
    assert_eq!(read.body["providers"][0]["has_api_key"], true);
    assert!(!read.body.to_string().contains("sk-live-secret"));

    for (bad, says) in [
        (
            json!({ "providers": [provider("other", &llm, None)] }),
            "providers[0].api_key is required",
        ),
        (
            json!({ "providers": [{ "name": "x", "kind": "openai", "base_url": "file:///etc/passwd", "model": "m", "api_key": "" }] }),
            "providers[0].base_url must be an http or https URL",
        ),
        (
            json!({ "providers": [{ "name": "x", "kind": "cohere", "base_url": "https://a.example/v1", "model": "m", "api_key": "" }] }),
            "cohere",
        ),
        (
            json!({ "understanding": { "below_confidence": 2 } }),
            "below_confidence must be from 0 to 1",
        ),
    ] {
        let refused = app.put("/api/v1/settings/ai", &owner, bad.clone()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(refused.error_code(), "invalid_request");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{bad}: {message}");
    }

    let (_, agent) = app.user_with_role(&owner, "agent@acme.test", "agent").await;
    assert_eq!(
        app.get("/api/v1/settings/ai", Some(&agent)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.put("/api/v1/settings/ai", &agent, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let audit = app.get("/api/v1/audit-log", Some(&owner)).await;
    assert!(!audit.body.to_string().contains("sk-live-secret"));
    let entry = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "ai.settings")
        .expect("the change is audited")
        .clone();
    assert_eq!(entry["details"]["providers"][0]["name"], "main");
}

async fn an_anthropic_provider_answers_through_the_messages_api_and_one_told_to_wait_is_skipped_until_then(
    backend: Backend,
) {
    let (first, claude, app, owner, mut socket) = two_fakes(backend).await;
    let saved = save(
        &app,
        &owner,
        vec![
            provider("first", &first, Some("sk-1")),
            anthropic("claude", &claude, Some("sk-ant-1")),
        ],
    )
    .await;
    assert_eq!(saved["providers"][1]["kind"], "anthropic");

    // The first says to come back in an hour: Anthropic's answer counts.
    first.answer([Answer::RetryAfter(3_600)]);
    claude.answer([Answer::json(
        json!({ "intent": "demo", "confidence": 0.9, "urgency": "high" }),
    )]);
    app.customer_says(&owner, "ana", UNSURE).await;
    let found = understood(&mut socket).await;
    assert_eq!(found["understanding"]["intent"], "demo");
    assert_eq!(found["understanding"]["urgency"], "high");
    assert_eq!(found["understanding"]["model"], "claude/small-model");
    let asked = claude.requests();
    assert_eq!(asked.len(), 1);
    let request = &asked[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(
        (request.api_key.as_deref(), request.version.as_deref()),
        (Some("sk-ant-1"), Some("2023-06-01"))
    );
    assert_eq!(request.authorization, None, "the key goes in x-api-key");
    assert_eq!(request.body["model"], "small-model");
    assert!(request.body["system"].is_string());
    assert_eq!(
        request.body["messages"],
        json!([{ "role": "user", "content": UNSURE }])
    );
    let tool = request.body["tool_choice"]["name"].clone();
    assert_eq!(request.body["tool_choice"]["type"], "tool");
    assert_eq!(request.body["tools"][0]["name"], tool);
    let intents = request.body["tools"][0]["input_schema"]["properties"]["intent"]["enum"]
        .as_array()
        .unwrap();
    assert!(intents.contains(&json!("pricing")), "{intents:?}");

    // Within the hour the first is not asked at all; a refusal from Anthropic leaves
    // the rules' understanding, with both reasons.
    claude.answer([Answer::Refusal("declined")]);
    app.customer_says(&owner, "ben", UNSURE).await;
    let found = understood(&mut socket).await;
    assert_eq!(found["understanding"]["intent"], "question");
    assert_eq!(
        found["skipped"],
        json!([{ "stage": "model", "reason": "first: circuit open; claude: refused: the model declined" }])
    );
    assert_eq!(
        first.requests().len(),
        1,
        "skipped while it asked us to wait"
    );

    let count = |labels: &'static str| {
        let base = app.base.clone();
        async move { metric(&base, "llm_requests_total", labels).await }
    };
    assert_eq!(count("kind=\"openai\",outcome=\"rate_limited\"").await, 1.0);
    assert_eq!(count("kind=\"openai\",outcome=\"circuit_open\"").await, 1.0);
    assert_eq!(count("kind=\"anthropic\",outcome=\"ok\"").await, 1.0);
    assert_eq!(count("kind=\"anthropic\",outcome=\"refused\"").await, 1.0);
    // Tokens as the provider counted them, for the call that answered.
    for (direction, tokens) in [("input", 210.0), ("output", 24.0)] {
        assert_eq!(
            metric(
                &app.base,
                "llm_tokens_total",
                &format!("kind=\"anthropic\",direction=\"{direction}\""),
            )
            .await,
            tokens
        );
    }
}

async fn each_answered_call_counts_towards_the_tenants_monthly_usage_by_provider_and_model(
    backend: Backend,
) {
    let (local, claude, app, owner, mut socket) = two_fakes(backend).await;
    save(
        &app,
        &owner,
        vec![
            provider("local", &local, Some("")),
            anthropic("claude", &claude, Some("")),
        ],
    )
    .await;
    let answer = || Answer::json(json!({ "intent": "demo", "confidence": 0.9, "urgency": "low" }));
    // Answered by local (120 in, 18 out), then by claude after local failed (210 in,
    // 24 out; the failure counts nothing), then by local again.
    local.answer([answer(), Answer::Status(500, "boom"), answer()]);
    claude.answer([answer()]);
    let before = Millis::now().month();
    for from in ["ana", "ben", "cleo"] {
        app.customer_says(&owner, from, UNSURE).await;
        let found = understood(&mut socket).await;
        assert_eq!(found["understanding"]["intent"], "demo", "{from}");
    }
    let shown = app.get("/api/v1/ai/usage", Some(&owner)).await;
    let after = Millis::now().month();
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(
        [&before, &after].contains(&&shown.body["month"].as_str().unwrap().to_owned()),
        "{}",
        shown.body
    );
    // The calls fall in one month unless the test ran across the turn of one.
    let mut months = vec![before, after];
    months.dedup();
    let mut by_model: Vec<Value> = Vec::new();
    for month in &months {
        let read = app
            .get(&format!("/api/v1/ai/usage?month={month}"), Some(&owner))
            .await;
        by_model.extend(read.body["by_model"].as_array().unwrap().iter().cloned());
    }
    if months.len() == 1 {
        assert_eq!(
            shown.body["total"],
            json!({ "requests": 3, "input_tokens": 450, "output_tokens": 60 })
        );
        assert_eq!(
            by_model,
            [
                json!({ "provider": "claude", "model": "small-model", "requests": 1, "input_tokens": 210, "output_tokens": 24 }),
                json!({ "provider": "local", "model": "small-model", "requests": 2, "input_tokens": 240, "output_tokens": 36 }),
            ]
        );
    }
    let requests: u64 = by_model
        .iter()
        .map(|m| m["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(requests, 3);

    // Another month has nothing; a month that is not one, or an unknown field, is
    // refused; agents do not see usage.
    let empty = app
        .get("/api/v1/ai/usage?month=2000-01", Some(&owner))
        .await;
    assert_eq!(
        empty.body,
        json!({ "month": "2000-01", "total": { "requests": 0, "input_tokens": 0, "output_tokens": 0 }, "by_model": [], "budget": null })
    );
    for bad in ["month=2026-13", "month=26-11", "mnth=2026-11"] {
        let refused = app
            .get(&format!("/api/v1/ai/usage?{bad}"), Some(&owner))
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.body
        );
        assert_eq!(refused.error_code(), "invalid_request", "{bad}");
    }
    let (_, agent) = app.user_with_role(&owner, "agent@acme.test", "agent").await;
    let forbidden = app.get("/api/v1/ai/usage", Some(&agent)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}

on_both_backends!(
    each_answered_call_counts_towards_the_tenants_monthly_usage_by_provider_and_model,
    an_anthropic_provider_answers_through_the_messages_api_and_one_told_to_wait_is_skipped_until_then,
    an_unsure_message_goes_to_the_tenants_model_and_a_sure_one_stays_with_the_rules,
    providers_are_tried_in_order_and_when_none_answers_well_the_rules_stand,
    a_model_on_loopback_is_refused_unless_local_models_are_allowed,
    admins_keep_provider_keys_secret_and_bad_settings_are_refused_naming_the_field,
);
