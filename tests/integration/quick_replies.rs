//! Quick replies through the REST API: managers keep the list, and an agent gets it
//! filled in for the conversation they are answering, by what they typed after `/`.

use crate::common;

use common::{Backend, column, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

async fn quick_replies_are_kept_by_managers_and_filled_in_for_each_conversation(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (_, agent) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let (_, manager) = app
        .user_with_role(&owner, "manager@example.com", "manager")
        .await;
    let plan = app
        .post(
            "/api/v1/contact-fields",
            Some(&owner),
            json!({"key": "plan", "label": "Plan", "kind": "text"}),
        )
        .await;
    assert_eq!(plan.status, StatusCode::CREATED, "{}", plan.body);

    let hours = app
        .post("/api/v1/quick-replies", Some(&manager), json!({"shortcut": "/Hours", "text": "Hi {{contact.first_name}}, we open at 9. {{agent.name}}"}))
        .await;
    assert_eq!(hours.status, StatusCode::CREATED, "{}", hours.body);
    assert_eq!(hours.body["shortcut"], "hours");
    for (shortcut, text) in [
        ("plan", "Your plan: {{contact.plan}}."),
        ("shipping-hours", "We ship at noon."),
    ] {
        let made = app
            .post(
                "/api/v1/quick-replies",
                Some(&manager),
                json!({"shortcut": shortcut, "text": text}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    }
    let taken = app
        .post(
            "/api/v1/quick-replies",
            Some(&manager),
            json!({"shortcut": "hours", "text": "again"}),
        )
        .await;
    assert_eq!(
        (taken.status, taken.error_code()),
        (StatusCode::CONFLICT, "conflict")
    );
    let bad = app
        .post(
            "/api/v1/quick-replies",
            Some(&manager),
            json!({"shortcut": "two words", "text": "x"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let refused = app
        .post(
            "/api/v1/quick-replies",
            Some(&agent),
            json!({"shortcut": "mine", "text": "x"}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );

    let listed = app.get("/api/v1/quick-replies", Some(&agent)).await;
    assert_eq!(
        column(&listed.body, "shortcut"),
        ["hours", "plan", "shipping-hours"]
    );

    let said = app.customer_says(&owner, "Ana Lima", "hello").await;
    let conversation = said["conversation"]["id"].as_str().unwrap();
    let contact = said["conversation"]["contact"]["id"].as_str().unwrap();
    let set = app
        .patch(
            &format!("/api/v1/contacts/{contact}"),
            &owner,
            json!({"custom_fields": {"plan": "Gold"}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);

    let offered = app
        .get(
            &format!("/api/v1/conversations/{conversation}/quick-replies?q=ho"),
            Some(&agent),
        )
        .await;
    assert_eq!(offered.status, StatusCode::OK, "{}", offered.body);
    assert_eq!(
        column(&offered.body, "shortcut"),
        ["hours", "shipping-hours"]
    );
    assert_eq!(
        column(&offered.body, "text")[0],
        "Hi Ana, we open at 9. agent"
    );
    let all = app
        .get(
            &format!("/api/v1/conversations/{conversation}/quick-replies"),
            Some(&agent),
        )
        .await;
    assert_eq!(column(&all.body, "text")[1], "Your plan: Gold.");

    let id = hours.body["id"].as_str().unwrap();
    let rewritten = app
        .put(
            &format!("/api/v1/quick-replies/{id}"),
            &manager,
            json!({"shortcut": "open", "text": "Open 9 to 5."}),
        )
        .await;
    assert_eq!(rewritten.status, StatusCode::OK, "{}", rewritten.body);
    let removed = app
        .delete(&format!("/api/v1/quick-replies/{id}"), &manager)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let listed = app.get("/api/v1/quick-replies", Some(&agent)).await;
    assert_eq!(column(&listed.body, "shortcut"), ["plan", "shipping-hours"]);
}

on_both_backends!(quick_replies_are_kept_by_managers_and_filled_in_for_each_conversation,);
