//! Custom contact fields through the REST API: definitions, values checked on every
//! contact write, search by field values, and filters over tags and typed fields.

use crate::common;

use common::{Backend, TestApp, column, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn define(app: &TestApp, token: &str, field: Value) -> Value {
    let made = app.post("/api/v1/contact-fields", Some(token), field).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body
}

async fn new_contact(app: &TestApp, token: &str, contact: Value) -> String {
    let made = app.post("/api/v1/contacts", Some(token), contact).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_owned()
}

/// The refusal's status, code and message.
async fn refused(
    app: &TestApp,
    token: &str,
    path: &str,
    body: Value,
) -> (StatusCode, String, String) {
    let reply = app.post(path, Some(token), body).await;
    let code = reply.error_code().to_owned();
    let message = reply.body["error"]["message"].as_str().unwrap().to_owned();
    (reply.status, code, message)
}

async fn custom_fields_are_defined_checked_on_every_contact_write_and_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let seats = define(
        &app,
        &owner,
        json!({"key": "seats", "label": " Seats ", "kind": "number", "required": true}),
    )
    .await;
    assert_eq!(
        seats,
        json!({
            "key": "seats", "label": "Seats", "kind": "number", "options": [], "required": true,
            "created_at": seats["created_at"], "updated_at": seats["updated_at"],
        })
    );
    define(
        &app,
        &owner,
        json!({"key": "plan", "label": "Plan", "kind": "choice", "options": ["Gold", "Silver"]}),
    )
    .await;
    define(
        &app,
        &owner,
        json!({"key": "renews_on", "label": "Renews on", "kind": "date"}),
    )
    .await;
    define(&app, &owner, json!({"key": "topics", "label": "Topics", "kind": "multi_choice", "options": ["Sales", "Support", "Billing"]})).await;

    let listed = app.get("/api/v1/contact-fields", Some(&owner)).await;
    assert_eq!(
        column(&listed.body, "key"),
        ["seats", "plan", "renews_on", "topics"]
    );

    let bad_definitions = [
        (
            json!({"key": "plan", "label": "Plan again", "kind": "text"}),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            json!({"key": "Plan Type", "label": "x", "kind": "text"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"key": "email", "label": "x", "kind": "email"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"key": "size", "label": "x", "kind": "text", "options": ["S"]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"key": "tier", "label": "x", "kind": "choice"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"key": "tier", "label": "x", "kind": "colour"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, status, code) in bad_definitions {
        let (got_status, got_code, message) =
            refused(&app, &owner, "/api/v1/contact-fields", body.clone()).await;
        assert_eq!(
            (got_status, got_code.as_str()),
            (status, code),
            "{body}: {message}"
        );
    }

    // Values are checked against their kind and stored one way; free-form keys pass.
    let missing = refused(
        &app,
        &owner,
        "/api/v1/contacts",
        json!({"name": "Ana", "custom_fields": {"plan": "gold"}}),
    )
    .await;
    assert_eq!(
        missing,
        (
            StatusCode::BAD_REQUEST,
            "invalid_request".to_owned(),
            "required custom fields are missing: seats".to_owned()
        )
    );
    let wrong = refused(
        &app,
        &owner,
        "/api/v1/contacts",
        json!({"name": "Ana", "custom_fields": {"seats": 3, "plan": "Bronze"}}),
    )
    .await;
    assert_eq!(
        wrong.2,
        "custom field 'plan' takes one of: Gold, Silver; got \"Bronze\""
    );
    let made = app
        .post(
            "/api/v1/contacts",
            Some(&owner),
            json!({"name": "Ana", "custom_fields": {
                "seats": "12", "plan": "gold", "renews_on": "2027-03-01",
                "topics": ["billing", "Sales"], "source": "trade fair", "region": null
            }}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(
        made.body["custom_fields"],
        json!({"seats": 12, "plan": "Gold", "renews_on": "2027-03-01", "topics": ["Sales", "Billing"], "source": "trade fair"})
    );
    let ana = made.body["id"].as_str().unwrap().to_owned();

    // A stricter definition does not block a write that keeps the stored value.
    let narrowed = app
        .patch(
            "/api/v1/contact-fields/plan",
            &owner,
            json!({"options": ["Silver", "Platinum"], "label": "Plan tier"}),
        )
        .await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.body);
    assert_eq!(narrowed.body["options"], json!(["Silver", "Platinum"]));
    assert_eq!(narrowed.body["kind"], "choice");
    let kept = app
        .patch(
            &format!("/api/v1/contacts/{ana}"),
            &owner,
            json!({"custom_fields": {"seats": 14, "plan": "Gold", "renews_on": "2027-03-01"}}),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(
        kept.body["custom_fields"],
        json!({"seats": 14, "plan": "Gold", "renews_on": "2027-03-01"})
    );
    let changed = app
        .patch(
            &format!("/api/v1/contacts/{ana}"),
            &owner,
            json!({"custom_fields": {"seats": 14, "renews_on": "2027-02-30"}}),
        )
        .await;
    assert_eq!(
        (changed.status, changed.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert_eq!(
        changed.body["error"]["message"],
        "custom field 'renews_on' takes a date as YYYY-MM-DD; got \"2027-02-30\""
    );
    let renamed = app
        .patch(
            &format!("/api/v1/contacts/{ana}"),
            &owner,
            json!({"name": "Ana Lima"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["custom_fields"]["seats"], 14);

    // A kind never changes; a removed definition leaves its values as plain fields.
    let kind_change = app
        .patch(
            "/api/v1/contact-fields/plan",
            &owner,
            json!({"kind": "text"}),
        )
        .await;
    assert_eq!(
        kind_change.status,
        StatusCode::BAD_REQUEST,
        "{}",
        kind_change.body
    );
    let removed = app.delete("/api/v1/contact-fields/seats", &owner).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = app.delete("/api/v1/contact-fields/seats", &owner).await;
    assert_eq!(
        (gone.status, gone.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let free = app
        .patch(
            &format!("/api/v1/contacts/{ana}"),
            &owner,
            json!({"custom_fields": {"seats": "many"}}),
        )
        .await;
    assert_eq!(free.body["custom_fields"], json!({"seats": "many"}));

    let (_, agent_token) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let (status, code, _) = refused(
        &app,
        &agent_token,
        "/api/v1/contact-fields",
        json!({"key": "x", "label": "x", "kind": "text"}),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let read = app.get("/api/v1/contact-fields", Some(&agent_token)).await;
    assert_eq!(column(&read.body, "key"), ["plan", "renews_on", "topics"]);

    let audit = app.get("/api/v1/audit-log?limit=100", Some(&owner)).await;
    let actions: Vec<(&str, &str)> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_type"] == "contact_field")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["target_id"].as_str().unwrap(),
            )
        })
        .rev()
        .collect();
    assert_eq!(
        actions,
        [
            ("contact_field.create", "seats"),
            ("contact_field.create", "plan"),
            ("contact_field.create", "renews_on"),
            ("contact_field.create", "topics"),
            ("contact_field.update", "plan"),
            ("contact_field.delete", "seats"),
        ]
    );
}

async fn a_tenant_holds_at_most_a_hundred_custom_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    for i in 0..100 {
        define(
            &app,
            &owner,
            json!({"key": format!("f{i}"), "label": "x", "kind": "text"}),
        )
        .await;
    }
    let (status, code, message) = refused(
        &app,
        &owner,
        "/api/v1/contact-fields",
        json!({"key": "one_more", "label": "x", "kind": "text"}),
    )
    .await;
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (
            StatusCode::CONFLICT,
            "limit_reached",
            "a tenant holds at most 100 custom fields; remove one first"
        )
    );
}

async fn contacts_are_filtered_by_tags_and_typed_fields_and_found_by_field_values(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    define(
        &app,
        &owner,
        json!({"key": "seats", "label": "Seats", "kind": "number"}),
    )
    .await;
    define(
        &app,
        &owner,
        json!({"key": "renews_on", "label": "Renews on", "kind": "date"}),
    )
    .await;
    define(
        &app,
        &owner,
        json!({"key": "plan", "label": "Plan", "kind": "choice", "options": ["Gold", "Silver"]}),
    )
    .await;
    let ana = new_contact(&app, &owner, json!({"name": "Ana", "tags": ["vip"], "custom_fields": {"seats": 12, "plan": "Gold", "renews_on": "2027-03-01"}})).await;
    let ben = new_contact(&app, &owner, json!({"name": "Ben", "tags": ["vip"], "custom_fields": {"seats": 9, "plan": "Silver", "renews_on": "2026-12-24"}})).await;
    let cy = new_contact(
        &app,
        &owner,
        json!({"name": "Cy", "emails": ["cy@example.com"], "custom_fields": {"seats": 100}}),
    )
    .await;

    let search = |filter: Value| {
        let app = &app;
        let owner = owner.clone();
        async move {
            let found = app
                .post(
                    "/api/v1/contacts/search",
                    Some(&owner),
                    json!({"filter": filter}),
                )
                .await;
            assert_eq!(found.status, StatusCode::OK, "{}", found.body);
            assert_eq!(found.body["next_cursor"], Value::Null);
            column(&found.body, "name")
        }
    };
    assert_eq!(
        search(json!({"field": {"field": "seats", "op": "gte", "value": 10}})).await,
        ["Cy", "Ana"]
    );
    assert_eq!(search(json!({"all": [{"has_tag": "vip"}, {"field": {"field": "seats", "op": "lt", "value": "10"}}]})).await, ["Ben"]);
    assert_eq!(
        search(json!({"field": {"field": "renews_on", "op": "lt", "value": "2027-01-01"}})).await,
        ["Ben"]
    );
    assert_eq!(
        search(json!({"field": {"field": "plan", "op": "is", "value": "gold"}})).await,
        ["Ana"]
    );
    assert_eq!(search(json!({"not": {"has_tag": "vip"}})).await, ["Cy"]);
    assert_eq!(
        search(json!({"field": {"field": "plan", "op": "missing"}})).await,
        ["Cy"]
    );
    assert_eq!(
        search(json!({"field": {"field": "email", "op": "contains", "value": "example"}})).await,
        ["Cy"]
    );

    // Free text finds custom field values too.
    let gold = app.get("/api/v1/contacts?q=gold", Some(&owner)).await;
    assert_eq!(column(&gold.body, "id"), [ana.as_str()]);
    let both = app
        .post(
            "/api/v1/contacts/search",
            Some(&owner),
            json!({"q": "silver", "filter": {"has_tag": "vip"}}),
        )
        .await;
    assert_eq!(column(&both.body, "id"), [ben.as_str()]);

    // Pages follow the cursor, newest first.
    let first = app
        .post("/api/v1/contacts/search", Some(&owner), json!({"limit": 2}))
        .await;
    assert_eq!(column(&first.body, "id"), [cy.clone(), ben.clone()]);
    let rest = app
        .post(
            "/api/v1/contacts/search",
            Some(&owner),
            json!({"limit": 2, "cursor": first.body["next_cursor"]}),
        )
        .await;
    assert_eq!(column(&rest.body, "id"), [ana]);
    assert_eq!(rest.body["next_cursor"], Value::Null);

    let malformed = [
        json!({"filter": {"field": {"field": "seats", "op": "gt"}}}),
        json!({"filter": {"field": {"field": "seats", "op": "about", "value": 1}}}),
        json!({"filter": {"has_tag": "Not A Tag!"}}),
        json!({"filter": {"field": {"field": "seats", "op": "is", "value": [1, 2]}}}),
    ];
    for body in malformed {
        let (status, code, message) =
            refused(&app, &owner, "/api/v1/contacts/search", body.clone()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{body}: {message}"
        );
    }
}

async fn a_filter_reads_at_most_the_configured_number_of_contacts_per_request(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.inbox.contact_filter_scan = 3).await;
    let (owner, _) = app.owner_session().await;
    let mut made = Vec::new();
    for (name, tag) in [
        ("A", "vip"),
        ("B", "new"),
        ("C", "new"),
        ("D", "new"),
        ("E", "vip"),
    ] {
        made.push(new_contact(&app, &owner, json!({"name": name, "tags": [tag]})).await);
    }
    let vip = json!({"has_tag": "vip"});
    // Newest first: E, D, C are read, E matches, and the page ends at C.
    let first = app
        .post(
            "/api/v1/contacts/search",
            Some(&owner),
            json!({"filter": vip}),
        )
        .await;
    assert_eq!(column(&first.body, "name"), ["E"]);
    assert_eq!(first.body["next_cursor"], made[2].as_str());
    let second = app
        .post(
            "/api/v1/contacts/search",
            Some(&owner),
            json!({"filter": vip, "cursor": first.body["next_cursor"]}),
        )
        .await;
    assert_eq!(column(&second.body, "name"), ["A"]);
    assert_eq!(second.body["next_cursor"], Value::Null);
}

on_both_backends!(
    custom_fields_are_defined_checked_on_every_contact_write_and_audited,
    a_tenant_holds_at_most_a_hundred_custom_fields,
    contacts_are_filtered_by_tags_and_typed_fields_and_found_by_field_values,
    a_filter_reads_at_most_the_configured_number_of_contacts_per_request,
);
