//! Access that changes while a socket is open: demotion, deactivation, sign-out and a
//! password change reach open connections at once, on this node, on another node, and
//! (through the periodic access check) when the change came from outside the server.
//! Access tokens of an ended sign-in stop at their next request.

use crate::common;

use common::ws::{Agent, Ended};
use common::{Backend, TestApp, spawn_app, spawn_app_with, tokens};
use reqwest::StatusCode;
use serde_json::{Value, json};

const AGENT_EMAIL: &str = "agent@example.com";
const AGENT_PASSWORD: &str = "invited-password";

/// A conversation (sandbox) and an agent; returns (owner token, agent id, agent
/// token, conversation id).
async fn agent_and_conversation(app: &TestApp) -> (String, String, String, String) {
    let (owner, _) = app.owner_session().await;
    let (agent_id, agent) = app.user_with_role(&owner, AGENT_EMAIL, "agent").await;
    let said = app
        .post(
            "/api/v1/sandbox/demo/inbound",
            Some(&owner),
            json!({ "from": "ada", "name": "Ada", "text": "hello" }),
        )
        .await;
    assert_eq!(said.status, StatusCode::CREATED, "{}", said.body);
    let conversation = said.body["conversation"]["id"].as_str().unwrap().to_owned();
    (owner, agent_id, agent, conversation)
}

/// Sends a reply over the socket and returns the `ack` or `error` answering it.
async fn send_reply(socket: &mut Agent, conversation: &str, body: &str) -> Value {
    send_reply_noting_access(socket, conversation, body).await.0
}

/// As `send_reply`, also returning the role of an `access` frame seen on the way.
async fn send_reply_noting_access(
    socket: &mut Agent,
    conversation: &str,
    body: &str,
) -> (Value, Option<String>) {
    socket
        .send(json!({
            "type": "message.send", "ref": body, "conversation_id": conversation,
            "client_id": uuid::Uuid::now_v7(), "body": body,
        }))
        .await;
    let mut role = None;
    loop {
        let frame = socket.next_of(&["ack", "error", "access"]).await;
        if frame["type"] == "access" {
            role = frame["role"].as_str().map(str::to_owned);
        } else if frame["ref"] == body {
            return (frame, role);
        }
    }
}

async fn bodies(app: &TestApp, token: &str, conversation: &str) -> Vec<String> {
    let messages = app
        .get(
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(token),
        )
        .await;
    common::column(&messages.body, "body")
}

/// An admin's change to a user (`{"role": …}`, `{"status": …}`).
async fn change_user(app: &TestApp, owner: &str, user: &str, change: Value) {
    let changed = app
        .patch(&format!("/api/v1/users/{user}"), owner, change)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
}

async fn set_role(app: &TestApp, owner: &str, user: &str, role: &str) {
    change_user(app, owner, user, json!({ "role": role })).await;
}

async fn deactivate(app: &TestApp, owner: &str, user: &str) {
    change_user(app, owner, user, json!({ "status": "deactivated" })).await;
}

async fn an_agent_demoted_to_viewer_can_no_longer_send_over_an_open_socket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, agent_id, agent, conversation) = agent_and_conversation(&app).await;
    let mut socket = Agent::connect(&app.base, &agent).await;
    socket.subscribe(None).await;
    assert_eq!(
        send_reply(&mut socket, &conversation, "before").await["type"],
        "ack"
    );

    set_role(&app, &owner, &agent_id, "viewer").await;
    // The change is applied before the PATCH answers: the very next frame is refused,
    // and the socket is told its new role.
    let (refused, told) =
        send_reply_noting_access(&mut socket, &conversation, "after demotion").await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(told.as_deref(), Some("viewer"));

    // Promoted back, the same socket acts again.
    set_role(&app, &owner, &agent_id, "agent").await;
    assert_eq!(socket.next_of(&["access"]).await["role"], "agent");
    assert_eq!(
        send_reply(&mut socket, &conversation, "promoted").await["type"],
        "ack"
    );
    assert_eq!(
        bodies(&app, &owner, &conversation).await,
        ["hello", "before", "promoted"]
    );
}

async fn a_deactivated_users_sockets_are_closed_with_4003(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, agent_id, agent, _) = agent_and_conversation(&app).await;
    let mut subscribed = Agent::connect(&app.base, &agent).await;
    subscribed.subscribe(None).await;
    // Authenticated but never subscribed: it could still act, so it closes too.
    let mut idle = Agent::connect(&app.base, &agent).await;

    deactivate(&app, &owner, &agent_id).await;
    assert_eq!(
        subscribed.drain_until_end().await.1,
        Ended::Closed(Some(4003))
    );
    assert_eq!(idle.drain_until_end().await.1, Ended::Closed(Some(4003)));

    // Nothing the tenant does afterwards reaches a new socket of theirs either.
    let refused = tokio_tungstenite::connect_async(format!(
        "{}?access_token={agent}",
        common::ws::ws_url(&app.base)
    ))
    .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

/// Signs the agent in once more; returns (access, refresh).
async fn sign_in(app: &TestApp) -> (String, String) {
    let session = app.login(common::TENANT, AGENT_EMAIL, AGENT_PASSWORD).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.body);
    tokens(&session.body)
}

async fn signing_out_ends_that_sign_ins_tokens_and_sockets_and_no_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, _, _) = agent_and_conversation(&app).await;
    let (laptop, laptop_refresh) = sign_in(&app).await;
    let (phone, _) = sign_in(&app).await;
    let mut laptop_socket = Agent::connect(&app.base, &laptop).await;
    let mut phone_socket = Agent::connect(&app.base, &phone).await;

    let out = app
        .post(
            "/api/v1/auth/logout",
            Some(&laptop),
            json!({ "refresh_token": laptop_refresh }),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);

    // The signed-out access token stops at once, long before it expires.
    let me = app.get("/api/v1/auth/me", Some(&laptop)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.error_code(), "invalid_token");
    assert_eq!(
        laptop_socket.drain_until_end().await.1,
        Ended::Closed(Some(4003))
    );
    // The other sign-in goes on.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&phone)).await.status,
        StatusCode::OK
    );
    phone_socket.assert_nothing_pending().await;
}

async fn a_password_change_ends_every_other_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, _, _) = agent_and_conversation(&app).await;
    let (laptop, _) = sign_in(&app).await;
    let (phone, _) = sign_in(&app).await;
    let mut phone_socket = Agent::connect(&app.base, &phone).await;

    let changed = app
        .post(
            "/api/v1/auth/password",
            Some(&laptop),
            json!({ "current_password": AGENT_PASSWORD, "new_password": "a new password for the agent" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let (fresh, _) = tokens(&changed.body);

    assert_eq!(
        phone_socket.drain_until_end().await.1,
        Ended::Closed(Some(4003))
    );
    for ended in [&laptop, &phone] {
        assert_eq!(
            app.get("/api/v1/auth/me", Some(ended)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // The session the change handed back goes on, sockets included.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&fresh)).await.status,
        StatusCode::OK
    );
    Agent::connect(&app.base, &fresh)
        .await
        .assert_nothing_pending()
        .await;
}

async fn a_change_made_outside_the_server_reaches_open_sockets_at_the_next_access_check(
    backend: Backend,
) {
    // As when the bus lost the word (Redis down) or another process wrote the change.
    let app = spawn_app_with(backend, |config| config.websocket.access_recheck_secs = 1).await;
    let (_, agent_id, agent, conversation) = agent_and_conversation(&app).await;
    let mut socket = Agent::connect(&app.base, &agent).await;
    socket.subscribe(None).await;

    common::execute_on(
        &app.db,
        backend,
        "UPDATE users SET role = 'viewer' WHERE id = $1",
        &agent_id,
    )
    .await;
    assert_eq!(socket.next_of(&["access"]).await["role"], "viewer");
    let refused = send_reply(&mut socket, &conversation, "after demotion").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");

    common::execute_on(
        &app.db,
        backend,
        "UPDATE users SET status = 'deactivated' WHERE id = $1",
        &agent_id,
    )
    .await;
    assert_eq!(socket.drain_until_end().await.1, Ended::Closed(Some(4003)));
}

async fn sockets_over_the_per_user_and_per_tenant_caps_are_closed_with_4029(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.websocket.max_sockets_per_user = 2;
        config.websocket.max_sockets_per_tenant = 3;
    })
    .await;
    let (owner, _, agent, _) = agent_and_conversation(&app).await;
    let first = Agent::connect(&app.base, &agent).await;
    let _second = Agent::connect(&app.base, &agent).await;
    let mut third = Agent::open(&app.base, &agent).await;
    assert_eq!(third.drain_until_end().await.1, Ended::Closed(Some(4029)));

    // The owner's first socket is the tenant's third; a fourth is one too many.
    let _owners = Agent::connect(&app.base, &owner).await;
    let mut owners_second = Agent::open(&app.base, &owner).await;
    assert_eq!(
        owners_second.drain_until_end().await.1,
        Ended::Closed(Some(4029))
    );

    // A closed socket frees its place.
    drop(first);
    let _again = common::wait::until("a free place for the agent", || async {
        let mut retry = Agent::open(&app.base, &agent).await;
        match retry.next_or_end().await {
            Some(frame) if frame["type"] == "hello" => Some(retry),
            _ => None,
        }
    })
    .await;
}

on_both_backends!(
    an_agent_demoted_to_viewer_can_no_longer_send_over_an_open_socket,
    a_deactivated_users_sockets_are_closed_with_4003,
    signing_out_ends_that_sign_ins_tokens_and_sockets_and_no_others,
    a_password_change_ends_every_other_sign_in,
    a_change_made_outside_the_server_reaches_open_sockets_at_the_next_access_check,
    sockets_over_the_per_user_and_per_tenant_caps_are_closed_with_4029,
);

#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn a_demotion_and_a_deactivation_on_one_node_reach_sockets_on_the_other() {
    // A long access check: only the bus can bring the change in time.
    let (a, b) = common::two_nodes_with(|config| config.websocket.access_recheck_secs = 3600).await;
    let (owner, agent_id, agent, conversation) = agent_and_conversation(&a).await;
    let mut socket = Agent::connect(&b, &agent).await;
    socket.subscribe(None).await;

    set_role(&a, &owner, &agent_id, "viewer").await;
    assert_eq!(socket.next_of(&["access"]).await["role"], "viewer");
    let refused = send_reply(&mut socket, &conversation, "after demotion").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");

    deactivate(&a, &owner, &agent_id).await;
    assert_eq!(socket.drain_until_end().await.1, Ended::Closed(Some(4003)));
}
