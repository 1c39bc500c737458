//! The channel gateway against a local fake Graph API: signed webhooks in (G1, G2),
//! replies out with retries, a circuit breaker and dead letters, statuses merged
//! forward (G9), leads, media, and tenants kept apart.

use crate::common;

use common::Backend;
use common::fake_graph::{Failure, FakeGraph};
use common::meta::{
    ACCESS_TOKEN, APP_SECRET, CUSTOMER, Meta, PHONE_NUMBER_ID, VERIFY_TOKEN, now_secs, setup,
    setup_with, text_from, whatsapp_payload,
};
use common::wait;
use common::ws::Agent;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchboard::channels::meta::signature;

impl Meta {
    async fn reply(&self, conversation: &str, body: Value) -> common::Reply {
        self.app
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                Some(&self.owner),
                body,
            )
            .await
    }

    /// Waits until the message's status is `status`; returns the message.
    async fn wait_status(&self, conversation: &str, message: &str, status: &str) -> Value {
        wait::until(&format!("message {message} to be {status}"), || async {
            self.messages(conversation)
                .await
                .into_iter()
                .find(|m| m["id"] == message && m["status"] == status)
        })
        .await
    }

    /// A customer message on `channel`; returns its conversation's id.
    async fn customer_writes(&self, channel: &Value) -> String {
        self.deliver(
            channel,
            &text_from(CUSTOMER, "Ada", "wamid.IN1", "hello", now_secs()),
        )
        .await;
        self.conversations(&self.owner).await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn webhook_log(&self) -> Vec<Value> {
        let reply = self.app.get("/api/v1/webhook-log", Some(&self.owner)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"].as_array().unwrap().clone()
    }
}

fn status_of(wamid: &str, status: &str) -> Value {
    let mut entry = json!({"id": wamid, "status": status, "timestamp": now_secs().to_string(), "recipient_id": CUSTOMER});
    if status == "failed" {
        entry["errors"] = json!([{
            "code": 131047, "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}
        }]);
    }
    whatsapp_payload(PHONE_NUMBER_ID, json!([]), json!([]), json!([entry]))
}

async fn channels_are_admin_records_whose_credentials_are_sealed_at_rest(backend: Backend) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    assert_eq!(channel["kind"], "whatsapp");
    assert_eq!(channel["state"], "active");
    assert_eq!(channel["webhook"]["verify_token"], VERIFY_TOKEN);
    let text = channel.to_string();
    assert!(
        !text.contains(ACCESS_TOKEN) && !text.contains(APP_SECRET),
        "{text}"
    );
    let id = channel["id"].as_str().unwrap().to_owned();

    // Only admins manage channels.
    let (_, agent) = meta
        .app
        .user_with_role(&meta.owner, "agent@example.com", "agent")
        .await;
    let refused = meta.app.get("/api/v1/channels", Some(&agent)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // The same account twice in one tenant is a conflict.
    let again = meta
        .app
        .post(
            "/api/v1/channels",
            Some(&meta.owner),
            json!({"kind": "whatsapp", "name": "dup", "account_id": PHONE_NUMBER_ID, "access_token": "x", "app_secret": APP_SECRET}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    // At rest the credentials are ciphertext.
    let sealed = common::raw_channel_credentials(&meta.app.db, backend, &id).await;
    for secret in [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN] {
        assert!(
            !sealed.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in the clear"
        );
    }

    // Update, disable, and the status endpoint.
    let updated = meta
        .app
        .patch(
            &format!("/api/v1/channels/{id}"),
            &meta.owner,
            json!({"name": "Support line", "state": "disabled"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        (
            updated.body["name"].as_str(),
            updated.body["state"].as_str()
        ),
        (Some("Support line"), Some("disabled"))
    );
    let status = meta
        .app
        .get(&format!("/api/v1/channels/{id}/status"), Some(&meta.owner))
        .await;
    assert_eq!(status.body["health"], "disabled", "{}", status.body);
    assert_eq!(status.body["circuit"], "closed");
    let listed = meta.app.get("/api/v1/channels", Some(&meta.owner)).await;
    assert_eq!(common::column(&listed.body, "name"), vec!["Support line"]);

    // A tampered ciphertext never opens (it is not used as garbage), and it breaks
    // only its own channel: the list still answers, showing which one needs new
    // credentials.
    let healthy = meta.channel(&meta.owner, "messenger", "1234567890").await;
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    common::set_raw_channel_credentials(&meta.app.db, backend, &id, &tampered).await;
    let broken = meta
        .app
        .get(&format!("/api/v1/channels/{id}"), Some(&meta.owner))
        .await;
    assert_eq!(broken.status, StatusCode::OK, "{}", broken.body);
    assert_eq!(broken.body["credentials"], "unreadable");
    assert!(broken.body["webhook"]["verify_token"].is_null());
    let listed = meta.app.get("/api/v1/channels", Some(&meta.owner)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let states: Vec<(String, String)> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["credentials"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        states.contains(&(id.clone(), "unreadable".to_owned())),
        "{states:?}"
    );
    assert!(
        states.contains(&(healthy["id"].as_str().unwrap().to_owned(), "ok".to_owned())),
        "{states:?}"
    );
    let status = meta
        .app
        .get(&format!("/api/v1/channels/{id}/status"), Some(&meta.owner))
        .await;
    assert_eq!(status.body["credentials"], "unreadable");
    // Repaired by sending every secret again (one alone cannot be merged into
    // credentials that do not open).
    let partial = meta
        .app
        .patch(
            &format!("/api/v1/channels/{id}"),
            &meta.owner,
            json!({"access_token": "EAAG-new"}),
        )
        .await;
    assert_eq!(partial.status, StatusCode::BAD_REQUEST, "{}", partial.body);
    let repaired = meta
        .app
        .patch(
            &format!("/api/v1/channels/{id}"),
            &meta.owner,
            json!({"access_token": ACCESS_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN}),
        )
        .await;
    assert_eq!(repaired.status, StatusCode::OK, "{}", repaired.body);
    assert_eq!(repaired.body["credentials"], "ok");
    assert_eq!(repaired.body["webhook"]["verify_token"], VERIFY_TOKEN);

    let deleted = meta
        .app
        .delete(&format!("/api/v1/channels/{id}"), &meta.owner)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = meta
        .app
        .get(&format!("/api/v1/channels/{id}"), Some(&meta.owner))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

async fn a_weak_app_secret_or_verify_token_is_refused(backend: Backend) {
    let meta = setup(backend).await;
    for (secret, token) in [
        ("y", VERIFY_TOKEN),
        ("test-app-secret", VERIFY_TOKEN),
        ("0123456789abcdef0123456789abcdef", VERIFY_TOKEN),
        (APP_SECRET, "v"),
        (APP_SECRET, "aaaaaaaaaaaaaaaaaaaa"),
    ] {
        let refused = meta
            .app
            .post(
                "/api/v1/channels",
                Some(&meta.owner),
                json!({"kind": "whatsapp", "name": "Weak", "account_id": PHONE_NUMBER_ID,
                       "access_token": ACCESS_TOKEN, "app_secret": secret, "verify_token": token}),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{secret} {token}: {}",
            refused.body
        );
        assert_eq!(refused.error_code(), "invalid_request");
    }
    let channel = meta.whatsapp().await;
    let id = channel["id"].as_str().unwrap();
    let weakened = meta
        .app
        .patch(
            &format!("/api/v1/channels/{id}"),
            &meta.owner,
            json!({"app_secret": "short"}),
        )
        .await;
    assert_eq!(
        weakened.status,
        StatusCode::BAD_REQUEST,
        "{}",
        weakened.body
    );
    let message = weakened.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("at least 16 characters"), "{message}");
}

async fn the_handshake_echoes_the_challenge_only_for_the_verify_token(backend: Backend) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    let path = channel["webhook"]["path"].as_str().unwrap();
    let ok = meta
        .app
        .get(
            &format!(
                "{path}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
            ),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, json!(1158201444));
    let wrong = meta
        .app
        .get(
            &format!("{path}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444"),
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.error_code(), "forbidden");
    let no_mode = meta
        .app
        .get(
            &format!("{path}?hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"),
            None,
        )
        .await;
    assert_eq!(no_mode.status, StatusCode::FORBIDDEN);
}

async fn a_missing_or_wrong_signature_is_refused_and_stores_nothing(backend: Backend) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    let payload = text_from(CUSTOMER, "Ada", "wamid.A1", "hello", now_secs());
    let wrong = meta
        .deliver_signed(&channel, &payload, "not-the-app-secret")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error_code(), "invalid_signature");
    let missing = meta
        .app
        .send(
            meta.app
                .http
                .post(meta.app.url(channel["webhook"]["path"].as_str().unwrap()))
                .header("content-type", "application/json")
                .body(payload.to_string()),
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    // Signed, then one byte changed in transit.
    let body = payload.to_string();
    let header = signature::sign(APP_SECRET, body.as_bytes());
    let flipped = body.replace("hello", "hellp");
    let tampered = meta
        .app
        .send(
            meta.app
                .http
                .post(meta.app.url(channel["webhook"]["path"].as_str().unwrap()))
                .header("x-hub-signature-256", header)
                .body(flipped),
        )
        .await;
    assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);
    assert!(meta.conversations(&meta.owner).await.is_empty());
    assert!(meta.webhook_log().await.is_empty());
}

async fn every_whatsapp_message_type_is_stored_with_its_content(backend: Backend) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    let t = now_secs().to_string();
    let m = |id: &str, kind: &str, part: Value| {
        let mut message = json!({"from": CUSTOMER, "id": id, "timestamp": t, "type": kind});
        message[kind] = part;
        message
    };
    let mut contacts_card =
        json!({"from": CUSTOMER, "id": "wamid.08", "timestamp": t, "type": "contacts"});
    contacts_card["contacts"] = json!([{"name": {"formatted_name": "Grace Hopper", "first_name": "Grace"}, "phones": [{"phone": "+1 415 555 0100", "type": "CELL"}]}]);
    let messages = json!([
        m("wamid.01", "text", json!({"body": "Hi there"})),
        m(
            "wamid.02",
            "image",
            json!({"id": "media-img", "mime_type": "image/jpeg", "sha256": "abc", "caption": "my receipt"})
        ),
        m(
            "wamid.03",
            "audio",
            json!({"id": "media-aud", "mime_type": "audio/ogg; codecs=opus", "voice": true})
        ),
        m(
            "wamid.04",
            "video",
            json!({"id": "media-vid", "mime_type": "video/mp4"})
        ),
        m(
            "wamid.05",
            "document",
            json!({"id": "media-doc", "mime_type": "application/pdf", "filename": "invoice.pdf", "caption": "invoice"})
        ),
        m(
            "wamid.06",
            "sticker",
            json!({"id": "media-stk", "mime_type": "image/webp", "animated": false})
        ),
        m(
            "wamid.07",
            "location",
            json!({"latitude": 52.52, "longitude": 13.405, "name": "Alexanderplatz", "address": "Berlin"})
        ),
        contacts_card,
        m(
            "wamid.09",
            "interactive",
            json!({"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes please"}})
        ),
        m(
            "wamid.10",
            "interactive",
            json!({"type": "list_reply", "list_reply": {"id": "slot-3", "title": "Tuesday 10:00", "description": "in store"}})
        ),
        m(
            "wamid.11",
            "button",
            json!({"payload": "STOP_PROMOS", "text": "Stop promotions"})
        ),
        m(
            "wamid.12",
            "reaction",
            json!({"message_id": "wamid.01", "emoji": "👍"})
        ),
        m("wamid.13", "order", json!({"catalog_id": "1"})),
    ]);
    let payload = whatsapp_payload(
        PHONE_NUMBER_ID,
        json!([{"profile": {"name": "Ada Lovelace"}, "wa_id": CUSTOMER}]),
        messages,
        json!([]),
    );
    let answer = meta.deliver(&channel, &payload).await;
    assert_eq!(answer, json!({"received": 12, "logged": 1}));

    let conversations = meta.conversations(&meta.owner).await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["contact"]["name"], "Ada Lovelace");
    assert_eq!(
        conversations[0]["channel"],
        format!("whatsapp:{}", channel["id"].as_str().unwrap())
    );
    let messages = meta
        .messages(conversations[0]["id"].as_str().unwrap())
        .await;
    let summary: Vec<(String, Value)> = messages
        .iter()
        .map(|m| (m["type"].as_str().unwrap().to_owned(), m["body"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("text".into(), json!("Hi there")),
            ("image".into(), json!("my receipt")),
            ("audio".into(), Value::Null),
            ("video".into(), Value::Null),
            ("document".into(), json!("invoice")),
            ("sticker".into(), Value::Null),
            ("location".into(), json!("Alexanderplatz")),
            ("contact".into(), json!("Grace Hopper")),
            ("interactive".into(), json!("Yes please")),
            ("interactive".into(), json!("Tuesday 10:00")),
            ("interactive".into(), json!("Stop promotions")),
            ("reaction".into(), json!("👍")),
        ]
    );
    assert_eq!(messages[1]["attachment"]["media_id"], "media-img");
    assert_eq!(messages[4]["attachment"]["filename"], "invoice.pdf");
    assert_eq!(messages[6]["attachment"]["latitude"], 52.52);
    assert_eq!(
        messages[7]["attachment"]["contacts"][0]["phones"][0]["phone"],
        "+1 415 555 0100"
    );
    assert_eq!(messages[8]["attachment"]["reply_id"], "yes-1");
    assert_eq!(messages[10]["attachment"]["payload"], "STOP_PROMOS");
    assert_eq!(messages[11]["attachment"]["message_id"], "wamid.01");
    assert!(
        messages
            .iter()
            .all(|m| m["direction"] == "inbound" && m["status"] == "delivered")
    );
    // The one type we do not read is kept for admins with the whole body.
    let log = meta.webhook_log().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["error"], "unsupported WhatsApp message type 'order'");
    assert!(log[0]["body"].as_str().unwrap().contains("catalog_id"));
}

async fn messenger_and_instagram_messages_postbacks_echoes_and_reads_are_understood(
    backend: Backend,
) {
    let meta = setup(backend).await;
    let page = meta.channel(&meta.owner, "messenger", "1234567890").await;
    let instagram = meta
        .channel(&meta.owner, "instagram", "17841400000000")
        .await;
    let t = 1_700_000_000_000i64;
    let event = |object: &str, account: &str, messaging: Value| json!({"object": object, "entry": [{"id": account, "time": t, "messaging": [messaging]}]});
    meta.deliver(
        &page,
        &event(
            "page",
            "1234567890",
            json!({
        "sender": {"id": "psid-1"}, "recipient": {"id": "1234567890"}, "timestamp": t,
        "message": {"mid": "m_1", "text": "Is my order shipped?"}}),
        ),
    )
    .await;
    meta.deliver(
        &page,
        &event(
            "page",
            "1234567890",
            json!({
        "sender": {"id": "psid-1"}, "recipient": {"id": "1234567890"}, "timestamp": t + 1,
        "postback": {"mid": "m_2", "title": "Track order", "payload": "TRACK"}}),
        ),
    )
    .await;
    meta.deliver(&page, &event("page", "1234567890", json!({
        "sender": {"id": "psid-1"}, "recipient": {"id": "1234567890"}, "timestamp": t + 2,
        "message": {"mid": "m_3", "attachments": [{"type": "image", "payload": {"url": "https://scontent.example/p.jpg"}}]}}))).await;
    // An echo: the page answered from another tool; the customer is the recipient.
    meta.deliver(
        &page,
        &event(
            "page",
            "1234567890",
            json!({
        "sender": {"id": "1234567890"}, "recipient": {"id": "psid-1"}, "timestamp": t + 3,
        "message": {"mid": "m_4", "is_echo": true, "app_id": 1517, "text": "Yes, this morning"}}),
        ),
    )
    .await;
    meta.deliver(
        &instagram,
        &event(
            "instagram",
            "17841400000000",
            json!({
        "sender": {"id": "igsid-9"}, "recipient": {"id": "17841400000000"}, "timestamp": t,
        "message": {"mid": "ig_1", "text": "love this"}}),
        ),
    )
    .await;

    let conversations = meta.conversations(&meta.owner).await;
    assert_eq!(conversations.len(), 2);
    let messenger = conversations
        .iter()
        .find(|c| c["channel"].as_str().unwrap().starts_with("messenger:"))
        .unwrap();
    let messages = meta.messages(messenger["id"].as_str().unwrap()).await;
    let summary: Vec<(&str, &str, Value)> = messages
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["type"].as_str().unwrap(),
                m["body"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("inbound", "text", json!("Is my order shipped?")),
            ("inbound", "interactive", json!("Track order")),
            ("inbound", "image", Value::Null),
            ("outbound", "text", json!("Yes, this morning")),
        ]
    );
    assert_eq!(messages[1]["attachment"]["payload"], "TRACK");
    assert_eq!(
        messages[2]["attachment"]["media_url"],
        "https://scontent.example/p.jpg"
    );
    assert_eq!(messages[3]["status"], "sent");

    // A read watermark marks the replies before it read.
    meta.deliver(
        &page,
        &event(
            "page",
            "1234567890",
            json!({
        "sender": {"id": "psid-1"}, "recipient": {"id": "1234567890"}, "timestamp": t + 10,
        "read": {"watermark": now_secs() * 1000 + 60_000}}),
        ),
    )
    .await;
    let echo = meta.messages(messenger["id"].as_str().unwrap()).await[3].clone();
    assert_eq!(echo["status"], "read");

    let ig = conversations
        .iter()
        .find(|c| c["channel"].as_str().unwrap().starts_with("instagram:"))
        .unwrap();
    assert_eq!(
        meta.messages(ig["id"].as_str().unwrap()).await[0]["body"],
        "love this"
    );
}

async fn a_signed_webhook_is_stored_within_the_text_rules_and_limits_and_acknowledged(
    backend: Backend,
) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    // A NUL in the name and the text: removed, not a failed insert the provider
    // would redeliver for ever.
    meta.deliver(
        &channel,
        &text_from(
            CUSTOMER,
            "Zo\u{0}ë",
            "wamid.NUL",
            "a\u{0}b\u{7}c",
            now_secs(),
        ),
    )
    .await;
    let long = "x".repeat(10_000);
    meta.deliver(
        &channel,
        &text_from(CUSTOMER, "Zoë", "wamid.LONG", &long, now_secs()),
    )
    .await;
    let cards: Vec<Value> = (0..400)
        .map(|n| json!({"name": {"formatted_name": format!("Card {n} {}", "y".repeat(40))}}))
        .collect();
    let huge = whatsapp_payload(
        PHONE_NUMBER_ID,
        json!([{"profile": {"name": "Zoë"}, "wa_id": CUSTOMER}]),
        json!([{"from": CUSTOMER, "id": "wamid.HUGE", "timestamp": now_secs().to_string(), "type": "contacts", "contacts": cards}]),
        json!([]),
    );
    meta.deliver(&channel, &huge).await;
    // Not JSON, with a NUL byte in it: kept in the log as text without it.
    let garbage = "not json \u{0} at all".to_owned();
    let logged = meta.deliver_raw(&channel, garbage, APP_SECRET).await;
    assert_eq!(logged.status, StatusCode::OK, "{}", logged.body);

    let conversations = meta.conversations(&meta.owner).await;
    assert_eq!(conversations[0]["contact"]["name"], "Zoë");
    let messages = meta
        .messages(conversations[0]["id"].as_str().unwrap())
        .await;
    assert_eq!(messages[0]["body"], "abc");
    assert_eq!(
        messages[1]["body"],
        format!("{} […cut: 5904 more characters]", "x".repeat(4096))
    );
    let attachment = &messages[2]["attachment"];
    assert!(
        attachment["omitted"]
            .as_str()
            .unwrap()
            .contains("at most 16384 are kept"),
        "{attachment}"
    );
    assert!(attachment.get("contacts").is_none());
    let log = meta.webhook_log().await;
    assert_eq!(log[0]["body"], "not json  at all");
}

async fn a_signed_payload_that_cannot_be_parsed_is_logged_and_acknowledged(backend: Backend) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    for body in [
        json!({"unexpected": true}),
        json!({"object": "whatsapp_business_account", "entry": "nope"}),
    ] {
        let answer = meta.deliver(&channel, &body).await;
        assert_eq!(answer, json!({"received": 0, "logged": 1}));
    }
    let log = meta.webhook_log().await;
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| {
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("not a Meta webhook")
    }));
    assert!(log.iter().any(|e| e["body"] == r#"{"unexpected":true}"#));
    assert!(meta.conversations(&meta.owner).await.is_empty());

    // A disabled channel keeps what it is sent in the log, not in the inbox.
    let id = channel["id"].as_str().unwrap();
    let disabled = meta
        .app
        .patch(
            &format!("/api/v1/channels/{id}"),
            &meta.owner,
            json!({"state": "disabled"}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    let message = text_from(CUSTOMER, "Ada", "wamid.D1", "anyone there?", now_secs());
    let answer = meta.deliver(&channel, &message).await;
    assert_eq!(answer, json!({"received": 0, "logged": 1}));
    let log = meta.webhook_log().await;
    assert_eq!(
        log[0]["error"],
        "the channel is disabled; nothing was delivered to the inbox"
    );
    assert!(log[0]["body"].as_str().unwrap().contains("anyone there?"));
    assert!(meta.conversations(&meta.owner).await.is_empty());
}

async fn a_thousand_concurrent_deliveries_of_one_payload_store_one_message_and_fan_out_once(
    backend: Backend,
) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    let mut agent = Agent::connect(&meta.app.base, &meta.owner).await;
    agent.subscribe(None).await;
    let payload = text_from(CUSTOMER, "Ada", "wamid.SAME", "only once", now_secs());
    let body = payload.to_string();
    let header = signature::sign(APP_SECRET, body.as_bytes());
    let url = meta.app.url(channel["webhook"]["path"].as_str().unwrap());
    let deliveries = (0..1000).map(|_| {
        let request = meta
            .app
            .http
            .post(&url)
            .header("x-hub-signature-256", &header)
            .header("content-type", "application/json")
            .body(body.clone());
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(deliveries).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );

    let conversations = meta.conversations(&meta.owner).await;
    assert_eq!(conversations.len(), 1);
    let messages = meta
        .messages(conversations[0]["id"].as_str().unwrap())
        .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["provider_id"], "wamid.SAME");
    let frame = agent.next_of(&["message.new"]).await;
    assert_eq!(frame["data"]["message"]["body"], "only once");
    agent.assert_nothing_pending().await;
}

/// An inbound message, then a reply the fake accepts; returns (conversation, message, wamid).
async fn conversation_with_reply(meta: &Meta, channel: &Value) -> (String, String, String) {
    let conversation = meta.customer_writes(channel).await;
    let sent = meta
        .reply(&conversation, json!({"body": "Hello Ada!"}))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let message = sent.body["id"].as_str().unwrap().to_owned();
    let done = meta.wait_status(&conversation, &message, "sent").await;
    (
        conversation,
        message,
        done["provider_id"].as_str().unwrap().to_owned(),
    )
}

async fn statuses_that_arrive_out_of_order_end_in_the_right_state(backend: Backend) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    let (conversation, message, wamid) = conversation_with_reply(&meta, &channel).await;
    for status in ["read", "delivered", "sent", "failed"] {
        meta.deliver(&channel, &status_of(&wamid, status)).await;
    }
    let stored = meta.wait_status(&conversation, &message, "read").await;
    assert_eq!(stored["error"], Value::Null);

    // A failure report on a second reply keeps the provider's reason; later reports
    // cannot revive it.
    let second = meta
        .reply(&conversation, json!({"body": "Still there?"}))
        .await;
    let second_id = second.body["id"].as_str().unwrap().to_owned();
    let second_wamid = meta.wait_status(&conversation, &second_id, "sent").await["provider_id"]
        .as_str()
        .unwrap()
        .to_owned();
    meta.deliver(&channel, &status_of(&second_wamid, "failed"))
        .await;
    meta.deliver(&channel, &status_of(&second_wamid, "delivered"))
        .await;
    let failed = meta.wait_status(&conversation, &second_id, "failed").await;
    assert_eq!(
        failed["error"],
        "131047 Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number."
    );
    // A status for a message nobody sent is kept for admins.
    let answer = meta
        .deliver(&channel, &status_of("wamid.UNKNOWN", "read"))
        .await;
    assert_eq!(answer, json!({"received": 0, "logged": 1}));
}

async fn the_full_loop_runs_from_a_signed_webhook_to_read_ticks_on_the_agents_socket(
    backend: Backend,
) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    let mut agent = Agent::connect(&meta.app.base, &meta.owner).await;
    agent.subscribe(None).await;

    meta.deliver(
        &channel,
        &text_from(
            CUSTOMER,
            "Ada",
            "wamid.LOOP1",
            "Where is my parcel?",
            now_secs(),
        ),
    )
    .await;
    let arrived = agent.next_of(&["message.new"]).await;
    assert_eq!(arrived["data"]["message"]["body"], "Where is my parcel?");
    assert_eq!(arrived["data"]["conversation"]["contact"]["name"], "Ada");
    let conversation = arrived["data"]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    agent
        .send(json!({"type": "message.send", "ref": 1, "conversation_id": conversation, "client_id": "loop-1", "body": "It arrives today."}))
        .await;
    // The ack, our own message and its `sent` status, in whatever order they interleave.
    let (mut ack, mut own, mut sent) = (None, None, None);
    while ack.is_none() || own.is_none() || sent.is_none() {
        let frame = agent
            .next_of(&["ack", "message.new", "message.status"])
            .await;
        match frame["type"].as_str().unwrap() {
            "ack" => ack = Some(frame),
            "message.new" => own = Some(frame),
            _ => sent = Some(frame),
        }
    }
    let (ack, own, sent) = (ack.unwrap(), own.unwrap(), sent.unwrap());
    let message = ack["result"]["message"]["id"].as_str().unwrap().to_owned();
    assert_eq!(own["data"]["message"]["id"], message.as_str());
    assert_eq!(own["data"]["message"]["status"], "pending");
    assert_eq!(
        (
            sent["data"]["message_id"].as_str(),
            sent["data"]["status"].as_str()
        ),
        (Some(message.as_str()), Some("sent"))
    );
    let wamid = sent["data"]["provider_id"].as_str().unwrap().to_owned();

    // What reached the provider: the number's endpoint, the channel's token, the text.
    let calls = meta.graph.delivered();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(
        calls[0].body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
               "type": "text", "text": {"preview_url": false, "body": "It arrives today."}})
    );

    meta.deliver(&channel, &status_of(&wamid, "delivered"))
        .await;
    let delivered = agent.next_of(&["message.status"]).await;
    assert_eq!(delivered["data"]["status"], "delivered");
    meta.deliver(&channel, &status_of(&wamid, "read")).await;
    let read = agent.next_of(&["message.status"]).await;
    assert_eq!(read["data"]["status"], "read");

    // The agent reads the conversation: the customer gets blue ticks.
    agent
        .send(json!({"type": "conversation.read", "ref": 2, "conversation_id": conversation}))
        .await;
    let (mut acked, mut updated) = (false, false);
    while !(acked && updated) {
        let frame = agent.next_of(&["ack", "conversation.updated"]).await;
        acked |= frame["type"] == "ack";
        updated |= frame["type"] == "conversation.updated";
    }
    let receipt = wait::until("a read receipt at the provider", || async {
        meta.graph
            .delivered()
            .into_iter()
            .find(|r| r.body["status"] == "read")
    })
    .await;
    assert_eq!(
        receipt.body,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.LOOP1"})
    );
    agent.assert_nothing_pending().await;
}

async fn a_provider_outage_opens_the_circuit_and_every_queued_reply_is_delivered_after(
    backend: Backend,
) {
    let meta = setup_with(backend, |c| {
        c.channels.breaker_failures = 3;
        c.channels.max_attempts = 50;
    })
    .await;
    let channel = meta.whatsapp().await;
    let conversation = meta.customer_writes(&channel).await;

    meta.graph.fail_always(Some(Failure::unavailable()));
    let mut ids = Vec::new();
    for n in 0..5 {
        let sent = meta
            .reply(&conversation, json!({"body": format!("reply {n}")}))
            .await;
        assert_eq!(sent.status, StatusCode::CREATED);
        ids.push(sent.body["id"].as_str().unwrap().to_owned());
    }
    let status_path = format!(
        "/api/v1/channels/{}/status",
        channel["id"].as_str().unwrap()
    );
    let status = wait::until("the circuit to open", || async {
        let status = meta.app.get(&status_path, Some(&meta.owner)).await;
        (status.body["health"] == "circuit_open").then_some(status)
    })
    .await;
    assert!(
        status.body["last_error"].as_str().unwrap().contains("503"),
        "{}",
        status.body
    );
    // A probe of the open circuit fails too before the provider recovers.
    let failures = || {
        meta.graph
            .requests()
            .iter()
            .filter(|r| r.status == 503)
            .count()
    };
    wait::until_true("a failed probe of the open circuit", || async {
        failures() > 3
    })
    .await;
    meta.graph.fail_always(None);
    for id in &ids {
        meta.wait_status(&conversation, id, "sent").await;
    }
    // Each reply reached the customer exactly once, in the order it was written.
    let bodies: Vec<Value> = meta
        .graph
        .delivered()
        .iter()
        .map(|r| r.body["text"]["body"].clone())
        .collect();
    assert_eq!(
        bodies,
        (0..5)
            .map(|n| json!(format!("reply {n}")))
            .collect::<Vec<_>>()
    );
    let failures = meta
        .graph
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert!(failures >= 3, "{failures} failures");
    let status = meta.app.get(&status_path, Some(&meta.owner)).await;
    assert_eq!(
        (
            status.body["circuit"].as_str(),
            status.body["queued"].as_i64()
        ),
        (Some("closed"), Some(0))
    );
    assert_eq!(status.body["pending_dead_letters"], 0);
}

async fn a_requeued_reply_is_pending_in_the_conversation_its_actor_serves(backend: Backend) {
    // The provider stays down and the open circuit holds the requeued reply, so it
    // stays `pending` for as long as the test looks.
    let meta = setup_with(backend, |c| {
        c.channels.max_attempts = 1;
        c.channels.breaker_failures = 1;
        c.channels.breaker_open_ms = 600_000;
    })
    .await;
    let channel = meta.whatsapp().await;
    let conversation = meta.customer_writes(&channel).await;
    meta.graph.fail_always(Some(Failure::unavailable()));
    let sent = meta.reply(&conversation, json!({"body": "hello?"})).await;
    let message = sent.body["id"].as_str().unwrap().to_owned();
    meta.wait_status(&conversation, &message, "failed").await;
    let served = || {
        let path = format!("/api/v1/conversations/{conversation}");
        let (message, meta) = (message.clone(), &meta);
        async move {
            let snapshot = meta.app.get(&path, Some(&meta.owner)).await;
            snapshot.body["recent_messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == message.as_str())
                .unwrap()["status"]
                .clone()
        }
    };
    assert_eq!(served().await, "failed");

    let retried = meta
        .app
        .post(
            &format!("/api/v1/messages/{message}/retry"),
            Some(&meta.owner),
            json!({}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.body);
    assert_eq!(served().await, "pending");
}

/// The next `message.status` frame about `message`, skipping other messages'.
async fn status_frame(agent: &mut Agent, message: &str) -> Value {
    loop {
        let frame = agent.next_of(&["message.status"]).await;
        if frame["data"]["message_id"] == message {
            return frame;
        }
    }
}

async fn an_exhausted_reply_becomes_a_dead_letter_and_is_delivered_again_on_request(
    backend: Backend,
) {
    let meta = setup_with(backend, |c| c.channels.max_attempts = 3).await;
    let channel = meta.whatsapp().await;
    let conversation = meta.customer_writes(&channel).await;
    let mut agent = Agent::connect(&meta.app.base, &meta.owner).await;
    agent.subscribe(None).await;

    // 429 with Retry-After, then 503s until the attempts run out.
    meta.graph.fail_next(
        1,
        Failure::Status {
            status: 429,
            code: 130429,
            message: "Rate limit hit",
            retry_after: Some(1),
        },
    );
    meta.graph.fail_next(2, Failure::unavailable());
    let sent = meta
        .reply(&conversation, json!({"body": "are you there?"}))
        .await;
    let message = sent.body["id"].as_str().unwrap().to_owned();
    let failed = meta.wait_status(&conversation, &message, "failed").await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 3 attempts"),
        "{failed}"
    );
    let status = status_frame(&mut agent, &message).await;
    assert_eq!(status["data"]["status"], "failed");
    let calls = meta.graph.requests();
    assert!(
        calls[1].at - calls[0].at >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );

    // A permanent refusal is not retried.
    meta.graph.fail_next(
        1,
        Failure::Status {
            status: 400,
            code: 131026,
            message: "Message undeliverable",
            retry_after: None,
        },
    );
    let refused = meta.reply(&conversation, json!({"body": "second"})).await;
    let refused_id = refused.body["id"].as_str().unwrap().to_owned();
    let refused_msg = meta.wait_status(&conversation, &refused_id, "failed").await;
    assert_eq!(refused_msg["error"], "131026 Message undeliverable (400)");

    let letters = meta
        .app
        .get("/api/v1/dead-letters?pending=true", Some(&meta.owner))
        .await;
    let letters = letters.body["data"].as_array().unwrap().clone();
    assert_eq!(letters.len(), 2);
    let exhausted = letters
        .iter()
        .find(|l| l["message_id"] == message.as_str())
        .unwrap();
    assert_eq!(exhausted["attempts"], 3);
    let refused_letter = letters
        .iter()
        .find(|l| l["message_id"] == refused_id.as_str())
        .unwrap();
    assert_eq!(refused_letter["attempts"], 1);

    let retried = meta
        .app
        .post(
            &format!(
                "/api/v1/dead-letters/{}/retry",
                exhausted["id"].as_str().unwrap()
            ),
            Some(&meta.owner),
            json!({}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.body);
    assert_eq!(retried.body["status"], "pending");
    let pending = status_frame(&mut agent, &message).await;
    assert_eq!(pending["data"]["status"], "pending");
    let delivered = status_frame(&mut agent, &message).await;
    assert_eq!(delivered["data"]["status"], "sent");
    let again = meta.wait_status(&conversation, &message, "sent").await;
    assert_eq!(again["error"], Value::Null);
    // Retried once: a second retry of the same letter is refused.
    let twice = meta
        .app
        .post(
            &format!(
                "/api/v1/dead-letters/{}/retry",
                exhausted["id"].as_str().unwrap()
            ),
            Some(&meta.owner),
            json!({}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
    let pending_now = meta
        .app
        .get("/api/v1/dead-letters?pending=true", Some(&meta.owner))
        .await;
    assert_eq!(
        common::column(&pending_now.body, "message_id"),
        vec![refused_id.clone()]
    );

    // The retry action on the reply itself: an agent may use it, a viewer may not.
    let (_, viewer) = meta
        .app
        .user_with_role(&meta.owner, "viewer@example.com", "viewer")
        .await;
    let (_, agent_token) = meta
        .app
        .user_with_role(&meta.owner, "agent@example.com", "agent")
        .await;
    let retry_path = format!("/api/v1/messages/{refused_id}/retry");
    let forbidden = meta.app.post(&retry_path, Some(&viewer), json!({})).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let by_agent = meta
        .app
        .post(&retry_path, Some(&agent_token), json!({}))
        .await;
    assert_eq!(by_agent.status, StatusCode::ACCEPTED, "{}", by_agent.body);
    assert_eq!(by_agent.body["id"], refused_id.as_str());
    assert_eq!(by_agent.body["status"], "pending");
    assert_eq!(
        status_frame(&mut agent, &refused_id).await["data"]["status"],
        "pending"
    );
    meta.wait_status(&conversation, &refused_id, "sent").await;
    let again = meta
        .app
        .post(&retry_path, Some(&agent_token), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.error_code(), "not_found");
    let none_left = meta
        .app
        .get("/api/v1/dead-letters?pending=true", Some(&meta.owner))
        .await;
    assert_eq!(none_left.body["data"], json!([]));
}

async fn two_tenants_channels_never_see_each_others_traffic(backend: Backend) {
    let meta = setup(backend).await;
    let ours = meta.whatsapp().await;
    let (other_owner, _) = meta.app.register("other", "owner@other.example").await;
    let other_secret = "c0ffee9b7a6e5d4c3b2a19f8e7d6c5b4";
    let theirs = {
        let reply = meta
            .app
            .post(
                "/api/v1/channels",
                Some(&other_owner),
                json!({"kind": "whatsapp", "name": "theirs", "account_id": "999000111", "access_token": "EAAG-other",
                       "app_secret": other_secret, "verify_token": "another-verify-token-9b7a"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    };
    let mut their_agent = Agent::connect(&meta.app.base, &other_owner).await;
    their_agent.subscribe(None).await;

    // Their URL with our secret: refused. Our URL naming their number: not routed.
    let foreign = whatsapp_payload(
        "999000111",
        json!([]),
        json!([{"from": CUSTOMER, "id": "wamid.X", "timestamp": now_secs().to_string(), "type": "text", "text": {"body": "x"}}]),
        json!([]),
    );
    let refused = meta.deliver_signed(&theirs, &foreign, APP_SECRET).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let answer = meta.deliver(&ours, &foreign).await;
    assert_eq!(answer, json!({"received": 0, "logged": 1}));
    assert_eq!(
        meta.webhook_log().await[0]["error"],
        "no active whatsapp channel for account 999000111 in this tenant"
    );

    // Each tenant's own traffic stays with it, and replies go out with its own token.
    meta.deliver(
        &ours,
        &text_from(CUSTOMER, "Ada", "wamid.O1", "ours", now_secs()),
    )
    .await;
    let theirs_payload = whatsapp_payload(
        "999000111",
        json!([]),
        json!([{"from": CUSTOMER, "id": "wamid.T1", "timestamp": now_secs().to_string(), "type": "text", "text": {"body": "theirs"}}]),
        json!([]),
    );
    let reply = meta
        .deliver_signed(&theirs, &theirs_payload, other_secret)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let frame = their_agent.next_of(&["message.new"]).await;
    assert_eq!(frame["data"]["message"]["body"], "theirs");
    their_agent.assert_nothing_pending().await;
    let our_conversations = meta.conversations(&meta.owner).await;
    assert_eq!(our_conversations.len(), 1);
    assert_eq!(
        meta.messages(our_conversations[0]["id"].as_str().unwrap())
            .await[0]["body"],
        "ours"
    );
    let their_conversations = meta.conversations(&other_owner).await;
    assert_eq!(their_conversations.len(), 1);
    // Their dead letters and webhook log are theirs alone.
    assert!(
        meta.app
            .get("/api/v1/webhook-log", Some(&other_owner))
            .await
            .body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let their_channel = meta
        .app
        .get(
            &format!("/api/v1/channels/{}", ours["id"].as_str().unwrap()),
            Some(&other_owner),
        )
        .await;
    assert_eq!(their_channel.status, StatusCode::NOT_FOUND);

    let sent = meta
        .app
        .post(
            &format!(
                "/api/v1/conversations/{}/messages",
                their_conversations[0]["id"].as_str().unwrap()
            ),
            Some(&other_owner),
            json!({"body": "hello from them"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED);
    wait::until_true("the other tenant's reply at the provider", || async {
        !meta.graph.delivered().is_empty()
    })
    .await;
    let call = &meta.graph.delivered()[0];
    assert_eq!(call.path, "/v21.0/999000111/messages");
    assert_eq!(call.authorization.as_deref(), Some("Bearer EAAG-other"));
}

async fn a_lead_from_lead_ads_lands_on_the_contact_with_the_same_phone(backend: Backend) {
    let meta = setup(backend).await;
    let whatsapp = meta.whatsapp().await;
    let leads_channel = meta.channel(&meta.owner, "lead_ads", "1234567890").await;
    meta.deliver(
        &whatsapp,
        &text_from(CUSTOMER, "Ada", "wamid.IN1", "hello", now_secs()),
    )
    .await;
    let contact = meta.conversations(&meta.owner).await[0]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The form's phone has no country code: the tenant's default country reads it.
    let settings = meta
        .app
        .put(
            "/api/v1/channel-settings",
            &meta.owner,
            json!({"default_country": "de"}),
        )
        .await;
    assert_eq!(settings.body, json!({"default_country": "DE"}));
    let bad = meta
        .app
        .put(
            "/api/v1/channel-settings",
            &meta.owner,
            json!({"default_country": "Germany"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    meta.graph.add_lead("444444444", json!({
        "created_time": "2026-11-20T08:49:14+0000", "id": "444444444", "ad_id": "555", "form_id": "666",
        "field_data": [
            {"name": "full_name", "values": ["Ada Lovelace"]},
            {"name": "email", "values": ["ada@example.com"]},
            {"name": "phone_number", "values": ["0151 12345678"]},
            {"name": "budget", "values": ["10k"]}
        ]
    }));
    let leadgen = json!({"object": "page", "entry": [{"id": "1234567890", "time": 1_700_000_000, "changes": [{
        "field": "leadgen",
        "value": {"ad_id": "555", "form_id": "666", "leadgen_id": "444444444", "created_time": 1_700_000_000, "page_id": "1234567890", "adgroup_id": "777"}
    }]}]});
    for _ in 0..2 {
        let answer = meta.deliver(&leads_channel, &leadgen).await;
        assert_eq!(answer, json!({"received": 1, "logged": 0}));
    }
    // Fetched once: the replay was recognised before asking the Graph API again.
    let fetches = meta
        .graph
        .requests()
        .iter()
        .filter(|r| r.path == "/v21.0/444444444")
        .count();
    assert_eq!(fetches, 1);
    let leads = meta
        .app
        .get(
            &format!("/api/v1/contacts/{contact}/leads"),
            Some(&meta.owner),
        )
        .await;
    let leads = leads.body["data"].as_array().unwrap().clone();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["type"], "lead");
    assert_eq!(leads[0]["attachment"]["form_id"], "666");
    assert_eq!(leads[0]["attachment"]["fields"]["budget"], "10k");
    let person = meta
        .app
        .get(&format!("/api/v1/contacts/{contact}"), Some(&meta.owner))
        .await;
    assert_eq!(person.body["emails"], json!(["ada@example.com"]));
    assert_eq!(person.body["phones"], json!(["+4915112345678"]));
    assert_eq!(person.body["identities"].as_array().unwrap().len(), 2);
}

async fn a_free_form_reply_after_24_hours_is_refused_until_it_is_a_template(backend: Backend) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    let day_ago = now_secs() - 25 * 3600;
    meta.deliver(
        &channel,
        &text_from(CUSTOMER, "Ada", "wamid.OLD", "hello", day_ago),
    )
    .await;
    let conversation = meta.conversations(&meta.owner).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = meta
        .reply(&conversation, json!({"body": "Sorry for the wait"}))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error_code(), "template_required");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("template")
    );
    assert_eq!(meta.messages(&conversation).await.len(), 1);

    let template = meta
        .reply(&conversation, json!({"template": {"name": "order_update", "language": "en_US", "parameters": ["Ada", "#42"]}}))
        .await;
    assert_eq!(template.status, StatusCode::CREATED, "{}", template.body);
    meta.wait_status(&conversation, template.body["id"].as_str().unwrap(), "sent")
        .await;
    let call = &meta.graph.delivered()[0];
    assert_eq!(call.body["type"], "template");
    assert_eq!(call.body["template"]["name"], "order_update");
    assert_eq!(
        call.body["template"]["components"][0]["parameters"][1]["text"],
        "#42"
    );

    // The customer writes again: free-form replies are allowed for 24 hours.
    meta.deliver(
        &channel,
        &text_from(CUSTOMER, "Ada", "wamid.NEW", "thanks", now_secs()),
    )
    .await;
    let allowed = meta
        .reply(&conversation, json!({"body": "You're welcome"}))
        .await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.body);
}

async fn inbound_media_is_fetched_once_and_served_to_agents_from_local_storage(backend: Backend) {
    let meta = setup_media_host(backend).await;
    let channel = meta.whatsapp().await;
    let jpeg = b"\xFF\xD8\xFF\xE0 not really a jpeg";
    meta.graph.add_media("media-777", jpeg, "image/jpeg");
    let payload = whatsapp_payload(
        PHONE_NUMBER_ID,
        json!([]),
        json!([{"from": CUSTOMER, "id": "wamid.IMG", "timestamp": now_secs().to_string(), "type": "image",
                "image": {"id": "media-777", "mime_type": "image/jpeg"}}]),
        json!([]),
    );
    meta.deliver(&channel, &payload).await;
    let conversation = meta.conversations(&meta.owner).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = meta.messages(&conversation).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, viewer) = meta
        .app
        .user_with_role(&meta.owner, "viewer@example.com", "viewer")
        .await;
    for token in [&meta.owner, &viewer] {
        let response = meta
            .app
            .http
            .get(meta.app.url(&format!("/api/v1/messages/{message}/media")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        assert_eq!(response.bytes().await.unwrap().as_ref(), jpeg);
    }
    let downloads = meta
        .graph
        .requests()
        .iter()
        .filter(|r| r.path == "/download/media-777")
        .count();
    assert_eq!(downloads, 1);
    let (stranger, _) = meta.app.register("other", "owner@other.example").await;
    let hidden = meta
        .app
        .get(
            &format!("/api/v1/messages/{message}/media"),
            Some(&stranger),
        )
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let anonymous = meta
        .app
        .get(&format!("/api/v1/messages/{message}/media"), None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// Media fetching with the provider's media host at 127.0.0.1 (as the fake Graph API
/// is), loopback and plain http switched on for the test.
async fn setup_media_host(backend: Backend) -> Meta {
    setup_with(backend, |config| {
        config.fetch.allow_private_addresses = true;
        config.fetch.allow_plain_http = true;
        config.channels.media_hosts = vec!["127.0.0.1".into()];
    })
    .await
}

/// A Messenger message with one attachment of `kind` linking to `url`; returns the
/// stored message.
async fn messenger_attachment(
    meta: &Meta,
    page: &Value,
    mid: &str,
    kind: &str,
    url: &str,
) -> Value {
    let t = 1_700_000_000_000i64;
    let delivery = json!({"object": "page", "entry": [{"id": "1234567890", "time": t, "messaging": [{
        "sender": {"id": "psid-9"}, "recipient": {"id": "1234567890"}, "timestamp": t,
        "message": {"mid": mid, "attachments": [{"type": kind, "payload": {"url": url}}]}}]}]});
    meta.deliver(page, &delivery).await;
    let conversation = meta.conversations(&meta.owner).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    meta.messages(&conversation)
        .await
        .into_iter()
        .find(|m| m["provider_id"] == mid)
        .unwrap()
}

async fn media_of(meta: &Meta, message: &Value) -> common::Reply {
    let id = message["id"].as_str().unwrap();
    meta.app
        .get(&format!("/api/v1/messages/{id}/media"), Some(&meta.owner))
        .await
}

async fn a_media_link_to_an_internal_address_is_never_fetched(backend: Backend) {
    let meta = setup_media_host(backend).await;
    let page = meta.channel(&meta.owner, "messenger", "1234567890").await;
    // Stands for the cloud metadata service or any other internal HTTP service.
    let internal = FakeGraph::start().await;
    let internal_port = internal.base.rsplit(':').next().unwrap().to_owned();
    let secret =
        format!("http://127.0.0.1:{internal_port}/latest/meta-data/iam/security-credentials/");

    // A link-only attachment is kept as a link, never fetched, even on an allowed host.
    let shared = messenger_attachment(&meta, &page, "m_fallback", "fallback", &secret).await;
    assert_eq!(shared["attachment"]["link_url"], secret);
    assert!(shared["attachment"]["media_url"].is_null());
    let reply = media_of(&meta, &shared).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
    for kind in ["share", "template"] {
        let linked = messenger_attachment(&meta, &page, &format!("m_{kind}"), kind, &secret).await;
        assert_eq!(media_of(&meta, &linked).await.status, StatusCode::NOT_FOUND);
    }

    // An image on an allowed host that redirects to another host is not followed.
    let hop = format!(
        "{}/redirect?to=http://localhost:{internal_port}/latest/meta-data/",
        meta.graph.base
    );
    let redirected = messenger_attachment(&meta, &page, "m_redirect", "image", &hop).await;
    let reply = media_of(&meta, &redirected).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another host"),
        "{}",
        reply.body
    );
    assert_eq!(
        meta.graph
            .requests()
            .iter()
            .filter(|r| r.path == "/redirect")
            .count(),
        1
    );

    // An image on a host that is not the provider's is refused before connecting.
    let elsewhere = format!("http://localhost:{internal_port}/latest/meta-data/");
    let foreign = messenger_attachment(&meta, &page, "m_foreign", "image", &elsewhere).await;
    let reply = media_of(&meta, &foreign).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allow-list"),
        "{}",
        reply.body
    );
    assert!(internal.requests().is_empty(), "{:?}", internal.requests());
}

/// A WhatsApp photo through a server configured by `tweak` (the fake Graph API's
/// download URLs are on 127.0.0.1, listed as the media host): the media answer, after
/// checking that no download was attempted.
async fn whatsapp_photo_refused(
    backend: Backend,
    tweak: impl FnOnce(&mut switchboard::config::Config),
) -> common::Reply {
    let meta = setup_with(backend, |config| {
        config.channels.media_hosts = vec!["127.0.0.1".into()];
        tweak(config);
    })
    .await;
    let channel = meta.whatsapp().await;
    meta.graph.add_media("media-555", b"secret", "image/jpeg");
    let payload = whatsapp_payload(
        PHONE_NUMBER_ID,
        json!([]),
        json!([{"from": CUSTOMER, "id": "wamid.IMG5", "timestamp": now_secs().to_string(), "type": "image",
                "image": {"id": "media-555", "mime_type": "image/jpeg"}}]),
        json!([]),
    );
    meta.deliver(&channel, &payload).await;
    let conversation = meta.conversations(&meta.owner).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = meta.messages(&conversation).await[0].clone();
    let reply = media_of(&meta, &message).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert!(
        !meta
            .graph
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/download")),
        "a download was attempted"
    );
    reply
}

async fn by_default_media_is_fetched_only_over_https_from_public_addresses(backend: Backend) {
    let reply = whatsapp_photo_refused(backend, |_| {}).await;
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("scheme 'http'"), "{message}");

    let reply =
        whatsapp_photo_refused(backend, |config| config.fetch.allow_plain_http = true).await;
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("127.0.0.1 is not a public address"),
        "{message}"
    );
}

async fn a_reply_left_pending_by_a_stopped_node_is_sent_when_a_node_starts(backend: Backend) {
    // The first node's provider is down and its circuit keeps the reply queued in
    // memory: as far as the database knows, the reply is pending, as it would be
    // after a crash.
    let meta = setup_with(backend, |c| {
        c.channels.max_attempts = 1_000;
        c.channels.breaker_failures = 1;
        c.channels.breaker_open_ms = 60_000;
    })
    .await;
    let channel = meta.whatsapp().await;
    let conversation = meta.customer_writes(&channel).await;
    meta.graph.fail_always(Some(Failure::unavailable()));
    let sent = meta
        .reply(&conversation, json!({"body": "did you get this?"}))
        .await;
    let message = sent.body["id"].as_str().unwrap().to_owned();
    wait::until_true("the first failed send", || async {
        meta.graph.requests().iter().any(|r| r.status == 503)
    })
    .await;

    // Another node starts on the same database, its provider healthy.
    let healthy = FakeGraph::start().await;
    let mut config = common::test_config(&meta.app.db);
    config.channels.graph_base_url = healthy.base.clone();
    config.channels.recover_after_secs = 0;
    let node = switchboard::Application::build(config).await.unwrap();
    actix_rt::spawn(node.run_until_stopped());
    meta.wait_status(&conversation, &message, "sent").await;
    let calls = healthy.delivered();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["text"]["body"], "did you get this?");
}

async fn a_send_that_times_out_is_tried_again_and_sends_keep_to_the_channel_rate(backend: Backend) {
    let meta = setup_with(backend, |c| {
        c.channels.request_timeout_ms = 300;
        c.channels.send_rate_per_second = 2;
    })
    .await;
    let channel = meta.whatsapp().await;
    let conversation = meta.customer_writes(&channel).await;
    meta.graph
        .fail_next(1, Failure::Slow(Duration::from_secs(2)));
    let first = meta.reply(&conversation, json!({"body": "reply 0"})).await;
    let first = first.body["id"].as_str().unwrap().to_owned();
    // The first try outlived the timeout; the retry's answer is the one kept.
    let sent = meta.wait_status(&conversation, &first, "sent").await;
    assert_eq!(sent["provider_id"], "wamid.fake1");

    let mut ids = Vec::new();
    for n in 1..=5 {
        let reply = meta
            .reply(&conversation, json!({"body": format!("reply {n}")}))
            .await;
        ids.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        meta.wait_status(&conversation, id, "sent").await;
    }
    let times: Vec<Instant> = meta
        .graph
        .delivered()
        .iter()
        .filter(|r| r.body["text"]["body"] != "reply 0")
        .map(|r| r.at)
        .collect();
    assert_eq!(times.len(), 5);
    // Two a second, after a burst of two: at least three half-second gaps.
    let span = *times.last().unwrap() - times[0];
    assert!(
        span >= Duration::from_millis(1_400),
        "5 sends took {span:?}"
    );
}

async fn concurrent_webhooks_for_one_new_person_create_one_contact(backend: Backend) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    let deliveries = (0..20).map(|n| {
        let meta = &meta;
        let channel = &channel;
        async move {
            meta.deliver(
                channel,
                &text_from(
                    "4917612345678",
                    "Bo",
                    &format!("wamid.C{n}"),
                    &format!("part {n}"),
                    now_secs(),
                ),
            )
            .await;
        }
    });
    futures_util::future::join_all(deliveries).await;
    let conversations = meta.conversations(&meta.owner).await;
    assert_eq!(conversations.len(), 1);
    let contacts = meta
        .app
        .get("/api/v1/contacts?q=bo", Some(&meta.owner))
        .await;
    assert_eq!(
        contacts.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        contacts.body
    );
    let messages = meta
        .messages(conversations[0]["id"].as_str().unwrap())
        .await;
    let seqs: Vec<i64> = messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
}

async fn a_full_ingest_queue_answers_busy_and_every_acknowledged_message_is_stored(
    backend: Backend,
) {
    let meta = setup_with(backend, |config| {
        config.inbox.ingest_queue = 1;
        config.inbox.ingest_batch = 1;
    })
    .await;
    let channel = meta.whatsapp().await;
    let message = |n: u32| {
        text_from(
            "4917612345678",
            "Bo",
            &format!("wamid.Q{n}"),
            &format!("q{n}"),
            now_secs(),
        )
    };
    // The first message makes the tenant's stream row and warms the channel cache.
    meta.deliver(&channel, &message(0)).await;

    // With the tenant's writes held, one message waits in the writer and one in the
    // queue; the next finds the queue full.
    let lock = common::WriteLock::take(&meta.app.db, backend).await;
    let base = meta.app.base.clone();
    let first = message(1);
    let in_writer = meta.deliver_signed(&channel, &first, APP_SECRET);
    // Each step waits for the last to show: the first message taken by the writer
    // (and none waiting), then the second waiting behind it.
    let ingest = |writing: f64, waiting: f64| {
        let base = base.clone();
        async move {
            wait::until_true("the ingest queue to fill", || async {
                common::metric(&base, "inbox_ingest_writing", "").await == writing
                    && common::metric(&base, "inbox_ingest_waiting", "").await == waiting
            })
            .await
        }
    };
    let queued = async {
        ingest(1.0, 0.0).await;
        meta.deliver_signed(&channel, &message(2), APP_SECRET).await
    };
    let refused = async {
        ingest(1.0, 1.0).await;
        let reply = meta.deliver_signed(&channel, &message(3), APP_SECRET).await;
        lock.release().await;
        reply
    };
    let (in_writer, queued, refused) = tokio::join!(in_writer, queued, refused);
    assert_eq!(in_writer.status, StatusCode::OK, "{}", in_writer.body);
    assert_eq!(queued.status, StatusCode::OK, "{}", queued.body);
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.error_code(), "busy");
    assert_eq!(refused.headers["retry-after"], "1");

    // Meta delivers the refused one again; every message is stored once.
    meta.deliver(&channel, &message(3)).await;
    let conversations = meta.conversations(&meta.owner).await;
    let bodies: Vec<String> = meta
        .messages(conversations[0]["id"].as_str().unwrap())
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["q0", "q1", "q2", "q3"]);
}

async fn a_message_the_store_refuses_fails_alone_while_the_others_around_it_are_stored(
    backend: Backend,
) {
    let meta = setup(backend).await;
    let channel = meta.whatsapp().await;
    let message = |n: u32, text: &str| {
        text_from(
            &format!("49176123{n:05}"),
            "Cy",
            &format!("wamid.P{n}"),
            text,
            now_secs(),
        )
    };
    meta.deliver(&channel, &message(0, "first")).await;
    common::refuse_poison_messages(&meta.app.db, backend).await;

    // Sent together, so they share transactions; the refused one must not take the
    // others down with it.
    let replies = futures_util::future::join_all((1..=30).map(|n| {
        let text = if n == 15 {
            "poison".to_owned()
        } else {
            format!("m{n}")
        };
        let payload = message(n, &text);
        let meta = &meta;
        let channel = &channel;
        async move {
            meta.deliver_signed(channel, &payload, APP_SECRET)
                .await
                .status
        }
    }))
    .await;
    for (n, status) in (1..=30).zip(&replies) {
        let expected = if n == 15 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        assert_eq!(*status, expected, "delivery {n}");
    }
    let conversations = meta.conversations(&meta.owner).await;
    assert_eq!(conversations.len(), 30);
}

on_both_backends!(
    channels_are_admin_records_whose_credentials_are_sealed_at_rest,
    the_handshake_echoes_the_challenge_only_for_the_verify_token,
    a_weak_app_secret_or_verify_token_is_refused,
    a_missing_or_wrong_signature_is_refused_and_stores_nothing,
    every_whatsapp_message_type_is_stored_with_its_content,
    messenger_and_instagram_messages_postbacks_echoes_and_reads_are_understood,
    a_signed_payload_that_cannot_be_parsed_is_logged_and_acknowledged,
    a_signed_webhook_is_stored_within_the_text_rules_and_limits_and_acknowledged,
    a_thousand_concurrent_deliveries_of_one_payload_store_one_message_and_fan_out_once,
    statuses_that_arrive_out_of_order_end_in_the_right_state,
    the_full_loop_runs_from_a_signed_webhook_to_read_ticks_on_the_agents_socket,
    a_provider_outage_opens_the_circuit_and_every_queued_reply_is_delivered_after,
    an_exhausted_reply_becomes_a_dead_letter_and_is_delivered_again_on_request,
    a_requeued_reply_is_pending_in_the_conversation_its_actor_serves,
    two_tenants_channels_never_see_each_others_traffic,
    a_lead_from_lead_ads_lands_on_the_contact_with_the_same_phone,
    a_free_form_reply_after_24_hours_is_refused_until_it_is_a_template,
    inbound_media_is_fetched_once_and_served_to_agents_from_local_storage,
    a_media_link_to_an_internal_address_is_never_fetched,
    by_default_media_is_fetched_only_over_https_from_public_addresses,
    concurrent_webhooks_for_one_new_person_create_one_contact,
    a_reply_left_pending_by_a_stopped_node_is_sent_when_a_node_starts,
    a_send_that_times_out_is_tried_again_and_sends_keep_to_the_channel_rate,
    a_full_ingest_queue_answers_busy_and_every_acknowledged_message_is_stored,
    a_message_the_store_refuses_fails_alone_while_the_others_around_it_are_stored,
);
