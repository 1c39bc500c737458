//! The conversations, messages, contacts and tags REST API, and that what is done
//! over REST reaches the sockets (the same actor path as the WebSocket).

use crate::common;

use common::ws::Agent;
use common::{Backend, TestApp, column, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn customer_says(app: &TestApp, token: &str, channel: &str, from: &str, text: &str) -> Value {
    let reply = app
        .post(
            &format!("/api/v1/sandbox/{channel}/inbound"),
            Some(token),
            json!({ "from": from, "name": from, "text": text }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

fn conversation_id(body: &Value) -> String {
    body["conversation"]["id"].as_str().unwrap().to_owned()
}

async fn conversations_are_listed_by_recent_activity_and_filtered_by_status_assignee_tag_channel_and_unread(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (agent_id, _) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let ann = conversation_id(&customer_says(&app, &owner, "demo", "ann", "hi").await);
    let ben = conversation_id(&customer_says(&app, &owner, "demo", "ben", "hi").await);
    let cid = conversation_id(&customer_says(&app, &owner, "other", "cid", "hi").await);
    customer_says(&app, &owner, "demo", "ann", "again").await;

    let all = app.get("/api/v1/conversations", Some(&owner)).await;
    assert_eq!(
        column(&all.body, "id"),
        [ann.clone(), cid.clone(), ben.clone()]
    );

    let assigned = app
        .put(
            &format!("/api/v1/conversations/{ben}/assignment"),
            &owner,
            json!({ "user_id": agent_id }),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    assert_eq!(assigned.body["assignee_id"], agent_id.as_str());
    let tagged = app
        .post(
            &format!("/api/v1/conversations/{cid}/tags"),
            Some(&owner),
            json!({ "tag": "VIP" }),
        )
        .await;
    assert_eq!(tagged.body["tags"], json!(["vip"]));
    let read = app
        .post(
            &format!("/api/v1/conversations/{ann}/read"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(read.body["unread_count"], 0);
    let resolved = app
        .patch(
            &format!("/api/v1/conversations/{cid}"),
            &owner,
            json!({ "status": "resolved", "priority": "urgent" }),
        )
        .await;
    assert_eq!(
        (
            resolved.body["status"].as_str(),
            resolved.body["priority"].as_str()
        ),
        (Some("resolved"), Some("urgent"))
    );

    let filters = [
        (format!("assignee={agent_id}"), vec![ben.clone()]),
        ("assignee=none".to_owned(), vec![ann.clone(), cid.clone()]),
        ("tag=vip".to_owned(), vec![cid.clone()]),
        ("channel=sandbox:other".to_owned(), vec![cid.clone()]),
        ("status=open".to_owned(), vec![ann.clone(), ben.clone()]),
        ("unread=true".to_owned(), vec![cid.clone(), ben.clone()]),
    ];
    for (query, expected) in filters {
        let listed = app
            .get(&format!("/api/v1/conversations?{query}"), Some(&owner))
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{query}: {}", listed.body);
        assert_eq!(column(&listed.body, "id"), expected, "{query}");
    }

    let first = app.get("/api/v1/conversations?limit=2", Some(&owner)).await;
    assert_eq!(column(&first.body, "id"), [ann.clone(), cid.clone()]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/conversations?limit=2&cursor={cursor}"),
            Some(&owner),
        )
        .await;
    assert_eq!(column(&rest.body, "id"), vec![ben.clone()]);
    assert!(rest.body.get("next_cursor").is_none());

    let bad = app
        .get("/api/v1/conversations?status=sleeping", Some(&owner))
        .await;
    assert_eq!(
        (bad.status, bad.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

async fn the_list_shows_each_conversations_latest_message_and_searches_by_contact(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let me = app.get("/api/v1/auth/me", Some(&owner)).await;
    let owner_id = me.body["user"]["id"].as_str().unwrap().to_owned();
    let ann = conversation_id(
        &app.post(
            "/api/v1/sandbox/demo/inbound",
            Some(&owner),
            json!({ "from": "ann", "name": "Ann Smith", "phone": "+4915112345678", "text": "hello" }),
        )
        .await
        .body,
    );
    let ben = conversation_id(&customer_says(&app, &owner, "demo", "Ben Stone", "first").await);
    let long = "x".repeat(400);
    customer_says(&app, &owner, "demo", "Ben Stone", &long).await;
    let noted = app
        .post(
            &format!("/api/v1/conversations/{ann}/notes"),
            Some(&owner),
            json!({ "body": "VIP, call back" }),
        )
        .await;
    assert_eq!(noted.status, StatusCode::CREATED, "{}", noted.body);

    // A note is the latest entry of Ann's timeline, though only customer and agent
    // messages move a conversation up the list.
    let all = app.get("/api/v1/conversations", Some(&owner)).await;
    assert_eq!(column(&all.body, "id"), [ben.clone(), ann.clone()]);
    assert_eq!(
        all.body["data"][1]["last_message"],
        json!({ "direction": "note", "type": "text", "body": "VIP, call back", "author_id": owner_id, "status": "sent" })
    );
    assert_eq!(
        all.body["data"][0]["last_message"]["body"]
            .as_str()
            .unwrap(),
        "x".repeat(160),
        "previews are cut to one line's worth"
    );
    assert_eq!(all.body["data"][0]["contact"]["name"], "Ben Stone");

    for (q, expected) in [
        ("smith", vec![ann.clone()]),
        ("ANN", vec![ann.clone()]),
        ("+49151", vec![ann.clone()]),
        ("stone", vec![ben.clone()]),
        ("nobody", vec![]),
        ("%", vec![]),
        ("", vec![ben.clone(), ann.clone()]),
    ] {
        let url =
            reqwest::Url::parse_with_params(&app.url("/api/v1/conversations"), [("q", q)]).unwrap();
        let found = app.send(app.http.get(url).bearer_auth(&owner)).await;
        assert_eq!(found.status, StatusCode::OK, "{q}: {}", found.body);
        assert_eq!(column(&found.body, "id"), expected, "q={q}");
    }
}

async fn everyone_on_the_inbox_can_see_the_team_names_but_not_their_emails(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (agent_id, _) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let (viewer_id, viewer) = app
        .user_with_role(&owner, "viewer@example.com", "viewer")
        .await;
    let gone = app
        .patch(
            &format!("/api/v1/users/{agent_id}"),
            &owner,
            json!({ "status": "deactivated" }),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);

    let team = app.get("/api/v1/team", Some(&viewer)).await;
    assert_eq!(team.status, StatusCode::OK, "{}", team.body);
    let members = team.body["data"].as_array().unwrap();
    assert_eq!(
        members.len(),
        2,
        "the deactivated agent is not listed: {members:?}"
    );
    let viewer_entry = members
        .iter()
        .find(|m| m["id"] == viewer_id.as_str())
        .unwrap();
    assert_eq!(viewer_entry["role"], "viewer");
    assert!(members.iter().all(|m| m.get("email").is_none()));
    assert_eq!(
        app.get("/api/v1/users", Some(&viewer)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/team", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn assignment_is_kept_as_history_and_reaches_sockets_with_a_notification_for_the_assignee(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (agent_id, agent) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let id = conversation_id(&customer_says(&app, &owner, "demo", "dora", "hi").await);
    let mut socket = Agent::connect(&app.base, &agent).await;
    socket.subscribe(None).await;

    app.put(
        &format!("/api/v1/conversations/{id}/assignment"),
        &owner,
        json!({ "user_id": agent_id }),
    )
    .await;
    let event = socket.next_of(&["conversation.assigned"]).await;
    assert_eq!(event["data"]["assignee_id"], agent_id.as_str());
    let note = socket.next_of(&["notification"]).await;
    assert_eq!(
        (note["kind"].as_str(), note["conversation_id"].as_str()),
        (Some("assigned"), Some(id.as_str()))
    );
    assert_eq!(note["offset"], event["offset"]);

    let unassigned = app
        .put(
            &format!("/api/v1/conversations/{id}/assignment"),
            &owner,
            json!({ "user_id": null }),
        )
        .await;
    assert_eq!(unassigned.body["assignee_id"], Value::Null);
    let history = app
        .get(
            &format!("/api/v1/conversations/{id}/assignments"),
            Some(&owner),
        )
        .await;
    assert_eq!(history.body["data"][0]["assignee_id"], Value::Null);
    assert_eq!(history.body["data"][1]["assignee_id"], agent_id.as_str());

    let (outsider, _) = app.register("other", "owner@other.example").await;
    let outsider_id = app.get("/api/v1/auth/me", Some(&outsider)).await.body["user"]["id"].clone();
    let refused = app
        .put(
            &format!("/api/v1/conversations/{id}/assignment"),
            &owner,
            json!({ "user_id": outsider_id }),
        )
        .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let hidden = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&outsider))
        .await;
    assert_eq!(
        (hidden.status, hidden.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let listed = app.get("/api/v1/conversations", Some(&outsider)).await;
    assert_eq!(listed.body["data"], json!([]));
}

async fn replies_and_notes_are_paged_in_seq_order_and_a_retried_reply_is_stored_once(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let id = conversation_id(&customer_says(&app, &owner, "demo", "eve", "m1").await);
    let note = app
        .post(
            &format!("/api/v1/conversations/{id}/notes"),
            Some(&owner),
            json!({ "body": "m2" }),
        )
        .await;
    assert_eq!(
        (note.status, note.body["direction"].as_str()),
        (StatusCode::CREATED, Some("note"))
    );
    let reply = json!({ "body": "m3", "client_id": "rest-1" });
    let first = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&owner),
            reply.clone(),
        )
        .await;
    let again = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&owner),
            reply,
        )
        .await;
    assert_eq!(
        (first.status, again.status),
        (StatusCode::CREATED, StatusCode::OK)
    );
    assert_eq!(first.body["id"], again.body["id"]);
    for n in 4..=5 {
        customer_says(&app, &owner, "demo", "eve", &format!("m{n}")).await;
    }

    let newest = app
        .get(
            &format!("/api/v1/conversations/{id}/messages?limit=2"),
            Some(&owner),
        )
        .await;
    assert_eq!(column(&newest.body, "body"), ["m4", "m5"]);
    assert_eq!(newest.body["next_cursor"], "4");
    let older = app
        .get(
            &format!("/api/v1/conversations/{id}/messages?limit=3&before=4"),
            Some(&owner),
        )
        .await;
    assert_eq!(column(&older.body, "body"), ["m1", "m2", "m3"]);
    assert!(older.body.get("next_cursor").is_none());

    let empty = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&owner),
            json!({ "body": "  " }),
        )
        .await;
    assert_eq!(
        (empty.status, empty.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let missing = app
        .post(
            &format!("/api/v1/conversations/{}/messages", uuid::Uuid::now_v7()),
            Some(&owner),
            json!({ "body": "x" }),
        )
        .await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

async fn a_replayed_sandbox_message_id_is_stored_once_and_a_closed_conversation_is_followed_by_a_new_one(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let body = json!({ "from": "fay", "text": "order #1", "message_id": "wamid.1" });
    let first = app
        .post("/api/v1/sandbox/demo/inbound", Some(&owner), body.clone())
        .await;
    let replay = app
        .post("/api/v1/sandbox/demo/inbound", Some(&owner), body)
        .await;
    assert_eq!(
        (first.status, replay.status),
        (StatusCode::CREATED, StatusCode::OK)
    );
    assert_eq!(replay.body["duplicate"], true);
    assert_eq!(first.body["message"]["id"], replay.body["message"]["id"]);
    let id = conversation_id(&first.body);

    app.patch(
        &format!("/api/v1/conversations/{id}"),
        &owner,
        json!({ "status": "resolved" }),
    )
    .await;
    let reopened = customer_says(&app, &owner, "demo", "fay", "still there?").await;
    assert_eq!(conversation_id(&reopened), id);
    assert_eq!(reopened["conversation"]["status"], "open");

    app.patch(
        &format!("/api/v1/conversations/{id}"),
        &owner,
        json!({ "status": "closed" }),
    )
    .await;
    let fresh = customer_says(&app, &owner, "demo", "fay", "new question").await;
    assert_ne!(conversation_id(&fresh), id);
    assert_eq!(fresh["message"]["seq"], 1);
    assert_eq!(
        fresh["conversation"]["contact"]["id"],
        first.body["conversation"]["contact"]["id"]
    );

    let snooze = app
        .patch(
            &format!("/api/v1/conversations/{id}"),
            &owner,
            json!({ "status": "snoozed" }),
        )
        .await;
    assert_eq!(snooze.error_code(), "invalid_request");
}

async fn contacts_are_created_searched_updated_and_merged_with_an_audit_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let created = app
        .post("/api/v1/contacts", Some(&owner), json!({ "name": "Grace Hopper", "phones": ["+1 (415) 555-0132"], "emails": ["Grace@Example.com"], "custom_fields": { "plan": "pro" } }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["phones"], json!(["+14155550132"]));
    assert_eq!(created.body["emails"], json!(["grace@example.com"]));
    let grace = created.body["id"].as_str().unwrap().to_owned();

    for query in ["hopper", "555013", "GRACE@example"] {
        let found = app
            .get(&format!("/api/v1/contacts?q={query}"), Some(&owner))
            .await;
        assert_eq!(column(&found.body, "id"), vec![grace.clone()], "{query}");
    }
    let invalid = app
        .post(
            "/api/v1/contacts",
            Some(&owner),
            json!({ "name": "X", "phones": ["12"] }),
        )
        .await;
    assert_eq!(
        (invalid.status, invalid.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    let updated = app
        .patch(
            &format!("/api/v1/contacts/{grace}"),
            &owner,
            json!({ "tags": ["vip"], "name": "Grace B. Hopper" }),
        )
        .await;
    assert_eq!(
        (updated.body["name"].as_str(), updated.body["tags"].clone()),
        (Some("Grace B. Hopper"), json!(["vip"]))
    );

    let chat = customer_says(&app, &owner, "demo", "gracie", "hello").await;
    let duplicate = chat["conversation"]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut socket = Agent::connect(&app.base, &owner).await;
    socket.subscribe(None).await;
    let merged = app
        .post(
            &format!("/api/v1/contacts/{grace}/merge"),
            Some(&owner),
            json!({ "merge_id": duplicate }),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    assert_eq!(
        merged.body["identities"],
        json!([{ "channel": "sandbox:demo", "external_id": "gracie" }])
    );
    let moved = socket.next_of(&["conversation.updated"]).await;
    assert_eq!(
        moved["data"]["conversation"]["contact"]["id"],
        grace.as_str()
    );

    let absorbed = app
        .get(&format!("/api/v1/contacts/{duplicate}"), Some(&owner))
        .await;
    assert_eq!(absorbed.body["merged_into"], grace.as_str());
    let listed = app.get("/api/v1/contacts", Some(&owner)).await;
    assert_eq!(column(&listed.body, "id"), vec![grace.clone()]);
    let next = customer_says(&app, &owner, "demo", "gracie", "it's me again").await;
    assert_eq!(next["conversation"]["contact"]["id"], grace.as_str());

    let audit = app.get("/api/v1/audit-log", Some(&owner)).await;
    let entry = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "contact.merge")
        .unwrap();
    assert_eq!(
        (
            entry["target_id"].as_str(),
            entry["details"]["merged_id"].as_str()
        ),
        (Some(grace.as_str()), Some(duplicate.as_str()))
    );
    let again = app
        .post(
            &format!("/api/v1/contacts/{grace}/merge"),
            Some(&owner),
            json!({ "merge_id": duplicate }),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn a_merge_is_undone_exactly_and_the_undo_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let created = app
        .post("/api/v1/contacts", Some(&owner), json!({ "name": "Grace", "phones": ["+14155550132"], "custom_fields": { "plan": "pro" } }))
        .await;
    let grace = created.body["id"].as_str().unwrap().to_owned();
    let chat = customer_says(&app, &owner, "demo", "gracie", "hello").await;
    let conversation = chat["conversation"]["id"].as_str().unwrap().to_owned();
    let other = chat["conversation"]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = app
        .patch(
            &format!("/api/v1/contacts/{other}"),
            &owner,
            json!({ "emails": ["gracie@example.com"], "tags": ["lead"], "custom_fields": { "plan": "free", "source": "ad" } }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let before = app
        .get(&format!("/api/v1/contacts/{grace}"), Some(&owner))
        .await
        .body;
    let merged = app
        .post(
            &format!("/api/v1/contacts/{grace}/merge"),
            Some(&owner),
            json!({ "merge_id": other }),
        )
        .await;
    assert_eq!(merged.body["emails"], json!(["gracie@example.com"]));
    assert_eq!(
        merged.body["custom_fields"],
        json!({ "plan": "pro", "source": "ad" })
    );

    let mut socket = Agent::connect(&app.base, &owner).await;
    socket.subscribe(None).await;
    let undone = app
        .post(
            &format!("/api/v1/contacts/{other}/unmerge"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(undone.status, StatusCode::OK, "{}", undone.body);
    assert_eq!(undone.body["merged_into"], Value::Null);
    assert_eq!(undone.body["emails"], json!(["gracie@example.com"]));
    assert_eq!(
        undone.body["custom_fields"],
        json!({ "plan": "free", "source": "ad" })
    );
    assert_eq!(
        undone.body["identities"],
        json!([{ "channel": "sandbox:demo", "external_id": "gracie" }])
    );
    let moved = socket.next_of(&["conversation.updated"]).await;
    assert_eq!(moved["data"]["conversation"]["id"], conversation.as_str());
    assert_eq!(
        moved["data"]["conversation"]["contact"]["id"],
        other.as_str()
    );

    // The kept contact is exactly as before the merge, apart from its update time.
    let mut after = app
        .get(&format!("/api/v1/contacts/{grace}"), Some(&owner))
        .await
        .body;
    let mut before = before;
    for contact in [&mut after, &mut before] {
        contact.as_object_mut().unwrap().remove("updated_at");
    }
    assert_eq!(after, before);
    let next = customer_says(&app, &owner, "demo", "gracie", "still me").await;
    assert_eq!(next["conversation"]["contact"]["id"], other.as_str());
    let listed = app.get("/api/v1/contacts", Some(&owner)).await;
    assert_eq!(column(&listed.body, "id").len(), 2);

    let audit = app.get("/api/v1/audit-log", Some(&owner)).await;
    let entry = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "contact.unmerge")
        .unwrap()
        .clone();
    assert_eq!(entry["target_id"], other.as_str());
    let twice = app
        .post(
            &format!("/api/v1/contacts/{other}/unmerge"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
}

async fn tags_are_listed_created_and_deleting_one_untags_conversations_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (_, agent) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let created = app
        .post(
            "/api/v1/tags",
            Some(&owner),
            json!({ "name": "billing", "color": "#ff8800" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let clash = app
        .post("/api/v1/tags", Some(&owner), json!({ "name": "Billing" }))
        .await;
    assert_eq!(
        (clash.status, clash.error_code()),
        (StatusCode::CONFLICT, "conflict")
    );
    let forbidden = app
        .post("/api/v1/tags", Some(&agent), json!({ "name": "x" }))
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    let id = conversation_id(&customer_says(&app, &owner, "demo", "hal", "invoice?").await);
    app.post(
        &format!("/api/v1/conversations/{id}/tags"),
        Some(&agent),
        json!({ "tag": "billing" }),
    )
    .await;
    app.post(
        &format!("/api/v1/conversations/{id}/tags"),
        Some(&agent),
        json!({ "tag": "urgent-fix" }),
    )
    .await;
    let tags = app.get("/api/v1/tags", Some(&agent)).await;
    assert_eq!(column(&tags.body, "name"), ["billing", "urgent-fix"]);
    let removed = app
        .delete(
            &format!("/api/v1/conversations/{id}/tags/urgent-fix"),
            &agent,
        )
        .await;
    assert_eq!(removed.body["tags"], json!(["billing"]));

    let mut socket = Agent::connect(&app.base, &agent).await;
    socket.subscribe(None).await;
    let deleted = app.delete("/api/v1/tags/billing", &owner).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let event = socket.next_of(&["conversation.updated"]).await;
    assert_eq!(event["data"]["conversation"]["tags"], json!([]));
    let gone = app.delete("/api/v1/tags/billing", &owner).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

async fn viewers_read_the_inbox_but_cannot_change_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (_, viewer) = app
        .user_with_role(&owner, "viewer@example.com", "viewer")
        .await;
    let id = conversation_id(&customer_says(&app, &owner, "demo", "ivy", "hi").await);
    assert_eq!(
        app.get(&format!("/api/v1/conversations/{id}"), Some(&viewer))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&viewer)
        )
        .await
        .status,
        StatusCode::OK
    );
    let refused = [
        app.post(
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&viewer),
            json!({ "body": "x" }),
        )
        .await,
        app.patch(
            &format!("/api/v1/conversations/{id}"),
            &viewer,
            json!({ "status": "resolved" }),
        )
        .await,
        app.post(
            "/api/v1/sandbox/demo/inbound",
            Some(&viewer),
            json!({ "from": "a", "text": "b" }),
        )
        .await,
        app.post("/api/v1/contacts", Some(&viewer), json!({ "name": "x" }))
            .await,
    ];
    for reply in refused {
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{}",
            reply.body
        );
    }
}

on_both_backends!(
    conversations_are_listed_by_recent_activity_and_filtered_by_status_assignee_tag_channel_and_unread,
    the_list_shows_each_conversations_latest_message_and_searches_by_contact,
    everyone_on_the_inbox_can_see_the_team_names_but_not_their_emails,
    assignment_is_kept_as_history_and_reaches_sockets_with_a_notification_for_the_assignee,
    replies_and_notes_are_paged_in_seq_order_and_a_retried_reply_is_stored_once,
    a_replayed_sandbox_message_id_is_stored_once_and_a_closed_conversation_is_followed_by_a_new_one,
    contacts_are_created_searched_updated_and_merged_with_an_audit_row,
    a_merge_is_undone_exactly_and_the_undo_is_audited,
    tags_are_listed_created_and_deleting_one_untags_conversations_live,
    viewers_read_the_inbox_but_cannot_change_it,
);
