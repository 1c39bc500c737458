//! Creating what a run needs through the public API: tenants, agents, channels.
//!
//! On Switchboard a tenant is registered (`POST /api/v1/auth/register`, which the server
//! allows unless `auth.registration_open` is off), its agents are invited and accept
//! (`POST /api/v1/users`, `POST /api/v1/auth/accept-invite`), and a WhatsApp channel is
//! connected with a fresh account id and app secret (`POST /api/v1/channels`). The peers
//! take the same tenant in one call, `POST /peer/tenants`.

use crate::Peer;
use serde_json::{Value, json};

/// One tenant ready for traffic.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub index: u32,
    /// Where this tenant's WhatsApp deliveries go.
    pub webhook_url: String,
    /// The channel's `phone_number_id`.
    pub account: String,
    /// Deliveries are signed with it.
    pub app_secret: String,
    /// Access tokens of distinct agents; sockets are spread over them.
    pub agent_tokens: Vec<String>,
}

pub struct Setup<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub peer: Peer,
    /// Makes names unique across runs against one server.
    pub run_id: &'a str,
}

impl Setup<'_> {
    /// Creates `count` tenants with `users` agents each (at least one: the owner).
    pub async fn tenants(&self, count: u32, users: u32) -> crate::Result<Vec<Tenant>> {
        let mut tenants = Vec::with_capacity(count as usize);
        for index in 0..count {
            tenants.push(match self.peer {
                Peer::Switchboard => self.switchboard_tenant(index, users.max(1)).await?,
                Peer::Socketio | Peer::Bare => self.peer_tenant(index).await?,
            });
        }
        Ok(tenants)
    }

    async fn switchboard_tenant(&self, index: u32, users: u32) -> crate::Result<Tenant> {
        let slug = format!("lt-{}-{index}", self.run_id);
        let password = format!("loadtest-password-{}", self.run_id);
        let registered = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({
                    "tenant_name": format!("Load test {} #{index}", self.run_id),
                    "tenant_slug": slug, "name": "Load owner",
                    "email": format!("owner@{slug}.loadtest.invalid"), "password": password,
                }),
            )
            .await?;
        let owner = text(&registered["session"]["access_token"], "access_token")?;
        let account = format!("{}{index}", self.run_id);
        let app_secret = format!("loadtest-secret-{}-{index}", self.run_id);
        let channel = self
            .post(
                "/api/v1/channels",
                Some(&owner),
                json!({
                    "kind": "whatsapp", "name": format!("Load {account}"), "account_id": account,
                    "access_token": "loadtest-token", "app_secret": app_secret,
                }),
            )
            .await?;
        let webhook_url = format!(
            "{}{}",
            self.base,
            text(&channel["webhook"]["path"], "path")?
        );
        let mut agent_tokens = vec![owner.clone()];
        for n in 1..users {
            let invited = self
                .post(
                    "/api/v1/users",
                    Some(&owner),
                    json!({"email": format!("agent{n}@{slug}.loadtest.invalid"),
                           "name": format!("Agent {n}"), "role": "agent"}),
                )
                .await?;
            let accepted = self
                .post(
                    "/api/v1/auth/accept-invite",
                    None,
                    json!({"token": text(&invited["invitation"]["token"], "token")?, "password": password}),
                )
                .await?;
            agent_tokens.push(text(&accepted["access_token"], "access_token")?);
        }
        Ok(Tenant {
            index,
            webhook_url,
            account,
            app_secret,
            agent_tokens,
        })
    }

    async fn peer_tenant(&self, index: u32) -> crate::Result<Tenant> {
        let slug = format!("lt-{}-{index}", self.run_id);
        let account = format!("{}{index}", self.run_id);
        let app_secret = format!("loadtest-secret-{}-{index}", self.run_id);
        let made = self
            .post(
                "/peer/tenants",
                None,
                json!({"slug": slug, "account_id": account, "app_secret": app_secret}),
            )
            .await?;
        Ok(Tenant {
            index,
            webhook_url: format!(
                "{}{}",
                self.base,
                text(&made["webhook_path"], "webhook_path")?
            ),
            account,
            app_secret,
            agent_tokens: vec![text(&made["token"], "token")?],
        })
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> crate::Result<Value> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("POST {path} answered {status}: {body}"));
        }
        Ok(body)
    }
}

fn text(value: &Value, what: &str) -> crate::Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the answer has no {what}"))
}
