//! A tenant with Meta channels against the local fake Graph API: channels created
//! through the API, and webhooks delivered signed as Meta signs them.

use super::fake_graph::FakeGraph;
use super::{Backend, Reply, TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::channels::meta::signature;

pub const APP_SECRET: &str = "5f2b9c1e8d7a46f3b0e2c9d4a1f6b7e8";
pub const ACCESS_TOKEN: &str = "EAAG-test-access-token";
pub const VERIFY_TOKEN: &str = "verify-me-please";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const CUSTOMER: &str = "4915112345678";

pub struct Meta {
    pub app: TestApp,
    pub graph: FakeGraph,
    pub owner: String,
}

pub async fn setup(backend: Backend) -> Meta {
    setup_with(backend, |_| {}).await
}

pub async fn setup_with(
    backend: Backend,
    tweak: impl FnOnce(&mut switchboard::config::Config),
) -> Meta {
    let graph = FakeGraph::start().await;
    let base = graph.base.clone();
    let app = spawn_app_with(backend, |config| {
        config.channels.graph_base_url = base;
        config.channels.retry_base_ms = 10;
        config.channels.retry_max_ms = 40;
        config.channels.breaker_open_ms = 150;
        tweak(config);
    })
    .await;
    let (owner, _) = app.owner_session().await;
    Meta { app, graph, owner }
}

impl Meta {
    pub async fn channel(&self, token: &str, kind: &str, account: &str) -> Value {
        let reply = self
            .app
            .post(
                "/api/v1/channels",
                Some(token),
                json!({
                    "kind": kind, "name": format!("{kind} {account}"), "account_id": account,
                    "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
                }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    pub async fn whatsapp(&self) -> Value {
        self.channel(&self.owner, "whatsapp", PHONE_NUMBER_ID).await
    }

    /// Posts `payload` to the channel's webhook, signed with `secret`.
    pub async fn deliver_signed(&self, channel: &Value, payload: &Value, secret: &str) -> Reply {
        self.deliver_raw(channel, payload.to_string(), secret).await
    }

    /// Posts `body` as it is, signed with `secret`.
    pub async fn deliver_raw(&self, channel: &Value, body: String, secret: &str) -> Reply {
        self.app
            .send(
                self.app
                    .http
                    .post(self.app.url(channel["webhook"]["path"].as_str().unwrap()))
                    .header("content-type", "application/json")
                    .header(
                        "x-hub-signature-256",
                        signature::sign(secret, body.as_bytes()),
                    )
                    .body(body),
            )
            .await
    }

    pub async fn deliver(&self, channel: &Value, payload: &Value) -> Value {
        let reply = self.deliver_signed(channel, payload, APP_SECRET).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    pub async fn conversations(&self, token: &str) -> Vec<Value> {
        let reply = self.app.get("/api/v1/conversations", Some(token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"].as_array().unwrap().clone()
    }

    pub async fn messages(&self, conversation: &str) -> Vec<Value> {
        let reply = self
            .app
            .get(
                &format!("/api/v1/conversations/{conversation}/messages"),
                Some(&self.owner),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"].as_array().unwrap().clone()
    }
}

pub fn whatsapp_payload(
    phone_number_id: &str,
    contacts: Value,
    messages: Value,
    statuses: Value,
) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                    "contacts": contacts,
                    "messages": messages,
                    "statuses": statuses,
                }
            }]
        }]
    })
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn text_from(from: &str, name: &str, wamid: &str, text: &str, timestamp: i64) -> Value {
    whatsapp_payload(
        PHONE_NUMBER_ID,
        json!([{"profile": {"name": name}, "wa_id": from}]),
        json!([{"from": from, "id": wamid, "timestamp": timestamp.to_string(), "type": "text", "text": {"body": text}}]),
        json!([]),
    )
}
