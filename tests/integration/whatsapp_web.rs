//! WhatsApp Web sessions against a fake WhatsApp at the `SessionDriver` boundary:
//! login by QR code and pairing code, the state machine as admins see it live,
//! reconnects, final states, messages both ways, and restore after a restart.

use crate::common;

use common::fake_whatsapp::{FakeWhatsApp, qr_code, text_from};
use common::wait::until;
use common::ws::Agent;
use common::{
    Backend, TestApp, TestDb, fail_session_state_updates, spawn_app_with, start_with, test_config,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::config::Config;
use switchboard_actors::session::driver::{DriverEvent, WaInbound, WaRead};
use switchboard_actors::{ChannelId, DeliveryStatus, MessageKind, Millis};
use uuid::Uuid;

pub struct Setup {
    pub app: TestApp,
    pub fake: FakeWhatsApp,
    pub token: String,
}

/// Quick reconnects, so tests see several within their wait.
pub fn quick(config: &mut Config) {
    config.whatsapp_web.reconnect_base_ms = 20;
    config.whatsapp_web.reconnect_max_secs = 1;
    config.whatsapp_web.qr_min_interval_ms = 0;
}

pub async fn setup(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Setup {
    let fake = FakeWhatsApp::new();
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    quick(&mut config);
    tweak(&mut config);
    let app = start_with(config, db, Some(fake.driver())).await;
    let (token, _) = app.owner_session().await;
    Setup { app, fake, token }
}

/// Creates a WhatsApp Web channel; its session starts at once.
pub async fn connect_number(app: &TestApp, token: &str) -> ChannelId {
    let created = app
        .post(
            "/api/v1/channels",
            Some(token),
            json!({ "kind": "whatsapp_web", "name": "Front desk" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["kind"], "whatsapp_web");
    assert!(created.body["webhook"].is_null(), "{}", created.body);
    ChannelId(Uuid::parse_str(created.body["id"].as_str().unwrap()).unwrap())
}

pub async fn session(app: &TestApp, token: &str, channel: ChannelId) -> Value {
    let reply = app
        .get(&format!("/api/v1/channels/{channel}/session"), Some(token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Waits until the session's stored state is `state`, and returns the session.
pub async fn until_state(app: &TestApp, token: &str, channel: ChannelId, state: &str) -> Value {
    until(&format!("session state {state}"), || async {
        let body = session(app, token, channel).await;
        (body["state"] == state).then_some(body)
    })
    .await
}

/// Scans the QR code and waits until the session is connected.
pub async fn pair(setup: &Setup, channel: ChannelId) {
    until_state(&setup.app, &setup.token, channel, "qr").await;
    setup.fake.scan(channel, "+4915112345678").await;
    until_state(&setup.app, &setup.token, channel, "connected").await;
}

pub async fn post(setup: &Setup, path: &str, body: Value) -> common::Reply {
    setup.app.post(path, Some(&setup.token), body).await
}

/// The next `session.updated` frame's data.
async fn next_session_frame(agent: &mut Agent) -> Value {
    let frame = agent.next_of(&["session.updated"]).await;
    assert!(frame["conversation_id"].is_null(), "{frame}");
    frame["data"].clone()
}

async fn creating_a_channel_shows_its_qr_code_live_to_admins_and_never_to_agents(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    let (_, agent_token) = setup
        .app
        .user_with_role(&setup.token, "agent@example.com", "agent")
        .await;
    let mut admin = Agent::connect(&setup.app.base, &setup.token).await;
    admin.subscribe(None).await;
    let mut agent = Agent::connect(&setup.app.base, &agent_token).await;
    agent.subscribe(None).await;

    let channel = connect_number(&setup.app, &setup.token).await;
    let starting = next_session_frame(&mut admin).await;
    assert_eq!(starting["state"], "starting");
    assert_eq!(starting["channel_id"], channel.to_string());
    let qr = next_session_frame(&mut admin).await;
    assert_eq!(qr["state"], "qr");
    assert_eq!(qr["detail"]["qr"], qr_code(1));
    assert!(qr["detail"]["expires_at"].is_string());

    // WhatsApp rotates the code: the new one reaches the admin as it comes.
    assert!(setup.fake.rotate_qr(channel).await);
    let rotated = next_session_frame(&mut admin).await;
    assert_eq!(rotated["detail"]["qr"], qr_code(2));

    let shown = session(&setup.app, &setup.token, channel).await;
    assert_eq!(shown["state"], "qr");
    assert_eq!(shown["detail"]["qr"], qr_code(2));
    let svg = shown["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && !svg.contains("<script"), "{svg}");
    assert_eq!(shown["paired"], false);

    // The agent saw none of it: login codes are for admins.
    agent.assert_nothing_pending().await;
    let refused = setup
        .app
        .get(
            &format!("/api/v1/channels/{channel}/session"),
            Some(&agent_token),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn a_scan_pairs_the_number_restarts_as_a_normal_step_and_connects(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    let mut admin = Agent::connect(&setup.app.base, &setup.token).await;
    admin.subscribe(None).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    until_state(&setup.app, &setup.token, channel, "qr").await;
    setup.fake.scan(channel, "+4915112345678").await;

    let mut states = Vec::new();
    loop {
        let data = next_session_frame(&mut admin).await;
        states.push(data["state"].as_str().unwrap().to_owned());
        if data["state"] == "connected" {
            assert_eq!(data["detail"]["phone"], "+4915112345678");
            assert_eq!(data["detail"]["name"], "Ada's phone");
            assert_eq!(data["paired"], true);
            break;
        }
    }
    // starting, qr, then paired (starting), the restart (starting), connected: no
    // failure and no reconnect on the way.
    assert_eq!(
        states,
        ["starting", "qr", "starting", "starting", "connected"],
        "{states:?}"
    );
    assert_eq!(setup.fake.connects(channel), 2);
    assert_eq!(setup.fake.most_alive(channel), 1);
    let history = setup
        .app
        .get(
            &format!("/api/v1/channels/{channel}/session/history"),
            Some(&setup.token),
        )
        .await;
    let states: Vec<&str> = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["connected", "starting", "starting", "qr", "starting"]
    );
    // Spent codes are not shown again.
    assert!(history.body["data"][3]["detail"]["qr"].is_null());
    common::wait::until_metric(
        &setup.app.base,
        "whatsapp_sessions",
        "state=\"connected\"",
        |n| n == 1.0,
    )
    .await;
}

async fn unscanned_qr_codes_stop_the_session_instead_of_looping(backend: Backend) {
    let setup = setup(backend, |c| c.whatsapp_web.max_qr_codes = 3).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    until_state(&setup.app, &setup.token, channel, "qr").await;
    for _ in 0..3 {
        setup.fake.rotate_qr(channel).await;
    }
    let stopped = until_state(&setup.app, &setup.token, channel, "stopped").await;
    assert!(
        stopped["detail"]["reason"]
            .as_str()
            .unwrap()
            .contains("no one scanned"),
        "{stopped}"
    );
    // Stopped means no client and no more tries.
    assert_eq!(setup.fake.alive(channel), 0);
    assert_eq!(setup.fake.connects(channel), 1);

    // A restart shows fresh codes.
    let restarted = post(
        &setup,
        &format!("/api/v1/channels/{channel}/session/restart"),
        json!({}),
    )
    .await;
    assert_eq!(restarted.status, StatusCode::ACCEPTED, "{}", restarted.body);
    until_state(&setup.app, &setup.token, channel, "qr").await;
    assert_eq!(setup.fake.connects(channel), 2);
}

async fn a_storm_of_qr_codes_reaches_admins_at_most_once_per_interval(backend: Backend) {
    let setup = setup(backend, |c| {
        c.whatsapp_web.qr_min_interval_ms = 60_000;
        c.whatsapp_web.max_qr_codes = 100;
    })
    .await;
    let mut admin = Agent::connect(&setup.app.base, &setup.token).await;
    admin.subscribe(None).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    assert_eq!(next_session_frame(&mut admin).await["state"], "starting");
    assert_eq!(
        next_session_frame(&mut admin).await["detail"]["qr"],
        qr_code(1)
    );
    for _ in 0..50 {
        assert!(setup.fake.rotate_qr(channel).await);
    }
    // Every code was taken from the client (the mailbox drained), none was shown.
    admin.assert_nothing_pending().await;
    let shown = session(&setup.app, &setup.token, channel).await;
    assert_eq!(shown["detail"]["qr"], qr_code(1));
}

async fn a_pairing_code_is_given_for_a_number_and_audited(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    until_state(&setup.app, &setup.token, channel, "qr").await;
    let path = format!("/api/v1/channels/{channel}/session/pairing-code");

    let bad = post(&setup, &path, json!({ "phone": "not a number" })).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "invalid_request");

    let given = post(&setup, &path, json!({ "phone": "+49 151 12345678" })).await;
    assert_eq!(given.status, StatusCode::OK, "{}", given.body);
    assert_eq!(given.body["code"], "ABCD-EFGH");
    let shown = until_state(&setup.app, &setup.token, channel, "pairing_code").await;
    assert_eq!(shown["detail"]["pairing_code"], "ABCD-EFGH");

    let audit = setup.app.get("/api/v1/audit-log", Some(&setup.token)).await;
    let entry = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "session.pairing_code")
        .expect("an audit row");
    assert_eq!(entry["details"]["phone"], "+4915112345678");

    // Once connected, a pairing code makes no sense.
    setup.fake.scan(channel, "+4915112345678").await;
    until_state(&setup.app, &setup.token, channel, "connected").await;
    let late = post(&setup, &path, json!({ "phone": "+4915112345678" })).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.error_code(), "session_not_ready");
}

async fn a_dropped_connection_reconnects_with_backoff_until_it_holds(backend: Backend) {
    let setup = setup(backend, |c| c.whatsapp_web.stable_after_secs = 3_600).await;
    let mut admin = Agent::connect(&setup.app.base, &setup.token).await;
    admin.subscribe(None).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    // Two failed tries after the drop, then it connects.
    setup.fake.fail_next_connects(channel, 2);
    assert!(setup.fake.drop_connection(channel).await);
    let mut attempts = Vec::new();
    loop {
        let data = next_session_frame(&mut admin).await;
        if data["state"] == "reconnecting" {
            assert!(data["detail"]["next_try_at"].is_string(), "{data}");
            attempts.push(data["detail"]["attempt"].as_u64().unwrap());
        }
        if data["state"] == "connected" && !attempts.is_empty() {
            break;
        }
    }
    assert_eq!(attempts, [1, 2, 3]);
    // Not stable yet: the next drop goes on counting.
    assert!(setup.fake.drop_connection(channel).await);
    let next = loop {
        let data = next_session_frame(&mut admin).await;
        if data["state"] == "reconnecting" {
            break data;
        }
    };
    assert_eq!(next["detail"]["attempt"], 4);
    until_state(&setup.app, &setup.token, channel, "connected").await;
    assert_eq!(setup.fake.most_alive(channel), 1);
    common::wait::until_metric(
        &setup.app.base,
        "whatsapp_session_reconnects_total",
        "",
        |n| n >= 4.0,
    )
    .await;
}

async fn a_connection_that_held_its_stable_period_starts_its_backoff_again(backend: Backend) {
    // Every connection counts as stable at once: each drop is a first try again.
    let setup = setup(backend, |c| c.whatsapp_web.stable_after_secs = 0).await;
    let mut admin = Agent::connect(&setup.app.base, &setup.token).await;
    admin.subscribe(None).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    for _ in 0..3 {
        assert!(setup.fake.drop_connection(channel).await);
        let data = loop {
            let data = next_session_frame(&mut admin).await;
            if data["state"] == "reconnecting" {
                break data;
            }
        };
        assert_eq!(data["detail"]["attempt"], 1);
        until_state(&setup.app, &setup.token, channel, "connected").await;
    }
}

async fn logged_out_conflict_and_ban_stop_the_retries_and_say_why(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    for (event, state, reason) in [
        (
            DriverEvent::LoggedOut {
                reason: "the phone unlinked this device".into(),
            },
            "logged_out",
            "the phone unlinked this device",
        ),
        (
            DriverEvent::Conflict {
                reason: "another client connected with this session".into(),
            },
            "conflict",
            "another client connected with this session",
        ),
        (
            DriverEvent::Banned {
                reason: "the number is banned until 2026-12-01".into(),
            },
            "banned",
            "the number is banned until 2026-12-01",
        ),
    ] {
        let channel = connect_number(&setup.app, &setup.token).await;
        pair(&setup, channel).await;
        let connects = setup.fake.connects(channel);
        assert!(setup.fake.emit(channel, event).await);
        let shown = until_state(&setup.app, &setup.token, channel, state).await;
        assert_eq!(shown["detail"]["reason"], reason);
        assert_eq!(
            setup.fake.alive(channel),
            0,
            "{state}: the client is shut down"
        );
        assert_eq!(setup.fake.connects(channel), connects, "{state}: no retry");
        if state == "logged_out" {
            // The keys went with the device: a restart asks for a new scan.
            assert_eq!(shown["paired"], false);
            post(
                &setup,
                &format!("/api/v1/channels/{channel}/session/restart"),
                json!({}),
            )
            .await;
            until_state(&setup.app, &setup.token, channel, "qr").await;
        }
    }
}

async fn an_admin_logout_unlinks_the_phone_deletes_the_keys_and_is_audited(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    let path = format!("/api/v1/channels/{channel}/session/logout");
    let out = post(&setup, &path, json!({})).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    let shown = until_state(&setup.app, &setup.token, channel, "logged_out").await;
    assert_eq!(shown["paired"], false);
    assert_eq!(setup.fake.logouts(channel), 1);
    assert_eq!(setup.fake.alive(channel), 0);
    let audit = setup.app.get("/api/v1/audit-log", Some(&setup.token)).await;
    assert!(
        audit.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "session.logout"),
        "{}",
        audit.body
    );
    // No keys are left: a restart shows a QR code, not a connection.
    post(
        &setup,
        &format!("/api/v1/channels/{channel}/session/restart"),
        json!({}),
    )
    .await;
    until_state(&setup.app, &setup.token, channel, "qr").await;
}

/// The conversations of the tenant, newest first.
pub async fn conversations(setup: &Setup) -> Vec<Value> {
    let reply = setup
        .app
        .get("/api/v1/conversations?limit=100", Some(&setup.token))
        .await;
    reply.body["data"].as_array().unwrap().clone()
}

pub async fn messages_of(setup: &Setup, conversation: &str) -> Vec<Value> {
    let reply = setup
        .app
        .get(
            &format!("/api/v1/conversations/{conversation}/messages?limit=100"),
            Some(&setup.token),
        )
        .await;
    reply.body["data"].as_array().unwrap().clone()
}

/// The message `id` of the conversation, as the API shows it.
pub async fn message_in(setup: &Setup, conversation: &str, id: &str) -> Option<Value> {
    messages_of(setup, conversation)
        .await
        .into_iter()
        .find(|m| m["id"] == id)
}

async fn messages_arrive_once_live_and_join_the_contact_the_number_already_has(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    // The customer is known already (from the Cloud API channel, a form, by hand).
    let contact = post(
        &setup,
        "/api/v1/contacts",
        json!({ "name": "Grace Hopper", "phones": ["+4917612345678"] }),
    )
    .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    let mut admin = Agent::connect(&setup.app.base, &setup.token).await;
    admin.subscribe(None).await;

    let hello = text_from("+4917612345678", "3EB0C0FFEE01", "Hello from WhatsApp");
    assert!(setup.fake.deliver(channel, hello.clone()).await);
    // WhatsApp sends it again after a reconnect: still one message.
    assert!(setup.fake.deliver(channel, hello).await);
    let frame = admin.next_of(&["message.new"]).await;
    assert_eq!(frame["data"]["message"]["body"], "Hello from WhatsApp");
    assert_eq!(frame["data"]["message"]["direction"], "inbound");
    admin.assert_nothing_pending().await;

    let listed = conversations(&setup).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["contact"]["id"], contact.body["id"]);
    assert_eq!(listed[0]["channel"], format!("whatsapp_web:{channel}"));
    let messages = messages_of(&setup, listed[0]["id"].as_str().unwrap()).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["provider_id"], "3EB0C0FFEE01");
    common::wait::until_metric(
        &setup.app.base,
        "whatsapp_session_messages_total",
        "direction=\"in\"",
        |n| n == 1.0,
    )
    .await;
}

async fn a_group_is_one_conversation_and_each_message_names_its_writer(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    for (n, (phone, name)) in [("+4917600000001", "Ann"), ("+4917600000002", "Bob")]
        .into_iter()
        .enumerate()
    {
        let message = WaInbound {
            id: format!("GROUPMSG{n}"),
            chat: "120363040000000001@g.us".into(),
            chat_name: Some("Customers EU".into()),
            phone: None,
            participant: Some((phone.into(), Some(name.into()))),
            from_me: false,
            kind: MessageKind::Text,
            body: Some(format!("hi from {name}")),
            attachment: None,
            at: Millis::now(),
        };
        assert!(setup.fake.deliver(channel, message).await);
    }
    let listed = until("the group's two messages", || async {
        let listed = conversations(&setup).await;
        let id = listed.first()?["id"].as_str()?.to_owned();
        (messages_of(&setup, &id).await.len() == 2).then_some(listed)
    })
    .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["contact"]["name"], "Customers EU");
    let messages = messages_of(&setup, listed[0]["id"].as_str().unwrap()).await;
    assert_eq!(messages[0]["attachment"]["participant"]["name"], "Ann");
    assert_eq!(
        messages[1]["attachment"]["participant"]["phone"],
        "+4917600000002"
    );

    // Reading the group tells each writer their message was read.
    let conversation = listed[0]["id"].as_str().unwrap();
    post(
        &setup,
        &format!("/api/v1/conversations/{conversation}/read"),
        json!({}),
    )
    .await;
    let reads = until("the read receipts", || async {
        let reads = setup.fake.reads(channel);
        (reads.len() == 2).then_some(reads)
    })
    .await;
    let group = "120363040000000001@g.us";
    assert_eq!(
        reads,
        vec![
            WaRead {
                chat: group.into(),
                sender: Some("4917600000001@s.whatsapp.net".into()),
                ids: vec!["GROUPMSG0".into()],
            },
            WaRead {
                chat: group.into(),
                sender: Some("4917600000002@s.whatsapp.net".into()),
                ids: vec!["GROUPMSG1".into()],
            },
        ]
    );
}

async fn reading_a_chat_marks_the_customers_unanswered_messages_read_on_their_phone(
    backend: Backend,
) {
    let setup = setup(backend, |_| {}).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    let customer = "+4917612345678";
    for (id, text) in [("IN1", "Hello?"), ("IN2", "Anyone there?")] {
        assert!(
            setup
                .fake
                .deliver(channel, text_from(customer, id, text))
                .await
        );
    }
    let conversation = until("both messages", || async {
        let id = conversations(&setup).await.first()?["id"]
            .as_str()?
            .to_owned();
        (messages_of(&setup, &id).await.len() == 2).then_some(id)
    })
    .await;
    let read_path = format!("/api/v1/conversations/{conversation}/read");
    post(&setup, &read_path, json!({})).await;
    let chat = "4917612345678@s.whatsapp.net";
    until("the first read receipt", || async {
        (setup.fake.reads(channel).len() == 1).then_some(())
    })
    .await;
    assert_eq!(
        setup.fake.reads(channel)[0],
        WaRead {
            chat: chat.into(),
            sender: None,
            ids: vec!["IN1".into(), "IN2".into()],
        }
    );

    // After the team's reply only what came since is unanswered.
    let reply = post(
        &setup,
        &format!("/api/v1/conversations/{conversation}/messages"),
        json!({ "body": "Here, how can I help?" }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert!(
        setup
            .fake
            .deliver(channel, text_from(customer, "IN3", "My order is late"))
            .await
    );
    until("the third message", || async {
        (messages_of(&setup, &conversation).await.len() == 4).then_some(())
    })
    .await;
    post(&setup, &read_path, json!({})).await;
    until("the second read receipt", || async {
        (setup.fake.reads(channel).len() == 2).then_some(())
    })
    .await;
    assert_eq!(
        setup.fake.reads(channel)[1],
        WaRead {
            chat: chat.into(),
            sender: None,
            ids: vec!["IN3".into()],
        }
    );
}

async fn replies_go_out_through_the_session_and_receipts_only_move_them_forward(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    assert!(
        setup
            .fake
            .deliver(
                channel,
                text_from("+4917612345678", "IN1", "Do you ship to Spain?")
            )
            .await
    );
    let conversation = until("the conversation", || async {
        conversations(&setup).await.first()?["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let sent = post(
        &setup,
        &format!("/api/v1/conversations/{conversation}/messages"),
        json!({ "body": "Yes, in 3 days." }),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let reply_id = sent.body["id"].as_str().unwrap().to_owned();
    let provider_id = until("the reply sent", || async {
        let reply = message_in(&setup, &conversation, &reply_id).await?;
        (reply["status"] == "sent").then(|| reply["provider_id"].as_str().unwrap().to_owned())
    })
    .await;
    let out = setup.fake.sent(channel);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, "4917612345678@s.whatsapp.net");
    assert_eq!(out[0].body.as_deref(), Some("Yes, in 3 days."));

    // Read arrives before delivered: the status stays read.
    setup
        .fake
        .receipt(channel, vec![provider_id.clone()], DeliveryStatus::Read)
        .await;
    setup
        .fake
        .receipt(channel, vec![provider_id], DeliveryStatus::Delivered)
        .await;
    until("the reply read", || async {
        let reply = message_in(&setup, &conversation, &reply_id).await?;
        (reply["status"] == "read").then_some(())
    })
    .await;
    // The delivered receipt was applied after read, and did not move it back.
    common::wait::until_metric(
        &setup.app.base,
        "whatsapp_session_messages_total",
        "direction=\"out\"",
        |n| n == 1.0,
    )
    .await;
    let reply = message_in(&setup, &conversation, &reply_id).await.unwrap();
    assert_eq!(reply["status"], "read");
}

async fn messages_sent_from_the_phone_itself_appear_as_outbound(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    let mut mine = text_from("+4917612345678", "FROMPHONE1", "Sent from my phone");
    mine.from_me = true;
    assert!(setup.fake.deliver(channel, mine).await);
    let conversation = until("the conversation", || async {
        conversations(&setup).await.first()?["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let messages = messages_of(&setup, &conversation).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["direction"], "outbound");
    assert_eq!(messages[0]["body"], "Sent from my phone");
}

async fn five_hundred_messages_through_reconnect_storms_are_stored_exactly_once(backend: Backend) {
    let setup = setup(backend, |_| {}).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    let mut delivered = 0;
    let mut n = 0;
    while n < 500 {
        let message = text_from(
            &format!("+49176{:08}", n % 25),
            &format!("STORM{n:04}"),
            &format!("#{n}"),
        );
        if setup.fake.deliver(channel, message.clone()).await {
            // WhatsApp redelivers what it is not sure we saw.
            setup.fake.deliver(channel, message).await;
            delivered += 1;
            n += 1;
            if n % 50 == 0 {
                setup.fake.drop_connection(channel).await;
            }
        } else {
            // The connection is down: wait for a new client to be up.
            until("a new client", || async {
                setup.fake.connected(channel).then_some(())
            })
            .await;
        }
    }
    assert_eq!(delivered, 500);
    let counted = until("500 stored messages", || async {
        let mut total = 0;
        for conversation in conversations(&setup).await {
            total += messages_of(&setup, conversation["id"].as_str().unwrap())
                .await
                .len();
        }
        (total >= 500).then_some(total)
    })
    .await;
    assert_eq!(counted, 500);
    assert_eq!(setup.fake.most_alive(channel), 1);
}

async fn a_paired_session_comes_back_by_itself_after_a_restart(backend: Backend) {
    let fake = FakeWhatsApp::new();
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    quick(&mut config);
    let first = start_with(config.clone(), db, Some(fake.driver())).await;
    let (token, _) = first.owner_session().await;
    let setup = Setup {
        app: first,
        fake: fake.clone(),
        token: token.clone(),
    };
    let channel = connect_number(&setup.app, &token).await;
    pair(&setup, channel).await;
    let unpaired = connect_number(&setup.app, &token).await;
    until_state(&setup.app, &token, unpaired, "qr").await;

    // A clean stop shuts the clients down and hands the leases back.
    setup.app.stop(true).await;
    until("the clients shut down", || async {
        (fake.alive(channel) == 0).then_some(())
    })
    .await;
    let connects = fake.connects(channel);

    let Setup { app, .. } = setup;
    // The stop handed the sessions over.
    let second = start_with(config, app.db, Some(fake.driver())).await;
    let handed = session(&second, &token, channel).await;
    assert_eq!(handed["paired"], true);
    until("a new client", || async {
        (fake.connects(channel) == connects + 1 && fake.alive(channel) == 1).then_some(())
    })
    .await;
    let shown = until_state(&second, &token, channel, "connected").await;
    assert_eq!(shown["detail"]["phone"], "+4915112345678");
    assert_eq!(fake.most_alive(channel), 1);
    // The session that was waiting for a scan shows a code again.
    until_state(&second, &token, unpaired, "qr").await;
}

async fn a_session_whose_last_state_cannot_be_stored_at_a_stop_still_gives_its_lease_up(
    backend: Backend,
) {
    let fake = FakeWhatsApp::new();
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    quick(&mut config);
    let first = start_with(config.clone(), db, Some(fake.driver())).await;
    let (token, _) = first.owner_session().await;
    let channel = connect_number(&first, &token).await;
    until_state(&first, &token, channel, "qr").await;

    // The stop cannot record that the session is handed over.
    fail_session_state_updates(&first.db, backend, true).await;
    first.stop(true).await;
    until("the client shuts down", || async {
        (fake.alive(channel) == 0).then_some(())
    })
    .await;
    fail_session_state_updates(&first.db, backend, false).await;

    // The lease was given up all the same: the next node shows a new code at once,
    // and the stopped node never built another client.
    let second = start_with(config, first.db, Some(fake.driver())).await;
    let shown = until("a new QR code", || async {
        let body = session(&second, &token, channel).await;
        (body["state"] == "qr" && body["detail"]["qr"] == qr_code(2)).then_some(body)
    })
    .await;
    assert_eq!(shown["paired"], false);
    assert_eq!(fake.connects(channel), 2);
    assert_eq!(fake.alive(channel), 1);
    assert_eq!(fake.most_alive(channel), 1);
}

async fn deleting_the_channel_shuts_its_client_and_disabling_it_stops_the_session(
    backend: Backend,
) {
    let setup = setup(backend, |_| {}).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    let disabled = setup
        .app
        .patch(
            &format!("/api/v1/channels/{channel}"),
            &setup.token,
            json!({ "state": "disabled" }),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    let shown = until_state(&setup.app, &setup.token, channel, "stopped").await;
    assert_eq!(shown["detail"]["reason"], "the channel was disabled");
    assert_eq!(setup.fake.alive(channel), 0);
    setup
        .app
        .patch(
            &format!("/api/v1/channels/{channel}"),
            &setup.token,
            json!({ "state": "active" }),
        )
        .await;
    until_state(&setup.app, &setup.token, channel, "connected").await;

    let deleted = setup
        .app
        .delete(&format!("/api/v1/channels/{channel}"), &setup.token)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(setup.fake.alive(channel), 0);
    let gone = setup
        .app
        .get(
            &format!("/api/v1/channels/{channel}/session"),
            Some(&setup.token),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

async fn a_meta_channel_still_needs_its_credentials_and_a_web_channel_refuses_them(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (token, _) = app.owner_session().await;
    let missing = app
        .post(
            "/api/v1/channels",
            Some(&token),
            json!({ "kind": "whatsapp", "name": "Cloud", "account_id": "1234" }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("access_token")
    );
    let refused = app
        .post(
            "/api/v1/channels",
            Some(&token),
            json!({ "kind": "whatsapp_web", "name": "Web", "access_token": "x" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}

on_both_backends!(
    creating_a_channel_shows_its_qr_code_live_to_admins_and_never_to_agents,
    a_scan_pairs_the_number_restarts_as_a_normal_step_and_connects,
    unscanned_qr_codes_stop_the_session_instead_of_looping,
    a_storm_of_qr_codes_reaches_admins_at_most_once_per_interval,
    a_pairing_code_is_given_for_a_number_and_audited,
    a_dropped_connection_reconnects_with_backoff_until_it_holds,
    a_connection_that_held_its_stable_period_starts_its_backoff_again,
    logged_out_conflict_and_ban_stop_the_retries_and_say_why,
    an_admin_logout_unlinks_the_phone_deletes_the_keys_and_is_audited,
    messages_arrive_once_live_and_join_the_contact_the_number_already_has,
    a_group_is_one_conversation_and_each_message_names_its_writer,
    replies_go_out_through_the_session_and_receipts_only_move_them_forward,
    reading_a_chat_marks_the_customers_unanswered_messages_read_on_their_phone,
    messages_sent_from_the_phone_itself_appear_as_outbound,
    five_hundred_messages_through_reconnect_storms_are_stored_exactly_once,
    a_paired_session_comes_back_by_itself_after_a_restart,
    a_session_whose_last_state_cannot_be_stored_at_a_stop_still_gives_its_lease_up,
    deleting_the_channel_shuts_its_client_and_disabling_it_stops_the_session,
    a_meta_channel_still_needs_its_credentials_and_a_web_channel_refuses_them,
);
