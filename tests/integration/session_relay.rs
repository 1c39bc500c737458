//! A WhatsApp Web session runs on one node; what is asked of it on another node (a
//! reply, a media reply, a read receipt, a restart, a pairing code) reaches it over
//! the Redis bus and its answer comes back.

use crate::common;

use crate::session_leases::{get_json, paired_session_on, state_on};
use crate::whatsapp_web::quick;
use common::fake_files::FakeFiles;
use common::fake_whatsapp::{FakeWhatsApp, text_from};
use common::wait::until;
use common::{Backend, TestDb, start_with, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::Application;
use switchboard::config::Secret;
use switchboard_actors::session::driver::WaRead;

async fn post(base: &str, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn a_session_on_node_a_takes_the_replies_reads_and_commands_given_to_node_b() {
    let fake = FakeWhatsApp::new();
    let db = TestDb::new(Backend::Postgres).await;
    let mut config = test_config(&db);
    quick(&mut config);
    config.bus.redis_url = Secret::new(common::redis_url());
    // A command that gets lost fails within seconds, not half a minute.
    config.whatsapp_web.send_timeout_secs = 2;
    config.fetch.allow_private_addresses = true;
    config.fetch.allow_plain_http = true;
    let files = FakeFiles::start();
    let other = config.clone();
    let a = start_with(config, db, Some(fake.driver())).await;
    let b = Application::build_with(other, Some(fake.driver()))
        .await
        .expect("node B starts");
    let b = {
        let base = format!("http://127.0.0.1:{}", b.port());
        actix_rt::spawn(b.run_until_stopped());
        base
    };
    let (token, _) = a.owner_session().await;
    let channel = paired_session_on(&a.base, &token, &fake).await;
    // Pairing connects twice (WhatsApp's restart after the scan is a normal step).
    let connects = fake.connects(channel);

    // A restart asked of B restarts the client on A (once both are on the bus).
    let session = format!("/api/v1/channels/{channel}/session");
    until("the restart relayed", || async {
        let (status, _) = post(&b, &token, &format!("{session}/restart"), json!({})).await;
        (status == StatusCode::ACCEPTED).then_some(())
    })
    .await;
    until("the restarted client connected", || async {
        let state = state_on(&b, &token, channel).await;
        (fake.connects(channel) == connects + 1 && state["state"] == "connected").then_some(())
    })
    .await;
    assert_eq!(fake.alive(channel), 1, "one client, on A");

    // A pairing code asked of B gets A's refusal, as it would on A.
    let (status, body) = post(
        &b,
        &token,
        &format!("{session}/pairing-code"),
        json!({ "phone": "+4915112345678" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "session_not_ready");

    // A customer writes; the session on A stores it.
    assert!(
        fake.deliver(
            channel,
            text_from("+4917612345678", "IN1", "Do you ship to Spain?")
        )
        .await
    );
    let conversation = until("the conversation", || async {
        get_json(&b, &token, "/api/v1/conversations").await["data"][0]["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    // Reading the chat on B sends the read receipt through A.
    let (status, _) = post(
        &b,
        &token,
        &format!("/api/v1/conversations/{conversation}/read"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    until("the read receipt", || async {
        (fake.reads(channel).len() == 1).then_some(())
    })
    .await;
    assert_eq!(
        fake.reads(channel)[0],
        WaRead {
            chat: "4917612345678@s.whatsapp.net".into(),
            sender: None,
            ids: vec!["IN1".into()],
        }
    );

    // A reply written on B goes out through the session on A.
    let messages = format!("/api/v1/conversations/{conversation}/messages");
    let (status, reply) = post(&b, &token, &messages, json!({ "body": "Yes, in 3 days." })).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    until("the reply sent", || async {
        let listed = get_json(&b, &token, &messages).await;
        let shown = listed["data"]
            .as_array()?
            .iter()
            .find(|m| m["id"] == reply["id"])?
            .clone();
        (shown["status"] == "sent").then_some(())
    })
    .await;
    let sent = fake.sent(channel);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body.as_deref(), Some("Yes, in 3 days."));

    // A media reply crosses without its file; A fetches the link and sends the file.
    let menu = b"%PDF-1.7 the spring menu";
    files.put("/menu.pdf", menu, "application/pdf");
    let link = format!("{}/menu.pdf", files.base);
    let (status, reply) = post(
        &b,
        &token,
        &messages,
        json!({ "media": { "type": "document", "link": link } }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let sent = until("the media reply sent", || async {
        let sent = fake.sent(channel);
        (sent.len() == 2).then_some(sent)
    })
    .await;
    assert_eq!(sent[1].file.as_ref().unwrap().bytes, menu);
    assert_eq!(files.requests(), vec!["/menu.pdf".to_owned()]);
}
