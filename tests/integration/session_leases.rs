//! One owner per WhatsApp Web session across nodes: when the owner dies, or is cut
//! off from the database, another node takes the session over within the lease, and
//! at no moment do two clients of one session run (the fake WhatsApp counts them).

use crate::common;

use crate::whatsapp_web::quick;
use common::fake_whatsapp::FakeWhatsApp;
use common::tcp_proxy::Proxy;
use common::wait::until;
use common::{Backend, IsolatedNode, TestApp, TestDb, start_with, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::config::{Config, Secret};
use switchboard_actors::ChannelId;
use uuid::Uuid;

const LEASE_SECS: u64 = 5;

fn lease_config(db: &TestDb) -> Config {
    let mut config = test_config(db);
    quick(&mut config);
    config.whatsapp_web.lease_secs = LEASE_SECS;
    config
}

pub async fn state_on(base: &str, token: &str, channel: ChannelId) -> Value {
    get_json(base, token, &format!("/api/v1/channels/{channel}/session")).await
}

/// `GET base + path` as `token`, read as JSON (a node other than a `TestApp`'s).
pub async fn get_json(base: &str, token: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Creates a WhatsApp Web channel through `base` (which then owns its session) and
/// pairs it.
pub async fn paired_session_on(base: &str, token: &str, fake: &FakeWhatsApp) -> ChannelId {
    let created = reqwest::Client::new()
        .post(format!("{base}/api/v1/channels"))
        .bearer_auth(token)
        .json(&json!({ "kind": "whatsapp_web", "name": "Front desk" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let channel = ChannelId(Uuid::parse_str(created["id"].as_str().unwrap()).unwrap());
    until("the QR code", || async {
        (state_on(base, token, channel).await["state"] == "qr").then_some(())
    })
    .await;
    fake.scan(channel, "+4915112345678").await;
    until("connected", || async {
        (state_on(base, token, channel).await["state"] == "connected").then_some(())
    })
    .await;
    channel
}

/// Node B (in the test's own system) and the fake; B's owner token.
async fn node_b(db: TestDb, fake: &FakeWhatsApp) -> (TestApp, String) {
    let config = lease_config(&db);
    let b = start_with(config, db, Some(fake.driver())).await;
    let (token, _) = b.owner_session().await;
    (b, token)
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_suite),
    ignore = "set TEST_DATABASE_URL to run the Postgres suite"
)]
async fn when_the_owner_dies_another_node_takes_its_session_over_and_none_runs_twice() {
    let fake = FakeWhatsApp::new();
    let db = TestDb::new(Backend::Postgres).await;
    let a = IsolatedNode::start(lease_config(&db), fake.driver());
    let (b, token) = node_b(db, &fake).await;
    let channel = paired_session_on(&a.base, &token, &fake).await;
    let connects = fake.connects(channel);

    a.kill();
    assert_eq!(fake.alive(channel), 0, "a killed node's client is gone");
    // B takes over once A's lease has run out, without a scan: the keys are shared.
    until("B's client", || async {
        (fake.connects(channel) == connects + 1).then_some(())
    })
    .await;
    until("connected again", || async {
        (state_on(&b.base, &token, channel).await["state"] == "connected").then_some(())
    })
    .await;
    assert_eq!(fake.most_alive(channel), 1);
    assert_eq!(fake.alive(channel), 1);
    // And B keeps it: nothing else starts a client.
    common::wait::until_metric(&b.base, "whatsapp_sessions", "state=\"connected\"", |n| {
        n == 1.0
    })
    .await;
    assert_eq!(fake.connects(channel), connects + 1);
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_suite),
    ignore = "set TEST_DATABASE_URL to run the Postgres suite"
)]
async fn an_owner_cut_off_from_the_database_stops_its_session_before_another_node_starts_it() {
    let fake = FakeWhatsApp::new();
    let db = TestDb::new(Backend::Postgres).await;
    let url = reqwest::Url::parse(&db.url).unwrap();
    let proxy = Proxy::start(format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port().unwrap_or(5432)
    ));
    let mut through_proxy = url.clone();
    through_proxy.set_host(Some("127.0.0.1")).unwrap();
    through_proxy.set_port(Some(proxy.port)).unwrap();
    let mut config_a = lease_config(&db);
    config_a.database.url = Secret::new(through_proxy.to_string());
    let a = IsolatedNode::start(config_a, fake.driver());
    let (b, token) = node_b(db, &fake).await;
    let channel = paired_session_on(&a.base, &token, &fake).await;
    let connects = fake.connects(channel);

    proxy.cut();
    // A is alive but cannot renew: it shuts its client down by itself ...
    until("A's client shut down", || async {
        (fake.alive(channel) == 0).then_some(())
    })
    .await;
    // ... and only then does B start one.
    until("B's client", || async {
        (fake.connects(channel) == connects + 1 && fake.alive(channel) == 1).then_some(())
    })
    .await;
    until("connected on B", || async {
        (state_on(&b.base, &token, channel).await["state"] == "connected").then_some(())
    })
    .await;
    assert_eq!(
        fake.most_alive(channel),
        1,
        "two clients of one session ran at once"
    );
    drop(a);
}
