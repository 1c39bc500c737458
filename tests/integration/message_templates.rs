//! WhatsApp message templates synced from the WhatsApp Business Management API
//! (the local fake Graph API, paged as Graph pages): on demand, when a channel names
//! its business account, on the schedule, and what happens when Graph refuses.

use crate::common;

use common::fake_graph::FakeGraph;
use common::meta::{ACCESS_TOKEN, setup_with};
use common::wait::until;
use common::{Backend, Reply, TestApp, column};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ACCOUNT: &str = "102290129340398";

fn template(name: &str, language: &str, status: &str, body: &str) -> Value {
    json!({
        "name": name, "language": language, "status": status, "category": "UTILITY", "id": format!("{name}-{language}"),
        "components": [{"type": "BODY", "text": body}, {"type": "FOOTER", "text": "Reply STOP to opt out"}]
    })
}

fn three_templates() -> Vec<Value> {
    vec![
        template(
            "order_update",
            "en_US",
            "APPROVED",
            "Hi {{1}}, order {{2}} ships today.",
        ),
        template(
            "order_update",
            "de",
            "APPROVED",
            "Hallo {{1}}, Bestellung {{2}} kommt heute.",
        ),
        json!({"name": "spring_sale", "language": "en_US", "status": "REJECTED", "category": "MARKETING",
               "rejected_reason": "PROMOTIONAL", "components": [{"type": "BODY", "text": "Sale!"}]}),
    ]
}

/// Asks for a sync now.
async fn sync(app: &TestApp, token: &str, channel: &str) -> Reply {
    app.post(
        &format!("/api/v1/channels/{channel}/templates/sync"),
        Some(token),
        json!({}),
    )
    .await
}

/// Names the channel's business account.
async fn name_account(app: &TestApp, token: &str, channel: &str, account: &str) -> Reply {
    app.patch(
        &format!("/api/v1/channels/{channel}"),
        token,
        json!({"settings": {"business_account_id": account}}),
    )
    .await
}

fn template_requests(graph: &FakeGraph) -> Vec<common::fake_graph::Request> {
    graph
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/message_templates"))
        .collect()
}

async fn a_channel_naming_its_business_account_has_its_templates_synced_page_by_page_and_on_demand(
    backend: Backend,
) {
    let meta = setup_with(backend, |_| {}).await;
    meta.graph.set_templates(ACCOUNT, three_templates());
    let channel = meta.whatsapp().await;
    let id = channel["id"].as_str().unwrap();
    let app = &meta.app;
    let owner = &meta.owner;

    // No business account yet: nothing to sync, and it says why.
    let early = sync(app, owner, id).await;
    assert_eq!(
        (early.status, early.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let bad = name_account(app, owner, id, "waba-1").await;
    assert_eq!(
        (bad.status, bad.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    let named = name_account(app, owner, id, ACCOUNT).await;
    assert_eq!(named.status, StatusCode::OK, "{}", named.body);
    let listed = until("the first sync", || async {
        let listed = app
            .get(&format!("/api/v1/channels/{id}/templates"), Some(owner))
            .await;
        (listed.body["data"].as_array().unwrap().len() == 3).then_some(listed.body)
    })
    .await;
    let order = &listed["data"][1];
    assert_eq!(
        (
            &order["name"],
            &order["language"],
            &order["status"],
            &order["category"],
            &order["parameters"]
        ),
        (
            &json!("order_update"),
            &json!("en_US"),
            &json!("approved"),
            &json!("utility"),
            &json!(2)
        )
    );
    assert_eq!(order["body"], "Hi {{1}}, order {{2}} ships today.");
    assert_eq!(
        (
            &listed["data"][2]["status"],
            &listed["data"][2]["rejected_reason"]
        ),
        (&json!("rejected"), &json!("PROMOTIONAL"))
    );
    // Two pages of two, each asked with the channel's token and the cursor Graph gave.
    let asked = template_requests(&meta.graph);
    assert_eq!(asked.len(), 2);
    assert!(
        asked
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {ACCESS_TOKEN}")[..]))
    );
    assert_eq!(asked[0].path, format!("/v21.0/{ACCOUNT}/message_templates"));

    // Changed at WhatsApp: approved now, one removed; a sync on demand shows it.
    let mut changed = three_templates();
    changed[2]["status"] = json!("APPROVED");
    changed.remove(1);
    meta.graph.set_templates(ACCOUNT, changed);
    let synced = sync(app, owner, id).await;
    assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
    assert_eq!(column(&synced.body, "language"), ["en_US", "en_US"]);
    assert_eq!(column(&synced.body, "status"), ["approved", "approved"]);
    let kept = app
        .get(&format!("/api/v1/channels/{id}/templates"), Some(owner))
        .await;
    assert_eq!(kept.body["data"], synced.body["data"]);

    // Graph refuses (an unknown account): the answer says so, and what was kept stays.
    let other = name_account(app, owner, id, "999").await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    // Saving the setting queued a sync at once, which Graph refused too.
    until("the sync for the new account was asked", || async {
        template_requests(&meta.graph)
            .iter()
            .any(|r| r.path.contains("/999/"))
            .then_some(())
    })
    .await;
    let refused = sync(app, owner, id).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (StatusCode::BAD_GATEWAY, "provider_unavailable")
    );
    let still = app
        .get(&format!("/api/v1/channels/{id}/templates"), Some(owner))
        .await;
    assert_eq!(still.body["data"].as_array().unwrap().len(), 2);

    let (_, agent) = app
        .user_with_role(owner, "agent@example.com", "agent")
        .await;
    let read = app
        .get(&format!("/api/v1/channels/{id}/templates"), Some(&agent))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let denied = sync(app, &agent, id).await;
    assert_eq!(
        (denied.status, denied.error_code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
}

async fn templates_are_synced_again_on_the_schedule(backend: Backend) {
    let meta = setup_with(backend, |config| {
        config.jobs.poll_ms = 20;
    })
    .await;
    meta.graph.set_templates(ACCOUNT, three_templates());
    let channel = meta.whatsapp().await;
    let id = channel["id"].as_str().unwrap().to_owned();
    let app = &meta.app;
    let named = name_account(app, &meta.owner, &id, ACCOUNT).await;
    assert_eq!(named.status, StatusCode::OK, "{}", named.body);
    until("the first sync", || async {
        (template_requests(&meta.graph).len() == 2).then_some(())
    })
    .await;
    // The next sync is queued for later (six hours by default), once.
    let next = until("the next sync queued", || async {
        let queued = app
            .get("/api/v1/jobs?state=queued", Some(&meta.owner))
            .await;
        let next: Vec<Value> = queued.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["kind"] == "whatsapp.templates")
            .cloned()
            .collect();
        (!next.is_empty()).then_some(next)
    })
    .await;
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0]["payload"]["channel_id"], id.as_str());
    let due = millis_of(next[0]["run_at"].as_str().unwrap());
    let now = millis_of(named.body["updated_at"].as_str().unwrap());
    assert!(
        due - now >= 6 * 3600 * 1000 - 60_000,
        "next sync at {due}, channel changed at {now}"
    );
}

fn millis_of(rfc3339: &str) -> i64 {
    let at = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap();
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

on_both_backends!(
    a_channel_naming_its_business_account_has_its_templates_synced_page_by_page_and_on_demand,
    templates_are_synced_again_on_the_schedule,
);
