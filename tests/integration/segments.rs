//! Consent to marketing (keywords, agents, integrations) and segments: saved filters
//! over contacts and their conversations, counted live, through the REST API.

use crate::common;

use common::wait::until;
use common::{Backend, TestApp, column, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn says(
    app: &TestApp,
    token: &str,
    channel: &str,
    from: &str,
    text: &str,
    id: &str,
) -> Value {
    let reply = app
        .post(
            &format!("/api/v1/sandbox/{channel}/inbound"),
            Some(token),
            json!({ "from": from, "name": from, "text": text, "message_id": id }),
        )
        .await;
    // 201 for a new message, 200 for one the channel delivered before.
    assert!(reply.status.is_success(), "{}", reply.body);
    reply.body
}

fn contact_of(said: &Value) -> String {
    said["conversation"]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn contact(app: &TestApp, token: &str, id: &str) -> Value {
    let found = app
        .get(&format!("/api/v1/contacts/{id}"), Some(token))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    found.body
}

/// Whether the contact opted out, and the source of their latest consent change.
async fn consent(app: &TestApp, token: &str, id: &str) -> (bool, Option<String>) {
    let c = contact(app, token, id).await;
    assert_eq!(
        c["opted_out"],
        c["consent"]["opted_out"].as_bool().unwrap_or(false)
    );
    (
        c["opted_out"].as_bool().unwrap(),
        c["consent"]["source"].as_str().map(str::to_owned),
    )
}

async fn a_stop_keyword_opts_the_customer_out_start_brings_them_back_a_replayed_stop_changes_nothing_and_a_merge_keeps_it(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let first = says(
        &app,
        &owner,
        "demo",
        "ana",
        "Hi, what are your hours?",
        "m1",
    )
    .await;
    let ana = contact_of(&first);
    assert_eq!(consent(&app, &owner, &ana).await, (false, None));
    assert_eq!(contact(&app, &owner, &ana).await["consent"], Value::Null);

    says(
        &app,
        &owner,
        "demo",
        "ana",
        "please don't stop writing to me",
        "m2",
    )
    .await;
    assert_eq!(consent(&app, &owner, &ana).await, (false, None));

    says(&app, &owner, "demo", "ana", " Stop! ", "m3").await;
    assert_eq!(
        consent(&app, &owner, &ana).await,
        (true, Some("keyword".to_owned()))
    );
    says(&app, &owner, "demo", "ana", "START", "m4").await;
    assert_eq!(
        consent(&app, &owner, &ana).await,
        (false, Some("keyword".to_owned()))
    );
    // The provider delivers the STOP again: it is the same, older message.
    let again = says(&app, &owner, "demo", "ana", " Stop! ", "m3").await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        consent(&app, &owner, &ana).await,
        (false, Some("keyword".to_owned()))
    );

    let bea = contact_of(&says(&app, &owner, "demo", "bea", "Darme de baja.", "b1").await);
    assert_eq!(
        consent(&app, &owner, &bea).await,
        (true, Some("keyword".to_owned()))
    );

    // Merged into a contact that never said anything, the opt-out goes with her.
    let by_email = app
        .post(
            "/api/v1/contacts",
            Some(&owner),
            json!({"name": "Bea", "emails": ["bea@example.com"]}),
        )
        .await;
    let kept = by_email.body["id"].as_str().unwrap().to_owned();
    let merged = app
        .post(
            &format!("/api/v1/contacts/{kept}/merge"),
            Some(&owner),
            json!({"merge_id": bea}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    assert_eq!(merged.body["opted_out"], true);
    assert_eq!(
        consent(&app, &owner, &kept).await,
        (true, Some("keyword".to_owned()))
    );
}

async fn agents_and_integrations_set_consent_with_their_source_and_an_audit_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (_, agent) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let made = app
        .post("/api/v1/contacts", Some(&owner), json!({"name": "Cy"}))
        .await;
    let cy = made.body["id"].as_str().unwrap().to_owned();
    assert_eq!(made.body["opted_out"], false);

    let out = app
        .patch(
            &format!("/api/v1/contacts/{cy}"),
            &agent,
            json!({"opted_out": true}),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_eq!(
        (&out.body["opted_out"], &out.body["consent"]["source"]),
        (&json!(true), &json!("agent"))
    );
    // Asking for what already holds changes and audits nothing.
    let same = app
        .patch(
            &format!("/api/v1/contacts/{cy}"),
            &agent,
            json!({"opted_out": true}),
        )
        .await;
    assert_eq!(same.body["consent"], out.body["consent"]);

    let key = app
        .post(
            "/api/v1/api-keys",
            Some(&owner),
            json!({"name": "crm", "scopes": ["contacts:read", "contacts:write"]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let key = key.body["key"].as_str().unwrap().to_owned();
    let back = app
        .patch(
            &format!("/api/v1/contacts/{cy}"),
            &key,
            json!({"opted_out": false}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(
        (&back.body["opted_out"], &back.body["consent"]["source"]),
        (&json!(false), &json!("api"))
    );

    let audit = app.get("/api/v1/audit-log?limit=100", Some(&owner)).await;
    let rows: Vec<(&str, &str, &str)> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == cy.as_str())
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"]["kind"].as_str().unwrap(),
                e["details"]["source"].as_str().unwrap(),
            )
        })
        .rev()
        .collect();
    assert_eq!(
        rows,
        [
            ("contact.opt_out", "user", "agent"),
            ("contact.opt_in", "api_key", "api")
        ]
    );
}

async fn segments_select_by_channel_recent_writing_lead_temperature_consent_tags_and_fields_and_count_live(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (_, manager) = app
        .user_with_role(&owner, "manager@example.com", "manager")
        .await;
    let (_, agent) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;

    let hot = says(
        &app,
        &owner,
        "demo",
        "ana",
        "Hi, how much is the Pro plan? Is it available? I need it today, thanks!",
        "a1",
    )
    .await;
    let ana = contact_of(&hot);
    let ben = contact_of(&says(&app, &owner, "other", "ben", "hello", "b1").await);
    let cy = contact_of(&says(&app, &owner, "demo", "cy", "STOP", "c1").await);
    let dee = app
        .post(
            "/api/v1/contacts",
            Some(&owner),
            json!({"name": "Dee", "tags": ["vip"], "custom_fields": {"plan": "gold"}}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let conversation = hot["conversation"]["id"].as_str().unwrap().to_owned();
    until("ana's lead scored hot", || async {
        let found = app
            .get(
                &format!("/api/v1/conversations/{conversation}"),
                Some(&owner),
            )
            .await;
        (found.body["lead"]["temperature"] == "hot").then_some(())
    })
    .await;

    let count = |filter: Value| {
        let app = &app;
        let owner = owner.clone();
        async move {
            let counted = app
                .post(
                    "/api/v1/segments/count",
                    Some(&owner),
                    json!({"filter": filter}),
                )
                .await;
            assert_eq!(counted.status, StatusCode::OK, "{}", counted.body);
            counted.body["count"].as_u64().unwrap()
        }
    };
    assert_eq!(count(json!({"channel": ["sandbox"]})).await, 3);
    assert_eq!(count(json!({"channel": ["sandbox:other"]})).await, 1);
    assert_eq!(count(json!({"inbound_within_hours": 1})).await, 3);
    assert_eq!(count(json!({"not": {"inbound_within_hours": 1}})).await, 1);
    assert_eq!(count(json!({"temperature": ["hot"]})).await, 1);
    assert_eq!(count(json!({"temperature": ["cold"]})).await, 3);
    assert_eq!(count(json!({"opted_out": true})).await, 1);
    assert_eq!(count(json!({"any": [{"has_tag": "vip"}, {"field": {"field": "plan", "op": "is", "value": "GOLD"}}]})).await, 1);

    // Saved, counted, listed, paged, changed and removed.
    let reachable = json!({"all": [{"channel": ["sandbox"]}, {"opted_out": false}]});
    let made = app
        .post(
            "/api/v1/segments",
            Some(&manager),
            json!({"name": " Reachable on sandbox ", "filter": reachable}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(
        (made.body["name"].as_str(), made.body["count"].as_u64()),
        (Some("Reachable on sandbox"), Some(2))
    );
    assert_eq!(made.body["filter"], reachable);
    let id = made.body["id"].as_str().unwrap().to_owned();
    let page = app
        .get(
            &format!("/api/v1/segments/{id}/contacts?limit=1"),
            Some(&agent),
        )
        .await;
    assert_eq!(column(&page.body, "id"), [ben.as_str()]);
    let rest = app
        .get(
            &format!(
                "/api/v1/segments/{id}/contacts?limit=1&cursor={}",
                page.body["next_cursor"].as_str().unwrap()
            ),
            Some(&agent),
        )
        .await;
    assert_eq!(column(&rest.body, "id"), [ana.as_str()]);

    // The count follows the contacts as they change.
    let back = app
        .patch(
            &format!("/api/v1/contacts/{cy}"),
            &owner,
            json!({"opted_out": false}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let counted = app
        .get(&format!("/api/v1/segments/{id}"), Some(&agent))
        .await;
    assert_eq!(counted.body["count"], 3);

    let listed = app.get("/api/v1/segments", Some(&agent)).await;
    assert_eq!(column(&listed.body, "name"), ["Reachable on sandbox"]);
    assert!(
        listed.body["data"][0].get("count").is_none(),
        "{}",
        listed.body
    );

    let taken = app
        .post(
            "/api/v1/segments",
            Some(&manager),
            json!({"name": "Reachable on sandbox", "filter": {"opted_out": false}}),
        )
        .await;
    assert_eq!(
        (taken.status, taken.error_code()),
        (StatusCode::CONFLICT, "conflict")
    );
    let refused = app
        .post(
            "/api/v1/segments",
            Some(&agent),
            json!({"name": "Mine", "filter": {"opted_out": false}}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let empty_channels = app
        .post(
            "/api/v1/segments",
            Some(&manager),
            json!({"name": "None", "filter": {"channel": []}}),
        )
        .await;
    assert_eq!(
        (empty_channels.status, empty_channels.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    let renamed = app
        .patch(
            &format!("/api/v1/segments/{id}"),
            &manager,
            json!({"name": "VIPs", "filter": {"has_tag": "vip"}}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(
        (
            renamed.body["name"].as_str(),
            renamed.body["count"].as_u64()
        ),
        (Some("VIPs"), Some(1))
    );
    let members = app
        .get(&format!("/api/v1/segments/{id}/contacts"), Some(&agent))
        .await;
    assert_eq!(column(&members.body, "id"), [dee.as_str()]);
    assert_eq!(members.body["next_cursor"], Value::Null);

    let removed = app
        .delete(&format!("/api/v1/segments/{id}"), &manager)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = app
        .get(&format!("/api/v1/segments/{id}"), Some(&agent))
        .await;
    assert_eq!(
        (gone.status, gone.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    let audit = app.get("/api/v1/audit-log?limit=100", Some(&owner)).await;
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .rev()
        .collect();
    assert_eq!(
        actions,
        ["segment.create", "segment.update", "segment.delete"]
    );
}

async fn a_tenant_holds_at_most_two_hundred_segments(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    for i in 0..200 {
        let made = app
            .post(
                "/api/v1/segments",
                Some(&owner),
                json!({"name": format!("s{i}"), "filter": {"has_tag": "vip"}}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    }
    let refused = app
        .post(
            "/api/v1/segments",
            Some(&owner),
            json!({"name": "one more", "filter": {"has_tag": "vip"}}),
        )
        .await;
    assert_eq!(
        (
            refused.status,
            refused.error_code(),
            refused.body["error"]["message"].as_str()
        ),
        (
            StatusCode::CONFLICT,
            "limit_reached",
            Some("a tenant holds at most 200 segments; remove one first")
        )
    );
}

on_both_backends!(
    a_stop_keyword_opts_the_customer_out_start_brings_them_back_a_replayed_stop_changes_nothing_and_a_merge_keeps_it,
    agents_and_integrations_set_consent_with_their_source_and_an_audit_row,
    segments_select_by_channel_recent_writing_lead_temperature_consent_tags_and_fields_and_count_live,
    a_tenant_holds_at_most_two_hundred_segments,
);
