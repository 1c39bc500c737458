//! Text that enters through the REST API, the sandbox and the socket: NUL and other
//! control characters are removed at the edge (Postgres refuses NUL outright), and the
//! contact limits hold. Webhooks are covered in meta_channels.rs.

use crate::common;

use common::ws::Agent;
use common::{Backend, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

async fn a_nul_in_a_contact_is_removed_instead_of_failing_the_write(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let created = app
        .post(
            "/api/v1/contacts",
            Some(&owner),
            json!({ "name": "Ada\u{0}\u{7} Lovelace", "custom_fields": { "no\u{0}te": "x\u{0}y\u{1b}" }, "tags": ["v\u{0}ip"] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["name"], "Ada Lovelace");
    assert_eq!(created.body["custom_fields"], json!({ "note": "xy" }));
    assert_eq!(created.body["tags"], json!(["vip"]));
    let id = created.body["id"].as_str().unwrap();
    let changed = app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &owner,
            json!({ "name": "Ada\u{0} King" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["name"], "Ada King");
    // A NUL in a search is removed too, so it finds what the rest says.
    let found = app
        .get("/api/v1/contacts?q=Ada%00%20King", Some(&owner))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(common::column(&found.body, "name"), ["Ada King"]);
    let listed = app.get("/api/v1/conversations?q=%00", Some(&owner)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
}

async fn a_nul_in_a_sandbox_message_and_a_socket_reply_is_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let said = app
        .post(
            "/api/v1/sandbox/demo/inbound",
            Some(&owner),
            json!({ "from": "bo", "name": "Bo\u{0}b", "text": "hi\u{0} there" }),
        )
        .await;
    assert_eq!(said.status, StatusCode::CREATED, "{}", said.body);
    assert_eq!(said.body["message"]["body"], "hi there");
    assert_eq!(said.body["conversation"]["contact"]["name"], "Bob");
    let conversation = said.body["conversation"]["id"].as_str().unwrap();

    let mut socket = Agent::connect(&app.base, &owner).await;
    socket
        .send(
            json!({ "type": "message.send", "ref": 1, "conversation_id": conversation,
                      "client_id": "c-1", "body": "on\u{0} it" }),
        )
        .await;
    let ack = socket.next_of(&["ack", "error"]).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["result"]["message"]["body"], "on it");
    let note = app
        .post(
            &format!("/api/v1/conversations/{conversation}/notes"),
            Some(&owner),
            json!({ "body": "note\u{0}d" }),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    assert_eq!(note.body["body"], "noted");
}

async fn contacts_beyond_the_documented_limits_are_refused_with_the_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let phones: Vec<String> = (0..21).map(|n| format!("+4915112345{n:03}")).collect();
    let many_fields: serde_json::Map<String, serde_json::Value> =
        (0..51).map(|n| (format!("f{n}"), json!(n))).collect();
    let cases = [
        (
            json!({ "name": "Too many phones", "phones": phones }),
            "at most 20 phones",
        ),
        (
            json!({ "name": "Too many fields", "custom_fields": many_fields }),
            "at most 50 custom fields",
        ),
        (
            json!({ "name": "Big field", "custom_fields": { "notes": "x".repeat(2000) } }),
            "at most 1024",
        ),
        (
            json!({ "name": "Long key", "custom_fields": { "k".repeat(65): 1 } }),
            "1 to 64 characters",
        ),
        (json!({ "name": "n".repeat(201) }), "1 to 200 characters"),
    ];
    for (body, rule) in cases {
        let refused = app.post("/api/v1/contacts", Some(&owner), body).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.error_code(), "invalid_request");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(rule), "{message} lacks {rule}");
    }
    let ok: Vec<String> = (0..20).map(|n| format!("+4915112345{n:03}")).collect();
    let created = app
        .post(
            "/api/v1/contacts",
            Some(&owner),
            json!({ "name": "At the limit", "phones": ok }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

on_both_backends!(
    a_nul_in_a_contact_is_removed_instead_of_failing_the_write,
    a_nul_in_a_sandbox_message_and_a_socket_reply_is_removed,
    contacts_beyond_the_documented_limits_are_refused_with_the_rule,
);
