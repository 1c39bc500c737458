//! The inbound pipeline through the real server: a customer's message is delivered
//! at commit, and what the pipeline found follows as its own events, stored once.

use crate::common::wait::until;
use crate::common::ws::Agent;
use crate::common::{
    Backend, TestApp, TestDb, metric, refuse_insights_for, spawn_app, start, subscribed_owner,
    test_config,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The `message.new` frame, its `message.insights`, and the lead that carries.
async fn insights_after(agent: &mut crate::common::ws::Agent) -> (Value, Value, Value) {
    let message = agent.next_of(&["message.new"]).await;
    let insights = agent.next_of(&["message.insights"]).await;
    let lead = insights["data"]["lead"].clone();
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

    let data = &lead;
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

    // The conversation and each page of its timeline carry what the pipeline found.
    let id = conversation_id.as_str().unwrap();
    let opened = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&token))
        .await;
    assert_eq!(opened.body["lead"], data.clone());
    let key = message_id.as_str().unwrap();
    assert_eq!(opened.body["insights"][key], found.clone());
    assert_eq!(opened.body["insights"].as_object().unwrap().len(), 1);
    let page = app
        .get(
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&token),
        )
        .await;
    assert_eq!(page.body["insights"][key], found.clone());

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
    let (_, first_insights, first) = insights_after(&mut agent).await;
    assert_eq!(
        (first["score"].as_i64(), first["temperature"].as_str()),
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
        (second["score"].as_i64(), second["temperature"].as_str()),
        (Some(0), Some("cold"))
    );
    assert_eq!(second["handoff"], "bot");
    // The history has both scores, newest first, each with the message that left it.
    let conversation = second["conversation_id"].as_str().unwrap();
    let history = app
        .get(
            &format!("/api/v1/conversations/{conversation}/lead/history"),
            Some(&token),
        )
        .await;
    assert_eq!(history.status, StatusCode::OK);
    let points: Vec<(Value, Value, Value)> = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["message_id"].clone(),
                p["score"].clone(),
                p["temperature"].clone(),
            )
        })
        .collect();
    assert_eq!(
        points,
        vec![
            (
                second_insights["data"]["message_id"].clone(),
                json!(0),
                json!("cold")
            ),
            (
                first_insights["data"]["message_id"].clone(),
                json!(40),
                json!("warm")
            ),
        ]
    );
    let unknown = app
        .get(
            &format!(
                "/api/v1/conversations/{}/lead/history",
                uuid::Uuid::now_v7()
            ),
            Some(&token),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "not_found");
    // The replay after a reconnect carries each once, in the same order, each with
    // the lead it left; no separate lead event follows a message.
    let mut again = crate::common::ws::Agent::connect(&app.base, &token).await;
    let replayed = again
        .subscribe(Some(
            json!({ "epoch": second_insights["epoch"], "offset": 0 }),
        ))
        .await;
    let leads: Vec<&Value> = replayed
        .iter()
        .filter(|f| f["type"] == "message.insights")
        .map(|f| &f["data"]["lead"])
        .collect();
    assert_eq!(leads, [&first, &second]);
    assert!(
        !replayed.iter().any(|f| f["type"] == "conversation.lead"),
        "{replayed:?}"
    );
}

/// The notes of a conversation, oldest first.
async fn notes(app: &TestApp, token: &str, conversation: &str) -> Vec<String> {
    let page = app
        .get(
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(token),
        )
        .await;
    page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "note")
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until the conversation has `count` notes, and returns them.
async fn until_notes(app: &TestApp, token: &str, conversation: &str, count: usize) -> Vec<String> {
    until(&format!("{count} notes"), || async {
        let found = notes(app, token, conversation).await;
        (found.len() >= count).then_some(found)
    })
    .await
}

async fn conversation(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/conversations/{id}"), Some(token))
        .await
        .body["conversation"]
        .clone()
}

async fn admins_save_the_pipeline_settings_checked_and_audited_and_they_apply_to_the_next_message(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, mut socket, _) = subscribed_owner(&app).await;
    let defaults = app.get("/api/v1/settings/pipeline", Some(&owner)).await;
    assert_eq!(defaults.status, StatusCode::OK, "{}", defaults.body);
    assert_eq!(
        defaults.body,
        json!({
            "handoff": {
                "human_request": true, "negative_streak": 2, "critical_urgency": true,
                "low_confidence": null, "hot_lead": true, "repeated_question": 3,
                "guardrail_hit": true, "legal_keywords": true, "vip_contact": true,
                "idle_return_minutes": 1440
            },
            "intents": [],
            "assignment": { "mode": "round_robin", "max_open_per_agent": 20 }
        })
    );
    for (bad, says) in [
        (
            json!({ "handoff": { "negative_streak": 0 } }),
            "negative_streak",
        ),
        (
            json!({ "intents": [{ "intent": "booking", "patterns": ["(table"] }] }),
            "pattern '(table'",
        ),
        (json!({ "assignment": { "mode": "lottery" } }), "lottery"),
        (json!({ "handof": {} }), "handof"),
    ] {
        let refused = app
            .put("/api/v1/settings/pipeline", &owner, bad.clone())
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(refused.error_code(), "invalid_request");
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{bad}: {}",
            refused.body
        );
    }
    let (_, agent) = app.user_with_role(&owner, "agent@acme.test", "agent").await;
    let forbidden = app
        .put("/api/v1/settings/pipeline", &agent, json!({}))
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/settings/pipeline", Some(&agent))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let wanted = json!({
        "handoff": { "hot_lead": false },
        "intents": [{ "intent": "booking", "phrases": ["Book a table"], "patterns": [r"table for \d+"] }]
    });
    let saved = app.put("/api/v1/settings/pipeline", &owner, wanted).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["handoff"]["hot_lead"], false);
    assert_eq!(
        saved.body["handoff"]["human_request"], true,
        "unset fields keep their defaults"
    );
    let read = app.get("/api/v1/settings/pipeline", Some(&owner)).await;
    assert_eq!(read.body, saved.body);
    let audit = app.get("/api/v1/audit-log", Some(&owner)).await;
    let entry = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "pipeline.settings")
        .expect("the change is audited")
        .clone();
    assert_eq!(entry["details"]["intents"][0]["intent"], "booking");

    // The tenant's intent is understood, and a hot lead no longer hands over.
    app.customer_says(&owner, "ana", "A table for 4 tonight?")
        .await;
    let (_, insights, _) = insights_after(&mut socket).await;
    let understanding = &insights["data"]["insights"]["understanding"];
    assert_eq!(understanding["intent"], "booking");
    assert_eq!(understanding["signals"][0]["evidence"], "table for 4");
    app.customer_says(
        &owner,
        "ben",
        "Hi, how much is the Pro plan? Is it available? I need it today, thanks!",
    )
    .await;
    let (_, _, lead) = insights_after(&mut socket).await;
    assert_eq!(lead["temperature"], "hot");
    assert_eq!(
        (lead["handoff"].as_str(), lead["trigger"].as_str()),
        (Some("bot"), None)
    );
}

async fn a_conversation_handed_to_a_person_goes_round_robin_to_online_agents_with_room(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (first_id, first) = app.user_with_role(&owner, "first@acme.test", "agent").await;
    let (second_id, second) = app
        .user_with_role(&owner, "second@acme.test", "agent")
        .await;
    let (_, viewer) = app
        .user_with_role(&owner, "viewer@acme.test", "viewer")
        .await;
    // Online: both agents, and a viewer, who is never assigned. The owner is offline.
    let mut online = Vec::new();
    for token in [&first, &second, &viewer] {
        let mut socket = Agent::connect(&app.base, token).await;
        socket.subscribe(None).await;
        online.push(socket);
    }
    let saved = app
        .put(
            "/api/v1/settings/pipeline",
            &owner,
            json!({ "assignment": { "max_open_per_agent": 1 } }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);

    let mut ids = [first_id.clone(), second_id.clone()];
    ids.sort();
    let mut conversations = Vec::new();
    for (who, expected) in [("ana", &ids[0]), ("ben", &ids[1])] {
        let said = app
            .customer_says(&owner, who, "Can I talk to a human please?")
            .await;
        let id = said["conversation"]["id"].as_str().unwrap().to_owned();
        let shown = until("the assignment", || async {
            let c = conversation(&app, &owner, &id).await;
            c["assignee_id"].is_string().then_some(c)
        })
        .await;
        assert_eq!(&shown["assignee_id"], expected.as_str(), "in turn, by id");
        assert_eq!(
            until_notes(&app, &owner, &id, 1).await,
            ["Handed to a person: the customer asked for a person. Assigned to agent."]
        );
        conversations.push(id);
    }
    // Both agents have their one conversation: the next waits, unassigned.
    let said = app
        .customer_says(&owner, "cleo", "I want to speak to a human")
        .await;
    let waiting = said["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        until_notes(&app, &owner, &waiting, 1).await,
        [
            "Handed to a person: the customer asked for a person. No agent is online with room for it; it waits in the queue."
        ]
    );
    let shown = conversation(&app, &owner, &waiting).await;
    assert!(shown["assignee_id"].is_null(), "{shown}");
    let queued = app
        .get("/api/v1/conversations?handoff=pending_human", Some(&owner))
        .await;
    assert_eq!(queued.body["data"].as_array().unwrap().len(), 3);

    // The first agent takes it, then hands it back.
    let path = format!("/api/v1/conversations/{waiting}/handoff");
    let taken = app
        .post(&path, Some(&first), json!({ "to": "human" }))
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    assert_eq!(
        (
            taken.body["handoff"].as_str(),
            taken.body["trigger"].as_str()
        ),
        (Some("human"), Some("agent_took_over"))
    );
    assert_eq!(
        conversation(&app, &owner, &waiting).await["assignee_id"],
        first_id.as_str()
    );
    let again = app
        .post(&path, Some(&first), json!({ "to": "human" }))
        .await;
    assert_eq!(
        again.body["handoff"], "human",
        "taking it twice changes nothing"
    );
    let back = app.post(&path, Some(&first), json!({ "to": "bot" })).await;
    assert_eq!(
        (back.body["handoff"].as_str(), back.body["trigger"].as_str()),
        (Some("bot"), None)
    );
    assert_eq!(
        until_notes(&app, &owner, &waiting, 3).await[1..],
        [
            "agent took the conversation over from the bot.",
            "agent handed the conversation back to the bot.",
        ]
    );
    let wrong = app
        .post(&path, Some(&first), json!({ "to": "pending_human" }))
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.error_code(), "invalid_request");
    let read_only = app
        .post(&path, Some(&viewer), json!({ "to": "human" }))
        .await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    let missing = app
        .post(
            &format!("/api/v1/conversations/{}/handoff", uuid::Uuid::now_v7()),
            Some(&first),
            json!({ "to": "human" }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Every change reached the agents' sockets as a lead event.
    let handoffs: Vec<Value> = {
        let socket = &mut online[1];
        let mut seen = Vec::new();
        while seen.len() < 5 {
            seen.push(socket.next_lead().await["handoff"].clone());
        }
        seen
    };
    assert_eq!(
        handoffs,
        [
            "pending_human",
            "pending_human",
            "pending_human",
            "human",
            "bot"
        ]
    );
    assert_eq!(
        metric(
            &app.base,
            "pipeline_handoffs_total",
            "trigger=\"human_request\""
        )
        .await,
        3.0
    );
}

/// How many insights the conversation's messages have, by message id.
async fn insights_of(app: &TestApp, token: &str, conversation: &str) -> usize {
    conversation_body(app, token, conversation).await["insights"]
        .as_object()
        .map_or(0, |found| found.len())
}

async fn conversation_body(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/conversations/{id}"), Some(token))
        .await
        .body
}

async fn a_restart_in_the_middle_of_the_backlog_loses_nothing_and_repeats_nothing(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let config = test_config(&db);
    let app = start(config.clone(), db).await;
    let (token, _) = app.owner_session().await;
    let say = |who: String, text: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            app.customer_says(token, &who, text).await["conversation"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    // The pipeline will stop at the sixth customer's second message: everything
    // before it is done, nothing after it.
    let stuck = say("c5".into(), "Hello").await;
    let mut conversations = Vec::new();
    for n in 0..5 {
        conversations.push(say(format!("c{n}"), "How much is the Pro plan?").await);
    }
    for done in conversations.iter().chain([&stuck]) {
        until("the insights before the stop", || async {
            (insights_of(&app, &token, done).await == 1).then_some(())
        })
        .await;
    }
    refuse_insights_for(&app.db, backend, &stuck, true).await;
    say("c5".into(), "Is it available today?").await;
    for n in 6..10 {
        conversations.push(say(format!("c{n}"), "How much is the Pro plan?").await);
    }
    for waiting in &conversations[5..] {
        assert_eq!(
            insights_of(&app, &token, waiting).await,
            0,
            "nothing after the stop"
        );
    }

    // Stopped there; the database accepts the insight again; a new start finishes.
    app.stop(false).await;
    let TestApp { db, .. } = app;
    refuse_insights_for(&db, backend, &stuck, false).await;
    let app = start(config, db).await;
    let (token, _) = app.owner_session().await;
    conversations.push(stuck.clone());
    for id in &conversations {
        until("every insight after the restart", || async {
            let wanted = if *id == stuck { 2 } else { 1 };
            (insights_of(&app, &token, id).await == wanted).then_some(())
        })
        .await;
    }
    // The stream, replayed from the start, has each message's insight and lead once.
    let mut socket = crate::common::ws::Agent::connect(&app.base, &token).await;
    let head = socket.subscribe(None).await;
    let epoch = head.last().unwrap()["epoch"].clone();
    let mut replay = crate::common::ws::Agent::connect(&app.base, &token).await;
    let frames = replay
        .subscribe(Some(json!({ "epoch": epoch, "offset": 0 })))
        .await;
    let mut insights: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "message.insights")
        .map(|f| f["data"]["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(insights.len(), 11);
    insights.sort_unstable();
    insights.dedup();
    assert_eq!(insights.len(), 11, "no message twice");
    let leads = frames
        .iter()
        .filter(|f| f["type"] == "message.insights" && f["data"]["lead"]["score"].is_u64())
        .count();
    assert_eq!(leads, 11, "each insight carries its lead");
    let stuck_lead = conversation_body(&app, &token, &stuck).await["lead"].clone();
    assert_eq!(
        stuck_lead["urgency"], "high",
        "scored with its second message"
    );
}

on_both_backends!(
    a_buyer_in_a_hurry_is_delivered_at_once_then_scored_hot_with_its_reasons,
    each_message_is_scored_once_in_order_and_the_lead_follows_the_conversation,
    admins_save_the_pipeline_settings_checked_and_audited_and_they_apply_to_the_next_message,
    a_conversation_handed_to_a_person_goes_round_robin_to_online_agents_with_room,
    a_restart_in_the_middle_of_the_backlog_loses_nothing_and_repeats_nothing,
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
