//! AI replies through the real server and a local fake provider on both backends: a
//! draft for the agent who has the conversation (suggest), a reply sent and marked as
//! AI (auto) that a person's reply stops, grounding in the knowledge base, and every
//! way an answer can be unusable ending in the tenant's fallback and a handoff.

use crate::common::fake_llm::{Answer, FakeLlm};
use crate::common::ws::Agent;
use crate::common::{Backend, TestApp, metric, spawn_app_with, subscribed_owner};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FAQ: &str = "# Shipping\nDelivery to Lisboa takes 2 working days.\n\n# Prices\nThe Pro plan costs 49 EUR a month.";
const QUESTION: &str = "How long does delivery to Lisboa take?";
const FALLBACK: &str = "Thanks for your message! A teammate will answer shortly.";

/// A server allowed to call the fake on loopback, its owner's token and socket, the
/// fake set up as the tenant's only provider (not asked about understanding), and the
/// FAQ in the knowledge base.
async fn replying(backend: Backend) -> (FakeLlm, TestApp, String, Agent, Value) {
    let llm = FakeLlm::start().await;
    let app = spawn_app_with(backend, |c| c.ai.allow_local_models = true).await;
    let (owner, socket, _) = subscribed_owner(&app).await;
    let saved = app
        .put(
            "/api/v1/settings/ai",
            &owner,
            json!({
                "providers": [{ "name": "local", "kind": "openai", "base_url": llm.base_url, "model": "small-model", "api_key": "" }],
                "understanding": { "enabled": false, "below_confidence": 0.6 },
            }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let faq = app
        .post(
            "/api/v1/ai/knowledge",
            Some(&owner),
            json!({ "title": "FAQ", "format": "markdown", "content": FAQ }),
        )
        .await;
    assert_eq!(faq.status, StatusCode::CREATED, "{}", faq.body);
    (llm, app, owner, socket, faq.body)
}

async fn set_replies(app: &TestApp, owner: &str, settings: Value) -> Value {
    let saved = app.put("/api/v1/settings/replies", owner, settings).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    saved.body
}

fn answer(reply: &str, confidence: f64, action: &str, cited: &[&str]) -> Answer {
    Answer::json(json!({
        "reply": reply, "confidence": confidence, "action": action,
        "reason": "the FAQ says so", "cited": cited, "tag": null,
    }))
}

/// The model's sure answer to `QUESTION`, citing the shipping passage.
fn delivery_answer() -> Answer {
    answer(
        "Delivery to Lisboa takes 2 working days.",
        0.9,
        "none",
        &["P1"],
    )
}

/// The next `message.new` of the conversation, skipping other conversations' frames.
async fn next_message(socket: &mut Agent, conversation: &str) -> Value {
    loop {
        let frame = socket.next_of(&["message.new"]).await;
        if frame["conversation_id"] == conversation {
            return frame["data"]["message"].clone();
        }
    }
}

/// Waits until the pipeline has judged the customer's message (its insight arrived).
async fn judged(socket: &mut Agent, message_id: &Value) {
    loop {
        let frame = socket.next_of(&["message.insights"]).await;
        if frame["data"]["message_id"] == *message_id {
            return;
        }
    }
}

async fn in_suggest_mode_the_draft_reaches_the_agent_who_has_the_conversation_citing_the_passage_with_the_fact(
    backend: Backend,
) {
    let (llm, app, owner, mut socket, faq) = replying(backend).await;
    let (ana_id, ana) = app.user_with_role(&owner, "ana@acme.test", "agent").await;
    let (_, ben) = app.user_with_role(&owner, "ben@acme.test", "agent").await;
    let (_, viewer) = app.user_with_role(&owner, "vera@acme.test", "viewer").await;
    let mut sockets = Vec::new();
    for token in [&ana, &ben, &viewer] {
        let mut agent = Agent::connect(&app.base, token).await;
        agent.subscribe(None).await;
        sockets.push(agent);
    }
    let [mut ana_socket, mut ben_socket, mut viewer_socket] = sockets.try_into().ok().unwrap();

    // The conversation exists and is Ana's before replies are switched on.
    let hello = app.customer_says(&owner, "carla", "Hello!").await;
    judged(&mut socket, &hello["message"]["id"]).await;
    let conversation = hello["conversation"]["id"].as_str().unwrap().to_owned();
    let assigned = app
        .put(
            &format!("/api/v1/conversations/{conversation}/assignment"),
            &owner,
            json!({ "user_id": ana_id }),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    set_replies(&app, &owner, json!({ "mode": "suggest" })).await;

    llm.answer([delivery_answer()]);
    let asked = app.customer_says(&owner, "carla", QUESTION).await;
    let draft = ana_socket.next_of(&["reply.suggested"]).await;
    assert_eq!(draft["conversation_id"], conversation.as_str());
    let data = &draft["data"];
    assert_eq!(data["message_id"], asked["message"]["id"]);
    assert_eq!(data["reply"], "Delivery to Lisboa takes 2 working days.");
    assert_eq!(data["confidence"], 0.9);
    assert_eq!(data["action"], "none");
    // The answer cites the passage that holds the fact.
    let shipping = &faq["passages"][0];
    assert_eq!(
        shipping["text"],
        "Shipping\nDelivery to Lisboa takes 2 working days."
    );
    assert_eq!(
        data["cited"],
        json!([{ "id": shipping["id"], "document_id": faq["id"], "title": "FAQ" }])
    );
    assert_eq!(data["ai"]["provider"], "local");
    assert_eq!(data["ai"]["model"], "small-model");

    // What the model was given: the rules, the passages under their ids, the history.
    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    let messages = &requests[0].body["messages"];
    let (system, user) = (
        messages[0]["content"].as_str().unwrap(),
        messages[1]["content"].as_str().unwrap(),
    );
    assert!(
        system.starts_with("You are the customer service assistant of"),
        "{system}"
    );
    assert!(
        system
            .contains("1. Never make promises about prices unless the knowledge base states them.")
    );
    assert!(
        user.contains("[P1] FAQ\nShipping\nDelivery to Lisboa takes 2 working days.\n"),
        "{user}"
    );
    assert!(user.contains("customer: Hello!\n"), "{user}");
    assert!(
        user.ends_with(&format!("CUSTOMER MESSAGE:\n{QUESTION}\n")),
        "{user}"
    );
    assert_eq!(
        requests[0].body["response_format"]["json_schema"]["name"],
        "customer_reply"
    );

    // Nobody else got the draft: Ben and the viewer see the note that follows, and no
    // draft before it. Nothing was sent to the customer.
    let note = app
        .post(
            &format!("/api/v1/conversations/{conversation}/notes"),
            Some(&owner),
            json!({ "body": "marker" }),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    for other in [&mut ben_socket, &mut viewer_socket] {
        loop {
            let frame = other.next_of(&["reply.suggested", "message.new"]).await;
            assert_eq!(frame["type"], "message.new", "{frame}");
            if frame["data"]["message"]["body"] == "marker" {
                break;
            }
        }
    }
    let timeline = app
        .get(
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(&owner),
        )
        .await;
    let directions: Vec<&str> = timeline.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["direction"].as_str().unwrap())
        .collect();
    assert_eq!(directions, ["inbound", "inbound", "note"]);

    // Another customer asks the same: the answer comes from the cache (no model
    // call), and unassigned, every agent gets the draft (the viewer still not).
    let other = app
        .customer_says(&owner, "dora", "how long does DELIVERY to lisboa take")
        .await;
    let unassigned = other["conversation"]["id"].clone();
    for agent in [&mut ana_socket, &mut ben_socket] {
        let draft = agent.next_of(&["reply.suggested"]).await;
        assert_eq!(draft["conversation_id"], unassigned);
        assert_eq!(
            draft["data"]["reply"],
            "Delivery to Lisboa takes 2 working days."
        );
        assert_eq!(draft["data"]["ai"]["cached"], true);
        assert_eq!(draft["data"]["cited"], data["cited"]);
    }
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(
        metric(&app.base, "ai_reply_cache_total", "result=\"hit\"").await,
        1.0
    );
    app.post(
        &format!(
            "/api/v1/conversations/{}/notes",
            unassigned.as_str().unwrap()
        ),
        Some(&owner),
        json!({ "body": "marker 2" }),
    )
    .await;
    loop {
        let frame = viewer_socket
            .next_of(&["reply.suggested", "message.new"])
            .await;
        assert_eq!(frame["type"], "message.new", "{frame}");
        if frame["data"]["message"]["body"] == "marker 2" {
            break;
        }
    }
    assert_eq!(
        metric(&app.base, "ai_replies_total", "outcome=\"suggested\"").await,
        2.0
    );
}

async fn in_auto_mode_the_reply_is_sent_marked_as_ai_and_a_persons_reply_stops_the_bot(
    backend: Backend,
) {
    let (llm, app, owner, mut socket, faq) = replying(backend).await;
    set_replies(
        &app,
        &owner,
        json!({ "mode": "off", "channels": { "sandbox:demo": "auto" } }),
    )
    .await;
    llm.answer([answer(
        "Delivery to Lisboa takes 2 working days.",
        0.95,
        "none",
        &["P1"],
    )]);
    let asked = app.customer_says(&owner, "carla", QUESTION).await;
    let conversation = asked["conversation"]["id"].as_str().unwrap().to_owned();
    let inbound = next_message(&mut socket, &conversation).await;
    assert_eq!(inbound["direction"], "inbound");
    let reply = next_message(&mut socket, &conversation).await;
    assert_eq!(reply["direction"], "outbound");
    assert_eq!(reply["body"], "Delivery to Lisboa takes 2 working days.");
    assert_eq!(reply["author_id"], Value::Null);
    assert_eq!(
        reply["client_id"],
        format!("ai-{}", asked["message"]["id"].as_str().unwrap())
    );
    let ai = &reply["attachment"]["ai"];
    assert_eq!(
        (
            &ai["provider"],
            &ai["model"],
            &ai["confidence"],
            &ai["action"],
            &ai["in_reply_to"]
        ),
        (
            &json!("local"),
            &json!("small-model"),
            &json!(0.95),
            &json!("none"),
            &asked["message"]["id"]
        )
    );
    assert_eq!(ai["cited"], json!([faq["passages"][0]["id"]]));
    assert!(ai["input_tokens"].as_u64().unwrap() > 0, "{ai}");
    assert!(ai["latency_ms"].is_u64(), "{ai}");
    // It goes out like any reply: the sandbox channel reports it sent.
    loop {
        let status = socket.next_of(&["message.status"]).await;
        if status["data"]["message_id"] == reply["id"] && status["data"]["status"] == "sent" {
            break;
        }
    }

    // A person answers; the customer's next message gets no AI reply, and the
    // conversation is the person's.
    let (_, agent) = app.user_with_role(&owner, "ana@acme.test", "agent").await;
    let human = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(&agent),
            json!({ "body": "Hi Carla, I am Ana. Anything else?", "client_id": "ana-1" }),
        )
        .await;
    assert_eq!(human.status, StatusCode::CREATED, "{}", human.body);
    app.customer_says(&owner, "carla", "And to Porto?").await;
    loop {
        let message = next_message(&mut socket, &conversation).await;
        assert_eq!(
            message["attachment"]["ai"],
            Value::Null,
            "no AI reply after a person's: {message}"
        );
        if message["direction"] == "note" {
            assert_eq!(
                message["body"],
                "A person replied: the bot stays out of this conversation until it is handed back."
            );
            break;
        }
    }
    let lead = app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            Some(&owner),
        )
        .await;
    assert_eq!(lead.body["lead"]["handoff"], "human", "{}", lead.body);
    assert_eq!(lead.body["lead"]["trigger"], "agent_took_over");
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(
        metric(&app.base, "ai_replies_total", "outcome=\"sent\"").await,
        1.0
    );
    let usage = app.get("/api/v1/ai/usage", Some(&owner)).await;
    assert_eq!(usage.body["total"]["requests"], 1);
}

async fn an_unusable_answer_sends_the_fallback_and_hands_the_conversation_over_saying_why(
    backend: Backend,
) {
    let (llm, app, owner, mut socket, _) = replying(backend).await;
    set_replies(
        &app,
        &owner,
        json!({ "mode": "auto", "fallback": FALLBACK, "min_confidence": 0.7 }),
    )
    .await;
    let cases = [
        (
            answer("Maybe 3 days?", 0.4, "none", &[]),
            "the model was not sure enough (0.4 below 0.7)",
        ),
        (
            answer("The Pro plan is 39 EUR.", 0.9, "none", &[]),
            "the reply names the price 39, which the knowledge base does not hold",
        ),
        (
            answer("Pay at https://evil.example/pay", 0.9, "none", &[]),
            "the reply links to evil.example, which is not an allowed host",
        ),
        (
            answer("Write to boss@acme.test", 0.9, "none", &[]),
            "the reply gives the email address boss@acme.test, which no one gave it",
        ),
        (
            answer(&"x".repeat(4200), 0.9, "none", &[]),
            "the reply has 4200 characters; the channel takes 4096",
        ),
        (
            answer(
                "Sure, I write the next reply to the customer in a chat.",
                0.9,
                "none",
                &[],
            ),
            "the reply repeats its instructions",
        ),
        (
            Answer::Content("Two days".into()),
            "the answer is not the JSON asked for",
        ),
        (Answer::Status(500, "boom"), "local: "),
    ];
    for (i, (scripted, says)) in cases.into_iter().enumerate() {
        llm.answer([scripted]);
        let asked = app
            .customer_says(&owner, &format!("customer-{i}"), QUESTION)
            .await;
        let conversation = asked["conversation"]["id"].as_str().unwrap().to_owned();
        let mut fallback = None;
        let note = loop {
            let message = next_message(&mut socket, &conversation).await;
            match message["direction"].as_str() {
                Some("outbound") => fallback = Some(message),
                Some("note") => break message,
                _ => {}
            }
        };
        let fallback = fallback.unwrap_or_else(|| panic!("{says}: no fallback before {note}"));
        assert_eq!(fallback["body"], FALLBACK, "{says}");
        let why = fallback["attachment"]["ai"]["fallback"].as_str().unwrap();
        assert!(why.contains(says), "{says}: {why}");
        let note = note["body"].as_str().unwrap();
        assert!(
            note.starts_with("Handed to a person: the AI assistant could not answer: ")
                && note.contains(says),
            "{note}"
        );
        let lead = app
            .get(
                &format!("/api/v1/conversations/{conversation}"),
                Some(&owner),
            )
            .await;
        assert_eq!(
            (&lead.body["lead"]["handoff"], &lead.body["lead"]["trigger"]),
            (&json!("pending_human"), &json!("ai_could_not_answer")),
            "{says}"
        );
    }
    assert_eq!(
        metric(&app.base, "ai_replies_total", "outcome=\"fallback\"").await,
        8.0
    );

    // Without a fallback, the conversation is handed over with no message.
    set_replies(&app, &owner, json!({ "mode": "auto" })).await;
    llm.answer([answer("Hmm", 0.1, "none", &[])]);
    let asked = app.customer_says(&owner, "quiet", QUESTION).await;
    let conversation = asked["conversation"]["id"].as_str().unwrap().to_owned();
    loop {
        let message = next_message(&mut socket, &conversation).await;
        assert_ne!(message["direction"], "outbound", "{message}");
        if message["direction"] == "note" {
            break;
        }
    }
}

async fn the_models_handoff_action_sends_its_holding_reply_and_hands_the_conversation_to_a_person(
    backend: Backend,
) {
    let (llm, app, owner, mut socket, _) = replying(backend).await;
    set_replies(&app, &owner, json!({ "mode": "auto" })).await;
    llm.answer([Answer::json(json!({
        "reply": "Let me get a colleague for you.", "confidence": 0.9, "action": "handoff",
        "reason": "a refund dispute", "cited": [], "tag": null,
    }))]);
    let asked = app
        .customer_says(&owner, "carla", "I want my money back for the broken bike")
        .await;
    let conversation = asked["conversation"]["id"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    loop {
        let message = next_message(&mut socket, &conversation).await;
        seen.push((message["direction"].clone(), message["body"].clone()));
        if message["direction"] == "note" {
            break;
        }
    }
    assert_eq!(
        seen[..2],
        [
            (
                json!("inbound"),
                json!("I want my money back for the broken bike")
            ),
            (json!("outbound"), json!("Let me get a colleague for you.")),
        ]
    );
    // The owner is online, so the round robin gives it to them.
    let note = seen[2].1.as_str().unwrap();
    assert!(
        note.starts_with("Handed to a person: the AI assistant asked for a person (a refund dispute). Assigned to "),
        "{note}"
    );
    let lead = app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            Some(&owner),
        )
        .await;
    assert_eq!(lead.body["lead"]["handoff"], "pending_human");
    assert_eq!(lead.body["lead"]["trigger"], "ai_handoff");
    assert!(
        lead.body["conversation"]["assignee_id"].is_string(),
        "{}",
        lead.body
    );
    assert_eq!(
        metric(&app.base, "ai_replies_total", "outcome=\"handoff\"").await,
        1.0
    );
}

async fn a_provider_that_fails_or_is_slow_passes_the_reply_to_the_next_and_is_asked_first_again_once_it_answers(
    backend: Backend,
) {
    let (primary, app, owner, mut socket, _) = replying(backend).await;
    let backup = FakeLlm::start().await;
    let saved = app
        .put(
            "/api/v1/settings/ai",
            &owner,
            json!({
                "providers": [
                    { "name": "local", "kind": "openai", "base_url": primary.base_url, "model": "small-model", "api_key": "", "timeout_ms": 1000 },
                    { "name": "backup", "kind": "anthropic", "base_url": backup.base_url, "model": "claude-small", "api_key": "sk-ant" },
                ],
                "understanding": { "enabled": false, "below_confidence": 0.6 },
            }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    set_replies(&app, &owner, json!({ "mode": "suggest" })).await;

    // The first provider is down for one call: the second, over Anthropic's API, drafts.
    primary.answer([
        Answer::Status(503, "The server is overloaded"),
        delivery_answer(),
    ]);
    backup.answer([delivery_answer()]);
    app.customer_says(&owner, "carla", QUESTION).await;
    let first = socket.next_of(&["reply.suggested"]).await;
    assert_eq!(
        first["data"]["reply"],
        "Delivery to Lisboa takes 2 working days."
    );
    assert_eq!(first["data"]["ai"]["provider"], "backup");
    assert_eq!(first["data"]["ai"]["model"], "claude-small");

    // The next question goes to the first provider again, which answers now.
    app.customer_says(&owner, "dora", "Is delivery to Lisboa quick?")
        .await;
    let second = socket.next_of(&["reply.suggested"]).await;
    assert_eq!(second["data"]["ai"]["provider"], "local");
    assert_eq!(second["data"]["ai"]["model"], "small-model");
    assert_eq!((primary.requests().len(), backup.requests().len()), (2, 1));
    assert_eq!(backup.requests()[0].path, "/v1/messages");
    assert_eq!(
        metric(
            &app.base,
            "llm_requests_total",
            "kind=\"openai\",outcome=\"unavailable\""
        )
        .await,
        1.0
    );

    // No answer within the first provider's 1 s: the backup drafts instead.
    primary.answer([Answer::Never]);
    backup.answer([delivery_answer()]);
    app.customer_says(&owner, "elsa", "Does delivery reach Lisboa?")
        .await;
    let third = socket.next_of(&["reply.suggested"]).await;
    assert_eq!(third["data"]["ai"]["provider"], "backup");
    assert_eq!(
        metric(
            &app.base,
            "llm_requests_total",
            "kind=\"openai\",outcome=\"timeout\""
        )
        .await,
        1.0
    );
}

async fn a_spent_token_budget_stops_model_calls_and_replies_fall_back_until_the_month_turns(
    backend: Backend,
) {
    let (llm, app, owner, mut socket, _) = replying(backend).await;
    // Each answer of the fake uses 120 input and 18 output tokens.
    let saved = app
        .put(
            "/api/v1/settings/ai",
            &owner,
            json!({
                "providers": [{ "name": "local", "kind": "openai", "base_url": llm.base_url, "model": "small-model" }],
                "understanding": { "enabled": false, "below_confidence": 0.6 },
                "budget": { "monthly_tokens": 200, "warn_percent": 80 },
            }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    set_replies(
        &app,
        &owner,
        json!({ "mode": "auto", "fallback": FALLBACK, "cache_ttl_secs": 0 }),
    )
    .await;
    let month = switchboard_actors::Millis::now().month();
    let mut replies = Vec::new();
    for (i, question) in [
        "When do you open?",
        "Do you ship to Porto?",
        "Do you sell helmets?",
    ]
    .iter()
    .enumerate()
    {
        llm.answer([answer(&format!("Answer {i}"), 0.9, "none", &[])]);
        let asked = app.customer_says(&owner, &format!("c{i}"), question).await;
        let conversation = asked["conversation"]["id"].as_str().unwrap().to_owned();
        loop {
            let message = next_message(&mut socket, &conversation).await;
            if message["direction"] == "outbound" {
                replies.push(message);
                break;
            }
        }
    }
    // Budgets count by month: a run across the turn of one proves nothing here.
    if switchboard_actors::Millis::now().month() != month {
        return;
    }
    // 0 used, then 138 (below the warning at 160), then 276: the third finds it spent.
    assert_eq!(replies[0]["body"], "Answer 0");
    assert_eq!(replies[1]["body"], "Answer 1");
    assert_eq!(replies[2]["body"], FALLBACK);
    assert_eq!(
        replies[2]["attachment"]["ai"]["fallback"],
        "the monthly token budget (200 tokens) is spent"
    );
    assert_eq!(llm.requests().len(), 2);
    assert_eq!(
        metric(&app.base, "llm_budget_warnings_total", "").await,
        1.0
    );
    let usage = app
        .get(&format!("/api/v1/ai/usage?month={month}"), Some(&owner))
        .await;
    assert_eq!(
        usage.body["budget"],
        json!({ "monthly_tokens": 200, "warn_at": 160, "used": 276, "state": "spent" })
    );
    let refused = app
        .put(
            "/api/v1/settings/ai",
            &owner,
            json!({ "providers": [], "budget": { "monthly_tokens": 10, "warn_percent": 0 } }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget.warn_percent")
    );
}

async fn auto_mode_outside_the_hours_it_applies_to_drafts_for_the_agents_instead(backend: Backend) {
    let (llm, app, owner, mut socket, _) = replying(backend).await;
    // Auto only while open, and the business never opens: every reply is a draft.
    let closed = json!({ "utc_offset_minutes": 0, "days": [], "open": "09:00", "close": "18:00" });
    set_replies(
        &app,
        &owner,
        json!({ "mode": "auto", "auto_when": "open", "hours": closed }),
    )
    .await;
    llm.answer([delivery_answer()]);
    let asked = app.customer_says(&owner, "carla", QUESTION).await;
    let draft = socket.next_of(&["reply.suggested"]).await;
    assert_eq!(draft["data"]["message_id"], asked["message"]["id"]);
    assert_eq!(
        draft["data"]["reply"],
        "Delivery to Lisboa takes 2 working days."
    );
    // And outside the hours that auto applies to the opposite way, it sends.
    set_replies(
        &app,
        &owner,
        json!({ "mode": "auto", "auto_when": "closed", "hours": closed, "cache_ttl_secs": 0 }),
    )
    .await;
    llm.answer([answer("Refunds take 14 days.", 0.9, "none", &[])]);
    let asked = app
        .customer_says(&owner, "dora", "When are refunds paid?")
        .await;
    let conversation = asked["conversation"]["id"].as_str().unwrap().to_owned();
    loop {
        let message = next_message(&mut socket, &conversation).await;
        if message["direction"] == "outbound" {
            assert_eq!(message["body"], "Refunds take 14 days.");
            break;
        }
    }
    let timeline = app
        .get(
            &format!(
                "/api/v1/conversations/{}/messages",
                asked["conversation"]["id"].as_str().unwrap()
            ),
            Some(&owner),
        )
        .await;
    assert_eq!(timeline.body["data"].as_array().unwrap().len(), 2);
}

async fn admins_set_reply_modes_and_bad_settings_are_refused_naming_the_field(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (owner, _) = app.owner_session().await;
    let shown = app.get("/api/v1/settings/replies", Some(&owner)).await;
    assert_eq!(
        shown.body,
        json!({
            "mode": "off", "channels": {}, "brand_voice": "", "rules": [], "min_confidence": 0.6,
            "fallback": "", "link_hosts": [], "history": 12, "passages": 5, "max_age_secs": 600,
            "cache_ttl_secs": 3600, "auto_when": "always", "hours": null,
        })
    );
    let saved = set_replies(
        &app,
        &owner,
        json!({ "mode": "suggest", "channels": { "sandbox:demo": "auto" }, "brand_voice": " Warm, brief. ", "link_hosts": ["Acme.TEST"] }),
    )
    .await;
    assert_eq!(saved["brand_voice"], "Warm, brief.");
    assert_eq!(saved["link_hosts"], json!(["acme.test"]));
    assert_eq!(
        app.get("/api/v1/settings/replies", Some(&owner)).await.body,
        saved
    );
    for (body, says) in [
        (json!({ "mode": "loud" }), "off, suggest, auto"),
        (
            json!({ "channels": { "demo": "auto" } }),
            "channels: 'demo'",
        ),
        (json!({ "min_confidence": 2 }), "min_confidence"),
        (json!({ "history": 0 }), "history"),
        (json!({ "link_hosts": ["https://acme.test"] }), "link_hosts"),
        (json!({ "tone": "x" }), "tone"),
        (json!({ "auto_when": "open" }), "auto_when needs hours"),
        (
            json!({ "hours": { "utc_offset_minutes": 0, "days": ["mon"], "open": "18:00", "close": "09:00" } }),
            "hours.open",
        ),
    ] {
        let refused = app
            .put("/api/v1/settings/replies", &owner, body.clone())
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{body}: {}",
            refused.body
        );
    }
    let (_, agent) = app.user_with_role(&owner, "ana@acme.test", "agent").await;
    assert_eq!(
        app.get("/api/v1/settings/replies", Some(&agent))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let audit = app.get("/api/v1/audit-log", Some(&owner)).await;
    assert!(
        audit.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "ai.replies")
    );
}

async fn an_automations_ai_reply_answers_now_while_the_channels_replies_are_off(backend: Backend) {
    let (llm, app, owner, mut socket, _) = replying(backend).await;
    llm.answer([delivery_answer()]);
    let rule = app
        .post(
            "/api/v1/automations",
            Some(&owner),
            json!({
                "name": "Delivery questions to the AI",
                "trigger": {"type": "message_received", "keywords": ["delivery"]},
                "actions": [{"type": "ai_reply", "mode": "auto"}]
            }),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.body);
    let asked = app.customer_says(&owner, "dora", QUESTION).await;
    let conversation = asked["conversation"]["id"].as_str().unwrap().to_owned();
    let inbound = next_message(&mut socket, &conversation).await;
    assert_eq!(inbound["direction"], "inbound");
    // Replies are off for the tenant (no settings): the rule asked for this one.
    let reply = next_message(&mut socket, &conversation).await;
    assert_eq!(reply["direction"], "outbound");
    assert_eq!(reply["body"], "Delivery to Lisboa takes 2 working days.");
    assert_eq!(
        reply["client_id"],
        format!("ai-{}", asked["message"]["id"].as_str().unwrap())
    );
    assert_eq!(reply["attachment"]["ai"]["model"], "small-model");
    let id = rule.body["id"].as_str().unwrap();
    let run = crate::common::wait::until("the rule's run is done", || async {
        let runs = app
            .get(&format!("/api/v1/automations/{id}/runs"), Some(&owner))
            .await;
        runs.body["data"]
            .as_array()
            .and_then(|all| all.first().cloned())
            .filter(|run| run["status"] == "done")
    })
    .await;
    assert_eq!(run["steps"][0]["action"], "ai_reply");
    assert_eq!(run["steps"][0]["detail"], "sent");
}

on_both_backends!(
    an_automations_ai_reply_answers_now_while_the_channels_replies_are_off,
    in_suggest_mode_the_draft_reaches_the_agent_who_has_the_conversation_citing_the_passage_with_the_fact,
    in_auto_mode_the_reply_is_sent_marked_as_ai_and_a_persons_reply_stops_the_bot,
    an_unusable_answer_sends_the_fallback_and_hands_the_conversation_over_saying_why,
    the_models_handoff_action_sends_its_holding_reply_and_hands_the_conversation_to_a_person,
    a_provider_that_fails_or_is_slow_passes_the_reply_to_the_next_and_is_asked_first_again_once_it_answers,
    a_spent_token_budget_stops_model_calls_and_replies_fall_back_until_the_month_turns,
    auto_mode_outside_the_hours_it_applies_to_drafts_for_the_agents_instead,
    admins_set_reply_modes_and_bad_settings_are_refused_naming_the_field,
);
