//! Broadcasts against the local fake Graph API: a template to a segment with opted-out
//! contacts skipped, statuses and replies counted per recipient and live on admins'
//! sockets; text only inside the 24-hour window; an uploaded list; a storm of rate
//! limits waited out at the configured rate; pause, resume and cancel; and a node
//! killed mid-run, after which the broadcast goes on and nobody receives it twice.

use crate::common;

use common::fake_graph::{Failure, FakeGraph, Request};
use common::meta::{APP_SECRET, Meta, PHONE_NUMBER_ID, now_secs, setup_with, whatsapp_payload};
use common::wait::until;
use common::ws::Agent;
use common::{Backend, IsolatedNode, TestApp, TestDb, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

fn tweak(config: &mut switchboard::config::Config) {
    config.jobs.poll_ms = 20;
    config.pipeline.poll_ms = 20;
}

async fn meta(backend: Backend) -> Meta {
    setup_with(backend, tweak).await
}

async fn contact(app: &TestApp, token: &str, name: &str, phone: &str, tags: &[&str]) -> String {
    let made = app
        .post(
            "/api/v1/contacts",
            Some(token),
            json!({"name": name, "phones": [phone], "tags": tags}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_owned()
}

async fn segment_of_tag(app: &TestApp, token: &str, tag: &str) -> String {
    let made = app
        .post(
            "/api/v1/segments",
            Some(token),
            json!({"name": format!("Tagged {tag}"), "filter": {"has_tag": tag}}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_owned()
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let made = app.post("/api/v1/broadcasts", Some(token), body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body
}

async fn broadcast(app: &TestApp, token: &str, id: &str) -> Value {
    let read = app
        .get(&format!("/api/v1/broadcasts/{id}"), Some(token))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    read.body
}

/// Waits until the broadcast is in `status`, and returns it.
async fn settled(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    until(&format!("the broadcast {status}"), || async {
        let read = broadcast(app, token, id).await;
        (read["status"] == status).then_some(read)
    })
    .await
}

async fn recipients(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let read = app
        .get(&format!("/api/v1/broadcasts/{id}/recipients"), Some(token))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    read.body["data"].as_array().unwrap().clone()
}

/// (phone, status, error) of every recipient in send order.
fn outcomes(recipients: &[Value]) -> Vec<(String, String, Option<String>)> {
    recipients
        .iter()
        .map(|r| {
            (
                r["phone"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
                r["error"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// Message sends the fake received (accepted or refused), in order.
fn sends(graph: &FakeGraph) -> Vec<Request> {
    graph
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect()
}

fn status_of(wamid: &str, to: &str, status: &str) -> Value {
    let mut entry = json!({"id": wamid, "status": status, "timestamp": now_secs().to_string(), "recipient_id": to});
    if status == "failed" {
        entry["errors"] = json!([{
            "code": 131026, "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": {"details": "Message failed to send because the recipient's phone number is not on WhatsApp."}
        }]);
    }
    whatsapp_payload(PHONE_NUMBER_ID, json!([]), json!([]), json!([entry]))
}

fn text_from(from: &str, wamid: &str, text: &str) -> Value {
    whatsapp_payload(
        PHONE_NUMBER_ID,
        json!([{"profile": {"name": "Customer"}, "wa_id": from}]),
        json!([{"from": from, "id": wamid, "timestamp": now_secs().to_string(), "type": "text", "text": {"body": text}}]),
        json!([]),
    )
}

async fn a_template_broadcast_to_a_segment_skips_the_opted_out_and_counts_statuses_and_replies(
    backend: Backend,
) {
    let meta = meta(backend).await;
    let (app, owner) = (&meta.app, &meta.owner);
    let channel = meta.whatsapp().await;
    let channel_id = channel["id"].as_str().unwrap();
    let mut admin = Agent::connect(&app.base, owner).await;
    admin.subscribe(None).await;
    contact(app, owner, "Ana Lima", "+4915111111111", &["vip"]).await;
    contact(app, owner, "Bo Berg", "+4915122222222", &["vip"]).await;
    let cy = contact(app, owner, "Cy Cole", "+4915133333333", &["vip"]).await;
    contact(app, owner, "Dee Dunn", "+4915144444444", &[]).await;
    let out = app
        .patch(
            &format!("/api/v1/contacts/{cy}"),
            owner,
            json!({"opted_out": true}),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    let segment = segment_of_tag(app, owner, "vip").await;

    let made = create(
        app,
        owner,
        json!({
            "name": "Winter sale", "channel_id": channel_id, "segment_id": segment,
            "template": {"name": "winter_sale", "language": "en_US", "parameters": ["{{contact.first_name}}"]},
        }),
    )
    .await;
    assert_eq!(made["status"], "scheduled");
    let id = made["id"].as_str().unwrap();
    let done = settled(app, owner, id, "done").await;
    assert_eq!(
        done["totals"],
        json!({"total": 3, "queued": 0, "sending": 0, "sent": 2, "delivered": 0, "read": 0, "failed": 0, "replied": 0, "skipped": 1})
    );
    // Newest contact first, as a segment lists them; the opted-out one is skipped.
    let listed = recipients(app, owner, id).await;
    assert_eq!(
        outcomes(&listed),
        [
            (
                "+4915133333333".into(),
                "skipped".into(),
                Some("opted out".into())
            ),
            ("+4915122222222".into(), "sent".into(), None),
            ("+4915111111111".into(), "sent".into(), None),
        ]
    );
    // The two calls may overlap (a burst of two), so they are told apart by phone.
    let mut sent = sends(&meta.graph);
    sent.sort_by_key(|r| r.body["to"].as_str().unwrap().to_owned());
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body["to"], "4915111111111");
    assert_eq!(sent[1].body["to"], "4915122222222");
    assert_eq!(
        sent[0].body["template"],
        json!({"name": "winter_sale", "language": {"code": "en_US"},
               "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]})
    );
    assert_eq!(
        sent[0].body["biz_opaque_callback_data"],
        format!("broadcast:{}", listed[2]["id"].as_str().unwrap())
    );

    // Each message is in the recipient's conversation, marked with the broadcast.
    let ana = &listed[2];
    let conversation = ana["conversation_id"].as_str().unwrap();
    let thread = meta.messages(conversation).await;
    assert_eq!(thread.len(), 1);
    assert_eq!(thread[0]["direction"], "outbound");
    assert_eq!(thread[0]["body"], "winter_sale: Ana");
    assert_eq!(
        thread[0]["attachment"]["broadcast"],
        json!({"id": id, "name": "Winter sale"})
    );

    // The channel's reports and a reply move the recipients.
    let (ana_wamid, bo_wamid) = (
        ana["provider_id"].as_str().unwrap(),
        listed[1]["provider_id"].as_str().unwrap(),
    );
    meta.deliver(
        &channel,
        &status_of(ana_wamid, "4915111111111", "delivered"),
    )
    .await;
    meta.deliver(&channel, &status_of(ana_wamid, "4915111111111", "read"))
        .await;
    meta.deliver(&channel, &status_of(bo_wamid, "4915122222222", "failed"))
        .await;
    meta.deliver(
        &channel,
        &text_from("4915111111111", "wamid.reply1", "Is it on boots too?"),
    )
    .await;
    let counted = until("the reports and the reply counted", || async {
        let read = broadcast(app, owner, id).await;
        (read["totals"]["replied"] == 1 && read["totals"]["failed"] == 1).then_some(read)
    })
    .await;
    assert_eq!(
        counted["totals"],
        json!({"total": 3, "queued": 0, "sending": 0, "sent": 0, "delivered": 0, "read": 0, "failed": 1, "replied": 1, "skipped": 1})
    );
    let listed = recipients(app, owner, id).await;
    assert_eq!(
        listed[1]["error"],
        "131026 Message undeliverable: Message failed to send because the recipient's phone number is not on WhatsApp."
    );
    assert!(listed[2]["replied_at"].is_string());
    // The reply landed in the same conversation, after the broadcast.
    let thread = meta.messages(conversation).await;
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1]["body"], "Is it on boots too?");
    // A report after the reply does not move it back.
    meta.deliver(
        &channel,
        &status_of(ana_wamid, "4915111111111", "delivered"),
    )
    .await;
    let listed = recipients(app, owner, id).await;
    assert_eq!(listed[2]["status"], "replied");

    // Admins saw it move on their socket, up to the last count.
    let frame = loop {
        let frame = admin.next_of(&["broadcast.updated"]).await;
        if frame["data"]["totals"]["replied"] == 1 && frame["data"]["totals"]["failed"] == 1 {
            break frame;
        }
    };
    assert_eq!(frame["broadcast_id"], id);
    assert_eq!(frame["data"]["status"], "done");
    // Audited.
    let audit = app.get("/api/v1/audit-log?limit=100", Some(owner)).await;
    let created: Vec<&Value> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "broadcast.create")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["target_id"], id);
}

async fn text_reaches_only_those_inside_their_window_and_a_list_is_matched_by_phone(
    backend: Backend,
) {
    let meta = meta(backend).await;
    let (app, owner) = (&meta.app, &meta.owner);
    let channel = meta.whatsapp().await;
    let channel_id = channel["id"].as_str().unwrap();
    // One customer wrote today; the other is only in the address book.
    meta.deliver(
        &channel,
        &text_from("4915155555555", "wamid.in1", "Hi there"),
    )
    .await;
    let eva = meta.conversations(owner).await[0]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let app_ref = app;
    let patched = app_ref
        .patch(
            &format!("/api/v1/contacts/{eva}"),
            owner,
            json!({"name": "Eva Stone"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    contact(app, owner, "Finn Gray", "+4915166666666", &[]).await;

    let refused = app
        .post(
            "/api/v1/broadcasts",
            Some(owner),
            json!({"name": "News", "channel_id": channel_id, "phones": ["+4915155555555", "not a phone"], "text": "Hi"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code(), "invalid_request");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("phones[1] 'not a phone'")
    );
    let both = app
        .post(
            "/api/v1/broadcasts",
            Some(owner),
            json!({"name": "News", "channel_id": channel_id, "segment_id": null, "text": "Hi", "template": {"name": "a", "language": "en"}, "phones": ["+4915155555555"]}),
        )
        .await;
    assert_eq!(
        both.body["error"]["message"],
        "a broadcast has exactly one of template or text"
    );

    let made = create(
        app,
        owner,
        json!({"name": "Opening hours", "channel_id": channel_id, "phones": ["+49 151 55555555", "+4915166666666", "+4915155555555"],
               "text": "Hi {{contact.first_name}}, we open at 9 tomorrow."}),
    )
    .await;
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        made["totals"]["total"], 2,
        "a phone listed twice is one recipient"
    );
    settled(app, owner, id, "done").await;
    let listed = recipients(app, owner, id).await;
    assert_eq!(
        outcomes(&listed),
        [
            ("+4915155555555".into(), "sent".into(), None),
            (
                "+4915166666666".into(),
                "skipped".into(),
                Some("outside the 24-hour window: only a template may reach them".into())
            ),
        ]
    );
    assert_eq!(listed[0]["contact_id"], eva.as_str());
    let sent = sends(&meta.graph);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body["text"]["body"],
        "Hi Eva, we open at 9 tomorrow."
    );
    // The message joined Eva's conversation.
    let thread = meta
        .messages(listed[0]["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(
        thread
            .iter()
            .map(|m| m["body"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Hi there", "Hi Eva, we open at 9 tomorrow."]
    );
}

async fn a_storm_of_rate_limits_is_waited_out_at_the_configured_rate_and_nobody_gets_two(
    backend: Backend,
) {
    let meta = meta(backend).await;
    let (app, owner) = (&meta.app, &meta.owner);
    let channel = meta.whatsapp().await;
    let channel_id = channel["id"].as_str().unwrap();
    let set = app
        .patch(
            &format!("/api/v1/channels/{channel_id}"),
            owner,
            json!({"settings": {"broadcast_rate_per_second": 5}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    // Meta says "slow down" two ways: HTTP 429, and 400 with a throughput error code.
    meta.graph.fail_next(
        3,
        Failure::Status {
            status: 429,
            code: 4,
            message: "(#4) Application request limit reached",
            retry_after: None,
        },
    );
    meta.graph.fail_next(
        2,
        Failure::Status {
            status: 400,
            code: 130429,
            message: "(#130429) Rate limit hit",
            retry_after: None,
        },
    );
    let phones: Vec<String> = (0..12).map(|n| format!("+49151700000{n:02}")).collect();
    let made = create(
        app,
        owner,
        json!({"name": "Storm", "channel_id": channel_id, "phones": phones, "rate_per_second": 50,
               "template": {"name": "storm_notice", "language": "en"}}),
    )
    .await;
    assert_eq!(made["rate_per_second"], 5, "the channel's rate wins");
    let id = made["id"].as_str().unwrap();
    let done = settled(app, owner, id, "done").await;
    assert_eq!(done["totals"]["sent"], 12);
    let all = sends(&meta.graph);
    assert_eq!(all.iter().filter(|r| r.status != 200).count(), 5);
    let mut per_phone: HashMap<String, usize> = HashMap::new();
    for accepted in all.iter().filter(|r| r.status == 200) {
        *per_phone
            .entry(accepted.body["to"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_phone.len(), 12);
    assert!(per_phone.values().all(|n| *n == 1), "{per_phone:?}");
    // At most 5 a second, with a burst of two: the limiter lets calls go 1/5 s apart
    // and makes up one that was late, so eight in a row span at least 1.2 s, never
    // less than a full second.
    for window in all.windows(8) {
        let span = window[7].at - window[0].at;
        assert!(span >= Duration::from_secs(1), "8 calls within {span:?}");
    }
}

async fn a_broadcast_keeps_its_in_flight_limit_of_provider_calls_waiting_at_once(backend: Backend) {
    let meta = setup_with(backend, |config| {
        tweak(config);
        config.channels.broadcast_in_flight = 3;
    })
    .await;
    let (app, owner) = (&meta.app, &meta.owner);
    let channel = meta.whatsapp().await;
    meta.graph.hold_sends();
    let phones: Vec<String> = (0..8).map(|n| format!("+49151700001{n:02}")).collect();
    let made = create(
        app,
        owner,
        json!({"name": "Slow provider", "channel_id": channel["id"], "phones": phones,
               "template": {"name": "slow_notice", "language": "en"}}),
    )
    .await;
    let id = made["id"].as_str().unwrap();
    // While the provider answers none, three calls wait, not one, and not all eight.
    until("three sends held by the provider", || async {
        (meta.graph.held().0 == 3).then_some(())
    })
    .await;
    let read = broadcast(app, owner, id).await;
    assert_eq!(
        (&read["totals"]["sending"], &read["totals"]["queued"]),
        (&json!(3), &json!(5))
    );
    meta.graph.let_through(8);
    let done = settled(app, owner, id, "done").await;
    assert_eq!(done["totals"]["sent"], 8);
    assert_eq!(meta.graph.held(), (0, 3));
    let mut sent: Vec<String> = sends(&meta.graph)
        .iter()
        .map(|r| r.body["to"].as_str().unwrap().to_owned())
        .collect();
    sent.sort();
    let expected: Vec<String> = phones.iter().map(|p| p[1..].to_owned()).collect();
    assert_eq!(sent, expected, "each phone once");
}

async fn pause_resume_and_cancel_move_a_broadcast_and_its_queued_recipients(backend: Backend) {
    let meta = meta(backend).await;
    let (app, owner) = (&meta.app, &meta.owner);
    let channel = meta.whatsapp().await;
    let channel_id = channel["id"].as_str().unwrap();
    // Set for a local time next year: it waits.
    let later = create(
        app,
        owner,
        json!({"name": "New year", "channel_id": channel_id, "phones": ["+4915177777777", "+4915177777778"],
               "template": {"name": "new_year", "language": "de"}, "send_at": "2099-01-01T09:00", "time_zone": "Europe/Berlin"}),
    )
    .await;
    assert_eq!(later["send_at"], "2099-01-01T08:00:00Z");
    assert_eq!(later["time_zone"], "Europe/Berlin");
    let later_id = later["id"].as_str().unwrap();
    let act = |id: String, verb: &'static str| async move {
        app.post(
            &format!("/api/v1/broadcasts/{id}/{verb}"),
            Some(owner),
            json!({}),
        )
        .await
    };
    let paused = act(later_id.to_owned(), "pause").await;
    assert_eq!(
        (paused.status, paused.body["status"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    let again = act(later_id.to_owned(), "pause").await;
    assert_eq!(
        (again.status, again.error_code()),
        (StatusCode::CONFLICT, "conflict")
    );
    assert_eq!(
        again.body["error"]["message"],
        "a paused broadcast cannot pause"
    );
    let resumed = act(later_id.to_owned(), "resume").await;
    assert_eq!(
        resumed.body["status"], "scheduled",
        "before its time it waits again"
    );
    let cancelled = act(later_id.to_owned(), "cancel").await;
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["totals"]["skipped"], 2);
    assert_eq!(
        outcomes(&recipients(app, owner, later_id).await)[0],
        (
            "+4915177777777".into(),
            "skipped".into(),
            Some("cancelled".into())
        )
    );
    let refused = app
        .post("/api/v1/broadcasts", Some(owner), json!({"name": "Gap", "channel_id": channel_id, "phones": ["+4915177777777"],
               "template": {"name": "x", "language": "de"}, "send_at": "2099-03-29T02:30", "time_zone": "Europe/Berlin"}))
        .await;
    assert_eq!(
        refused.body["error"]["message"],
        "send_at '2099-03-29T02:30' does not exist in Europe/Berlin: the clocks skip it"
    );

    // A running broadcast paused part-way goes on where it stopped when resumed.
    let phones: Vec<String> = (0..8).map(|n| format!("+49151800000{n:02}")).collect();
    let running = create(
        app,
        owner,
        json!({"name": "Slow", "channel_id": channel_id, "phones": phones, "rate_per_second": 4,
               "template": {"name": "slow_news", "language": "en"}}),
    )
    .await;
    let id = running["id"].as_str().unwrap().to_owned();
    until("a first send", || async {
        (!sends(&meta.graph).is_empty()).then_some(())
    })
    .await;
    let paused = act(id.clone(), "pause").await;
    assert_eq!(paused.body["status"], "paused");
    // The run stops: nothing is left in flight, and some recipients wait.
    let stopped = until("the run stopped", || async {
        let read = broadcast(app, owner, &id).await;
        (read["totals"]["sending"] == 0).then_some(read)
    })
    .await;
    assert!(
        stopped["totals"]["queued"].as_u64().unwrap() > 0,
        "{stopped}"
    );
    let resumed = act(id.clone(), "resume").await;
    assert_eq!(resumed.body["status"], "running");
    let done = settled(app, owner, &id, "done").await;
    assert_eq!(done["totals"]["sent"], 8);
    let mut to: Vec<String> = sends(&meta.graph)
        .iter()
        .map(|r| r.body["to"].as_str().unwrap().to_owned())
        .collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 8);
    assert_eq!(sends(&meta.graph).len(), 8, "nobody twice");
    // Agents cannot send broadcasts.
    let (_, agent) = app
        .user_with_role(owner, "agent@example.com", "agent")
        .await;
    let forbidden = app.get("/api/v1/broadcasts", Some(&agent)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}

async fn a_node_killed_mid_broadcast_is_followed_by_one_that_finishes_it_sending_nobody_twice(
    backend: Backend,
) {
    let graph = FakeGraph::start().await;
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    tweak(&mut config);
    config.channels.graph_base_url = graph.base.clone();
    // A short job timeout, so the dead node's lease (twice the timeout) lapses soon.
    config.jobs.timeout_secs = 3;
    let node = IsolatedNode::start(
        config.clone(),
        common::fake_whatsapp::FakeWhatsApp::new().driver(),
    );
    let crashed = TestApp::at(&node.base, db);
    let (owner, _) = crashed.owner_session().await;
    let meta_channel = crashed
        .post(
            "/api/v1/channels",
            Some(&owner),
            json!({"kind": "whatsapp", "name": "Main", "account_id": PHONE_NUMBER_ID,
                   "access_token": common::meta::ACCESS_TOKEN, "app_secret": APP_SECRET, "verify_token": common::meta::VERIFY_TOKEN}),
        )
        .await;
    let channel_id = meta_channel.body["id"].as_str().unwrap().to_owned();
    let phones: Vec<String> = (0..30).map(|n| format!("+49151900000{n:02}")).collect();
    let made = create(
        &crashed,
        &owner,
        json!({"name": "Crash", "channel_id": channel_id, "phones": phones, "rate_per_second": 10,
               "template": {"name": "crash_test", "language": "en"}}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    until("some sends", || async {
        (graph.delivered().len() >= 5).then_some(())
    })
    .await;
    node.kill();
    let before = graph.delivered().len();
    assert!(before < 30, "killed before the end");

    let app = common::start(config, crashed.db).await;
    let done = settled(&app, &owner, &id, "done").await;
    let accepted = graph.delivered();
    let mut per_phone: HashMap<String, usize> = HashMap::new();
    for send in &accepted {
        *per_phone
            .entry(send.body["to"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        per_phone.values().all(|n| *n == 1),
        "nobody twice: {per_phone:?}"
    );
    // Every recipient is accounted for: sent (once), or failed as interrupted when
    // the kill caught its call in flight (at most the calls in flight: never more
    // than the rate of 10 a second).
    let totals = &done["totals"];
    let interrupted = totals["failed"].as_u64().unwrap();
    assert!(interrupted <= 10, "{totals}");
    let sent = totals["sent"].as_u64().unwrap();
    assert_eq!(sent + interrupted, 30, "{totals}");
    // The interrupted call may or may not have reached the provider.
    let reached = per_phone.len() as u64;
    assert!(
        reached == sent || reached == sent + interrupted,
        "{reached} reached, {totals}"
    );
    for recipient in recipients(&app, &owner, &id)
        .await
        .iter()
        .filter(|r| r["status"] == "sent")
    {
        let phone = recipient["phone"].as_str().unwrap().trim_start_matches('+');
        assert_eq!(per_phone.get(phone), Some(&1), "{phone}");
    }
}

async fn the_channels_daily_limit_holds_a_broadcast_and_says_when_it_goes_on(backend: Backend) {
    let meta = meta(backend).await;
    let (app, owner) = (&meta.app, &meta.owner);
    let channel = meta.whatsapp().await;
    let channel_id = channel["id"].as_str().unwrap();
    let zero = app
        .patch(
            &format!("/api/v1/channels/{channel_id}"),
            owner,
            json!({"settings": {"daily_limit": 0}}),
        )
        .await;
    assert_eq!(
        zero.body["error"]["message"],
        "settings.daily_limit must be 1 to 10000000 broadcast messages per 24 hours (the number's messaging limit)"
    );
    let set = app
        .patch(
            &format!("/api/v1/channels/{channel_id}"),
            owner,
            json!({"settings": {"daily_limit": 3}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let first = create(
        app,
        owner,
        json!({"name": "First", "channel_id": channel_id, "phones": ["+4915171000001", "+4915171000002"],
               "template": {"name": "daily_one", "language": "en"}}),
    )
    .await;
    settled(app, owner, first["id"].as_str().unwrap(), "done").await;
    // The second broadcast shares the channel's day: one more send, then it waits.
    let second = create(
        app,
        owner,
        json!({"name": "Second", "channel_id": channel_id, "phones": ["+4915172000001", "+4915172000002", "+4915172000003"],
               "template": {"name": "daily_two", "language": "en"}}),
    )
    .await;
    let id = second["id"].as_str().unwrap();
    let waiting = until("the second broadcast waits", || async {
        let read = broadcast(app, owner, id).await;
        read["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("waiting"))
            .then_some(read)
    })
    .await;
    assert_eq!(waiting["status"], "running");
    assert_eq!(
        (
            waiting["totals"]["sent"].as_u64(),
            waiting["totals"]["queued"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert!(
        waiting["note"]
            .as_str()
            .unwrap()
            .starts_with("waiting: the channel's daily limit of 3 broadcast messages is reached; sending goes on at "),
        "{waiting}"
    );
    assert_eq!(sends(&meta.graph).len(), 3);
}

async fn a_broadcast_refuses_what_it_cannot_send_with_the_reason(backend: Backend) {
    // Room for a list one phone over the limit.
    let meta = setup_with(backend, |config| {
        tweak(config);
        config.server.body_limit_bytes = 4 * 1024 * 1024;
    })
    .await;
    let (app, owner) = (&meta.app, &meta.owner);
    let channel = meta.whatsapp().await;
    let channel_id = channel["id"].as_str().unwrap();
    let template = json!({"name": "notice", "language": "en"});
    let refusal = |body: Value| async move {
        let reply = app.post("/api/v1/broadcasts", Some(owner), body).await;
        (
            reply.status,
            reply.error_code().to_owned(),
            reply.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let too_many: Vec<String> = (0..100_001).map(|n| format!("+4915{n:09}")).collect();
    let cases = [
        (
            json!({"name": " ", "channel_id": channel_id, "phones": ["+4915111111111"], "template": template}),
            "name must be 1 to 200 characters",
        ),
        (
            json!({"name": "x".repeat(201), "channel_id": channel_id, "phones": ["+4915111111111"], "template": template}),
            "name must be 1 to 200 characters",
        ),
        (
            json!({"name": "Big", "channel_id": channel_id, "phones": too_many, "template": template}),
            "phones must hold 1 to 100000 numbers",
        ),
        (
            json!({"name": "None", "channel_id": channel_id, "phones": [], "template": template}),
            "phones must hold 1 to 100000 numbers",
        ),
        (
            json!({"name": "Fast", "channel_id": channel_id, "phones": ["+4915111111111"], "template": template, "rate_per_second": 1001}),
            "rate_per_second must be 1 to 1000",
        ),
        (
            json!({"name": "Stopped", "channel_id": channel_id, "phones": ["+4915111111111"], "template": template, "rate_per_second": 0}),
            "rate_per_second must be 1 to 1000",
        ),
        (
            json!({"name": "Past", "channel_id": channel_id, "phones": ["+4915111111111"], "template": template, "send_at": "2020-01-01T09:00", "time_zone": "UTC"}),
            "send_at '2020-01-01T09:00' is in the past",
        ),
        (
            json!({"name": "Zone", "channel_id": channel_id, "phones": ["+4915111111111"], "template": template, "send_at": "2099-01-01T09:00"}),
            "time_zone is needed with send_at",
        ),
        (
            json!({"name": "Both", "channel_id": channel_id, "segment_id": "0193a4b8-0000-7000-8000-000000000000", "phones": ["+4915111111111"], "template": template}),
            "a broadcast has exactly one of segment_id or phones",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(
            refusal(body).await,
            (
                StatusCode::BAD_REQUEST,
                "invalid_request".to_owned(),
                message.to_owned()
            )
        );
    }
    // Only a WhatsApp Cloud API channel sends broadcasts.
    let page = meta.channel(owner, "messenger", "1234567890").await;
    let (status, code, message) = refusal(json!({"name": "Page", "channel_id": page["id"], "phones": ["+4915111111111"], "text": "Hi"})).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(
        message.starts_with("broadcasts go out on a WhatsApp Cloud API channel"),
        "{message}"
    );
    // Once templates are synced, only an approved one with its number of parameters.
    meta.graph.set_templates("102290129340398", vec![
        json!({"name": "notice", "language": "en", "status": "APPROVED", "category": "MARKETING",
               "components": [{"type": "BODY", "text": "Hi {{1}}"}]}),
        json!({"name": "draft", "language": "en", "status": "PENDING", "category": "MARKETING",
               "components": [{"type": "BODY", "text": "Soon"}]}),
    ]);
    let set = app
        .patch(
            &format!("/api/v1/channels/{channel_id}"),
            owner,
            json!({"settings": {"business_account_id": "102290129340398"}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    until("the templates synced", || async {
        let listed = app
            .get(
                &format!("/api/v1/channels/{channel_id}/templates"),
                Some(owner),
            )
            .await;
        (listed.body["data"].as_array().is_some_and(|t| t.len() == 2)).then_some(())
    })
    .await;
    let with = |template: Value| json!({"name": "T", "channel_id": channel_id, "phones": ["+4915111111111"], "template": template});
    assert_eq!(
        refusal(with(json!({"name": "notice", "language": "en"})))
            .await
            .2,
        "template 'notice' (en) takes 1 parameters, not 0"
    );
    assert_eq!(
        refusal(with(json!({"name": "draft", "language": "en"})))
            .await
            .2,
        "template 'draft' (en) is pending, not approved"
    );
    assert_eq!(
        refusal(with(json!({"name": "gone", "language": "en"})))
            .await
            .2,
        "the channel has no template 'gone' in 'en'; sync its templates or pick another"
    );
    let made = app.post("/api/v1/broadcasts", Some(owner), with(json!({"name": "notice", "language": "en", "parameters": ["{{contact.first_name}}"]}))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
}

on_both_backends!(
    a_broadcast_refuses_what_it_cannot_send_with_the_reason,
    the_channels_daily_limit_holds_a_broadcast_and_says_when_it_goes_on,
    a_template_broadcast_to_a_segment_skips_the_opted_out_and_counts_statuses_and_replies,
    text_reaches_only_those_inside_their_window_and_a_list_is_matched_by_phone,
    a_storm_of_rate_limits_is_waited_out_at_the_configured_rate_and_nobody_gets_two,
    a_broadcast_keeps_its_in_flight_limit_of_provider_calls_waiting_at_once,
    pause_resume_and_cancel_move_a_broadcast_and_its_queued_recipients,
    a_node_killed_mid_broadcast_is_followed_by_one_that_finishes_it_sending_nobody_twice,
);
