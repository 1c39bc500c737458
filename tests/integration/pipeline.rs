//! The inbound pipeline through the real server: a customer's message is delivered
//! at commit, and what the pipeline found follows as its own events, stored once.

use crate::common::{Backend, metric, spawn_app, subscribed_owner};
use serde_json::{Value, json};

/// The frames after `message.new`, until the conversation's lead.
async fn insights_after(agent: &mut crate::common::ws::Agent) -> (Value, Value, Value) {
    let message = agent.next_of(&["message.new"]).await;
    let insights = agent.next_of(&["message.insights"]).await;
    let lead = agent.next_of(&["conversation.lead"]).await;
    (message, insights, lead)
}

async fn a_buyer_in_a_hurry_is_delivered_at_once_then_scored_hot_with_its_reasons(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (token, mut agent, start) = subscribed_owner(&app).await;
    app.customer_says(
        &token,
        "ana",
        "Hi, how much is the Pro plan? Is it available? I need it today, thanks!",
    )
    .await;
    let (message, insights, lead) = insights_after(&mut agent).await;
    assert_eq!(
        message["offset"],
        start + 1,
        "delivery comes first, at commit"
    );
    let message_id = message["data"]["message"]["id"].clone();
    let conversation_id = message["conversation_id"].clone();

    assert_eq!(insights["conversation_id"], conversation_id);
    let found = &insights["data"]["insights"];
    assert_eq!(insights["data"]["message_id"], message_id);
    assert_eq!(found["guard"]["passed"], true);
    assert_eq!(found["understanding"]["intent"], "pricing");
    assert_eq!(found["understanding"]["language"]["code"], "en");
    assert_eq!(found["understanding"]["urgency"], "high");
    assert_eq!(found["sentiment"]["label"], "positive");
    assert!(
        found.get("skipped").is_none(),
        "no stage was skipped: {found}"
    );

    let data = &lead["data"];
    assert_eq!(lead["conversation_id"], conversation_id);
    assert_eq!(
        (data["score"].as_i64(), data["temperature"].as_str()),
        (Some(95), Some("hot"))
    );
    let reasons: Vec<(&str, i64)> = data["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["signal"].as_str().unwrap(), r["points"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("pricing_or_buying", 30),
            ("availability", 20),
            ("greeting", 10),
            ("urgency_language", 15),
            ("first_engagement_with_interest", 10),
            ("positive_sentiment", 10),
        ]
    );
    // A new hot lead goes to a person.
    assert_eq!(
        (data["handoff"].as_str(), data["trigger"].as_str()),
        (Some("pending_human"), Some("hot_lead"))
    );

    // The list filters on what the pipeline found, and shows the lead.
    let hot = app
        .get(
            "/api/v1/conversations?temperature=hot&handoff=pending_human",
            Some(&token),
        )
        .await;
    assert_eq!(hot.status, reqwest::StatusCode::OK, "{}", hot.body);
    assert_eq!(hot.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(hot.body["data"][0]["id"], conversation_id);
    assert_eq!(
        hot.body["data"][0]["lead"],
        json!({ "score": 95, "temperature": "hot", "sentiment": "positive", "handoff": "pending_human" })
    );
    for query in ["temperature=cold", "sentiment=negative", "handoff=bot"] {
        let none = app
            .get(&format!("/api/v1/conversations?{query}"), Some(&token))
            .await;
        assert_eq!(none.body["data"], json!([]), "{query}");
    }
    let wrong = app
        .get("/api/v1/conversations?temperature=boiling", Some(&token))
        .await;
    assert_eq!(wrong.status, reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(wrong.error_code(), "invalid_request");
    // And /metrics counts it: each stage answered once, one hot message, one handoff.
    for stage in [
        "guardrail",
        "understanding",
        "sentiment",
        "lead_scoring",
        "handoff",
    ] {
        let labels = format!("stage=\"{stage}\",outcome=\"ok\"");
        assert_eq!(
            metric(&app.base, "pipeline_stage_outcomes_total", &labels).await,
            1.0,
            "{stage}"
        );
    }
    assert_eq!(
        metric(&app.base, "pipeline_messages_total", "temperature=\"hot\"").await,
        1.0
    );
    assert_eq!(
        metric(&app.base, "pipeline_handoffs_total", "trigger=\"hot_lead\"").await,
        1.0
    );
    assert_eq!(
        metric(&app.base, "pipeline_lag_seconds_count", "").await,
        1.0
    );
}

async fn each_message_is_scored_once_in_order_and_the_lead_follows_the_conversation(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (token, mut agent, _) = subscribed_owner(&app).await;
    app.customer_says(&token, "ben", "Hello, tell me about your products")
        .await;
    let (_, _, first) = insights_after(&mut agent).await;
    assert_eq!(
        (
            first["data"]["score"].as_i64(),
            first["data"]["temperature"].as_str()
        ),
        (Some(40), Some("warm"))
    );
    app.customer_says(&token, "ben", "No thanks, not interested")
        .await;
    let (_, second_insights, second) = insights_after(&mut agent).await;
    assert_eq!(
        second_insights["data"]["insights"]["understanding"]["intent"],
        "not_interested"
    );
    assert_eq!(
        (
            second["data"]["score"].as_i64(),
            second["data"]["temperature"].as_str()
        ),
        (Some(0), Some("cold"))
    );
    assert_eq!(second["data"]["handoff"], "bot");
    // The replay after a reconnect carries each once, in the same order.
    let mut again = crate::common::ws::Agent::connect(&app.base, &token).await;
    let replayed = again
        .subscribe(Some(json!({ "epoch": second["epoch"], "offset": 0 })))
        .await;
    let kinds: Vec<&str> = replayed.iter().filter_map(|f| f["type"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "conversation.lead").count(),
        2,
        "{kinds:?}"
    );
}

on_both_backends!(
    a_buyer_in_a_hurry_is_delivered_at_once_then_scored_hot_with_its_reasons,
    each_message_is_scored_once_in_order_and_the_lead_follows_the_conversation,
);

#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn on_two_nodes_each_customer_message_goes_through_the_pipeline_once() {
    const MESSAGES: usize = 30;
    let (a, b) = crate::common::two_nodes().await;
    let (token, mut agent, start) = subscribed_owner(&a).await;
    let http = reqwest::Client::new();
    for n in 0..MESSAGES {
        // Half through each node, from a few customers.
        let base = if n % 2 == 0 {
            a.base.clone()
        } else {
            b.clone()
        };
        let reply = http
            .post(format!("{base}/api/v1/sandbox/demo/inbound"))
            .bearer_auth(&token)
            .json(&json!({ "from": format!("customer-{}", n % 3), "text": format!("How much is plan {n}?") }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), reqwest::StatusCode::CREATED);
    }
    let mut analysed = std::collections::HashSet::new();
    let mut epoch = Value::Null;
    while analysed.len() < MESSAGES {
        let frame = agent.next_of(&["message.insights"]).await;
        epoch = frame["epoch"].clone();
        assert!(
            analysed.insert(frame["data"]["message_id"].as_str().unwrap().to_owned()),
            "a message was analysed twice: {frame}"
        );
    }
    // Everything in the stream so far, from the start: each message's insight once.
    let mut replay = crate::common::ws::Agent::connect(&a.base, &token).await;
    let frames = replay
        .subscribe(Some(json!({ "epoch": epoch, "offset": start })))
        .await;
    let insights = frames
        .iter()
        .filter(|f| f["type"] == "message.insights")
        .count();
    assert_eq!(insights, MESSAGES);
}
