//! One write path per conversation: a change made outside the conversation's actor
//! (a tag deletion, a merge and its undo, a burst of customer messages that fills the
//! actor's mailbox) never leaves `GET /conversations/{id}` serving what was before.
//! The requeued reply is in meta_channels.rs; another node's changes in cluster.rs.

use crate::common;

use common::{Backend, TestApp, spawn_app, spawn_app_with, two_nodes_on_postgres};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn customer_says(app: &TestApp, token: &str, from: &str, text: &str) -> Value {
    app.customer_says(token, from, text).await
}

/// One field of each message a snapshot serves, oldest first.
fn recent<'a, T>(served: &'a Value, field: &str, read: fn(&'a Value) -> Option<T>) -> Vec<T> {
    served["recent_messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| read(&m[field]).unwrap())
        .collect()
}

/// The conversation as its actor serves it (the actor starts on the first call).
async fn snapshot(app: &TestApp, token: &str, id: &str) -> Value {
    let reply = app
        .get(&format!("/api/v1/conversations/{id}"), Some(token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn a_deleted_tag_leaves_the_conversation_its_actor_serves(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let id = customer_says(&app, &owner, "ada", "hi").await["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tagged = app
        .post(
            &format!("/api/v1/conversations/{id}/tags"),
            Some(&owner),
            json!({ "tag": "billing" }),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK, "{}", tagged.body);
    assert_eq!(
        snapshot(&app, &owner, &id).await["conversation"]["tags"],
        json!(["billing"])
    );

    let deleted = app.delete("/api/v1/tags/billing", &owner).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        snapshot(&app, &owner, &id).await["conversation"]["tags"],
        json!([])
    );
    let listed = app.get("/api/v1/conversations", Some(&owner)).await;
    assert_eq!(listed.body["data"][0]["tags"], json!([]));
}

async fn a_merge_and_its_undo_move_the_conversation_its_actor_serves(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let kept = app
        .post(
            "/api/v1/contacts",
            Some(&owner),
            json!({ "name": "Grace Hopper" }),
        )
        .await;
    let kept = kept.body["id"].as_str().unwrap().to_owned();
    let said = customer_says(&app, &owner, "gracie", "hello").await;
    let id = said["conversation"]["id"].as_str().unwrap().to_owned();
    let duplicate = said["conversation"]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let contact_of = |snapshot: Value| {
        snapshot["conversation"]["contact"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(contact_of(snapshot(&app, &owner, &id).await), duplicate);

    let merged = app
        .post(
            &format!("/api/v1/contacts/{kept}/merge"),
            Some(&owner),
            json!({ "merge_id": duplicate }),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    let served = snapshot(&app, &owner, &id).await;
    assert_eq!(contact_of(served.clone()), kept);
    assert_eq!(served["conversation"]["contact"]["name"], "Grace Hopper");

    let undone = app
        .post(
            &format!("/api/v1/contacts/{duplicate}/unmerge"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(undone.status, StatusCode::OK, "{}", undone.body);
    assert_eq!(contact_of(snapshot(&app, &owner, &id).await), duplicate);
}

async fn a_renamed_contact_shows_in_its_conversations_served_and_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let said = customer_says(&app, &owner, "ida", "hi").await;
    let id = said["conversation"]["id"].as_str().unwrap().to_owned();
    let contact = said["conversation"]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        snapshot(&app, &owner, &id).await["conversation"]["contact"]["name"],
        "ida"
    );
    let mut socket = common::ws::Agent::connect(&app.base, &owner).await;
    socket.subscribe(None).await;

    let renamed = app
        .patch(
            &format!("/api/v1/contacts/{contact}"),
            &owner,
            json!({ "name": "Ida Wells" }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let updated = socket.next_of(&["conversation.updated"]).await;
    assert_eq!(updated["conversation_id"], id.as_str());
    assert_eq!(
        updated["data"]["conversation"]["contact"]["name"],
        "Ida Wells"
    );
    assert_eq!(
        snapshot(&app, &owner, &id).await["conversation"]["contact"]["name"],
        "Ida Wells"
    );
    // Other changes to a contact leave its conversations as they were.
    let tagged = app
        .patch(
            &format!("/api/v1/contacts/{contact}"),
            &owner,
            json!({ "tags": ["vip"] }),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK, "{}", tagged.body);
    socket.assert_nothing_pending().await;
}

async fn customer_messages_that_find_the_actors_mailbox_full_still_show_in_its_snapshot(
    backend: Backend,
) {
    // A mailbox with no room to spare: every ingest finds it full, so no `Observed`
    // can be queued (callers that wait for room still get in).
    let app = spawn_app_with(backend, |config| config.inbox.conversation_mailbox = 0).await;
    let (owner, _) = app.owner_session().await;
    let id = customer_says(&app, &owner, "bo", "#0").await["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    snapshot(&app, &owner, &id).await;
    let burst = (1..=30).map(|n| {
        let (app, owner) = (&app, &owner);
        async move { customer_says(app, owner, "bo", &format!("#{n}")).await }
    });
    futures_util::future::join_all(burst).await;

    let served = snapshot(&app, &owner, &id).await;
    assert_eq!(served["conversation"]["last_seq"], 31);
    assert_eq!(
        recent(&served, "seq", Value::as_i64),
        (1..=31).collect::<Vec<_>>()
    );
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_suite),
    ignore = "set TEST_DATABASE_URL to run the Postgres suite"
)]
async fn a_read_that_counts_a_message_its_actor_has_not_heard_of_leaves_no_gap_in_what_it_serves() {
    // A customer message commits outside the conversation's actor, which hears of it
    // only afterwards; a read written in between already counts it. A second node
    // with no bus between them holds that moment still: the actor on `a` never hears
    // of what `b` ingests. (Seen as an inbox missing one message after a reload.)
    let (a, b) = two_nodes_on_postgres(|_| {}).await;
    let (owner, _) = a.owner_session().await;
    let id = customer_says(&a, &owner, "erin", "One").await["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        recent(&snapshot(&a, &owner, &id).await, "seq", Value::as_i64),
        [1]
    );

    let through_b = reqwest::Client::new()
        .post(format!("{b}/api/v1/sandbox/demo/inbound"))
        .bearer_auth(&owner)
        .json(&json!({ "from": "erin", "text": "Two" }))
        .send()
        .await
        .unwrap();
    assert_eq!(through_b.status(), StatusCode::CREATED);
    let read = a
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["last_seq"], 2);
    customer_says(&a, &owner, "erin", "Three").await;

    let served = snapshot(&a, &owner, &id).await;
    assert_eq!(served["conversation"]["last_seq"], 3);
    assert_eq!(
        recent(&served, "body", Value::as_str),
        ["One", "Two", "Three"]
    );
}

on_both_backends!(
    a_deleted_tag_leaves_the_conversation_its_actor_serves,
    a_merge_and_its_undo_move_the_conversation_its_actor_serves,
    a_renamed_contact_shows_in_its_conversations_served_and_live,
    customer_messages_that_find_the_actors_mailbox_full_still_show_in_its_snapshot,
);
