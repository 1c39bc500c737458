//! The knowledge base through the real server on both backends: documents in each
//! format cut into passages, a question finding the passage that holds its answer,
//! replacement and removal, tenant isolation, and every limit.

use crate::common::{Backend, TestApp, column, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FAQ: &str = "# Acme FAQ\n\nAcme sells bicycles and spare parts.\n\n\
## Shipping\nWe ship to Portugal and Spain. Delivery to Lisboa takes 2 working days.\n\n\
## Returns\nRefunds are paid within 14 days of the parcel reaching our warehouse.\n\n\
## Envíos a Canarias\nLos envíos a Canarias tardan una semana.";

const OPENING_HOURS: &str = "<html><head><style>p{}</style></head><body>\
<h1>Opening hours</h1><p>The Porto shop opens Monday to Saturday, 9:00&ndash;19:00.</p>\
<script>var closed = 'sunday';</script></body></html>";

const PRICES: &str =
    "Plan,Price,Includes\nBasic,19 EUR,One bicycle service a year\nPro,49 EUR,Unlimited services\n";

async fn add(app: &TestApp, token: &str, title: &str, format: &str, content: &str) -> Value {
    let added = app
        .post(
            "/api/v1/ai/knowledge",
            Some(token),
            json!({ "title": title, "format": format, "content": content }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    added.body
}

async fn search(app: &TestApp, token: &str, question: &str) -> Value {
    let found = app
        .get(
            &format!("/api/v1/ai/knowledge/search?q={}", urlencode(question)),
            Some(token),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    found.body
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).unwrap()[1..].to_owned()
}

/// The first line of each passage found, best first.
fn found_headings(found: &Value) -> Vec<String> {
    column(found, "text")
        .iter()
        .map(|text| text.lines().next().unwrap_or_default().to_owned())
        .collect()
}

async fn an_admin_adds_documents_in_each_format_and_a_question_finds_the_passage_that_holds_its_answer(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let faq = add(&app, &owner, "FAQ", "markdown", FAQ).await;
    // Cut at its headings, each passage headed by its section's title.
    assert_eq!(
        faq["passages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["position"].clone(), p["text"].clone()))
            .collect::<Vec<_>>(),
        vec![
            (
                json!(0),
                json!("Acme FAQ\nAcme sells bicycles and spare parts.")
            ),
            (
                json!(1),
                json!(
                    "Shipping\nWe ship to Portugal and Spain. Delivery to Lisboa takes 2 working days."
                )
            ),
            (
                json!(2),
                json!(
                    "Returns\nRefunds are paid within 14 days of the parcel reaching our warehouse."
                )
            ),
            (
                json!(3),
                json!("Envíos a Canarias\nLos envíos a Canarias tardan una semana.")
            ),
        ]
    );
    assert_eq!(
        (
            &faq["title"],
            &faq["format"],
            &faq["bytes"],
            &faq["passages"].as_array().unwrap().len()
        ),
        (&json!("FAQ"), &json!("markdown"), &json!(FAQ.len()), &4)
    );
    let hours = add(&app, &owner, "Shops", "html", OPENING_HOURS).await;
    assert_eq!(
        hours["passages"][0]["text"],
        "Opening hours\nThe Porto shop opens Monday to Saturday, 9:00–19:00."
    );
    let prices = add(&app, &owner, "Plans", "csv", PRICES).await;
    assert_eq!(
        prices["passages"][0]["text"],
        "Plan: Basic; Price: 19 EUR; Includes: One bicycle service a year\nPlan: Pro; Price: 49 EUR; Includes: Unlimited services"
    );

    let shipping = search(&app, &owner, "How long does delivery to Lisboa take?").await;
    assert_eq!(
        shipping["terms"],
        json!(["long", "delivery", "lisboa", "take"])
    );
    assert_eq!(found_headings(&shipping), ["Shipping"]);
    assert_eq!(shipping["data"][0]["title"], "FAQ");
    assert_eq!(shipping["data"][0]["document_id"], faq["id"]);
    assert_eq!(shipping["data"][0]["id"], faq["passages"][1]["id"]);
    // A plural finds the singular's passage and back; accents and case do not matter.
    assert_eq!(
        found_headings(&search(&app, &owner, "refund?").await),
        ["Returns"]
    );
    assert_eq!(
        found_headings(&search(&app, &owner, "ENVIOS canarias").await),
        ["Envíos a Canarias"]
    );
    assert_eq!(
        found_headings(&search(&app, &owner, "when is the porto shop open").await),
        ["Opening hours"]
    );
    // Script text is not the document's text.
    assert_eq!(
        search(&app, &owner, "closed sunday var").await["data"],
        json!([])
    );
    let pro = search(&app, &owner, "price of the pro plan").await;
    assert_eq!(column(&pro, "title"), ["Plans"]);
    // The passage with more of the question's words ranks first.
    let ranked = search(&app, &owner, "shipping lisboa portugal spain or refunds").await;
    assert_eq!(found_headings(&ranked), ["Shipping", "Returns"]);
    // Small talk looks nothing up.
    assert_eq!(
        search(&app, &owner, "is it you?").await,
        json!({ "terms": [], "embedding_model": null, "data": [] })
    );

    // Newest first, without their text; one reads back whole.
    let listed = app.get("/api/v1/ai/knowledge", Some(&owner)).await;
    assert_eq!(column(&listed.body, "title"), ["Plans", "Shops", "FAQ"]);
    assert!(listed.body["data"][0].get("content").is_none());
    assert_eq!(listed.body["data"][2]["passages"], 4);
    let read = app
        .get(
            &format!("/api/v1/ai/knowledge/{}", faq["id"].as_str().unwrap()),
            Some(&owner),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, faq);

    // Agents search and read; only admins change it, and each change is audited.
    let (_, agent) = app.user_with_role(&owner, "agent@acme.test", "agent").await;
    assert_eq!(
        found_headings(&search(&app, &agent, "refunds").await),
        ["Returns"]
    );
    let refused = app
        .post(
            "/api/v1/ai/knowledge",
            Some(&agent),
            json!({ "title": "x", "format": "text", "content": "x" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let audit = app.get("/api/v1/audit-log", Some(&owner)).await;
    let added: Vec<(Value, Value)> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "knowledge.add")
        .map(|e| (e["target_id"].clone(), e["details"]["passages"].clone()))
        .collect();
    assert_eq!(
        added,
        [
            (prices["id"].clone(), json!(1)),
            (hours["id"].clone(), json!(1)),
            (faq["id"].clone(), json!(4))
        ]
    );
}

async fn a_replaced_document_is_found_by_its_new_text_only_and_a_removed_one_not_at_all(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let faq = add(&app, &owner, "FAQ", "markdown", FAQ).await;
    let id = faq["id"].as_str().unwrap();
    let path = format!("/api/v1/ai/knowledge/{id}");
    let replaced = app
        .put(
            &path,
            &owner,
            json!({ "title": "Delivery", "format": "text", "content": "Delivery to Lisboa now takes 1 working day." }),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["id"], faq["id"]);
    assert_eq!(replaced.body["created_at"], faq["created_at"]);
    assert_eq!(replaced.body["passages"].as_array().unwrap().len(), 1);
    assert_eq!(
        column(&search(&app, &owner, "delivery lisboa").await, "text"),
        ["Delivery to Lisboa now takes 1 working day."]
    );
    assert_eq!(
        search(&app, &owner, "refunds warehouse").await["data"],
        json!([])
    );

    let removed = app.delete(&path, &owner).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        search(&app, &owner, "delivery lisboa").await["data"],
        json!([])
    );
    assert_eq!(
        app.get(&path, Some(&owner)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, &owner).await.error_code(), "not_found");
    let again = app
        .put(
            &path,
            &owner,
            json!({ "title": "x", "format": "text", "content": "x" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let listed = app.get("/api/v1/ai/knowledge", Some(&owner)).await;
    assert_eq!(listed.body, json!({ "data": [] }));
}

async fn another_tenants_documents_are_never_found_read_changed_or_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (other, _) = app.register("other", "owner@other.test").await;
    let theirs = add(
        &app,
        &other,
        "Their FAQ",
        "text",
        "Refunds take 90 days here.",
    )
    .await;
    let ours = add(&app, &owner, "FAQ", "markdown", FAQ).await;
    assert_eq!(
        column(&search(&app, &owner, "refunds").await, "document_id"),
        [ours["id"].as_str().unwrap()]
    );
    assert_eq!(
        column(&search(&app, &other, "refunds").await, "document_id"),
        [theirs["id"].as_str().unwrap()]
    );
    let path = format!("/api/v1/ai/knowledge/{}", theirs["id"].as_str().unwrap());
    assert_eq!(
        app.get(&path, Some(&owner)).await.status,
        StatusCode::NOT_FOUND
    );
    let change = app
        .put(
            &path,
            &owner,
            json!({ "title": "x", "format": "text", "content": "mine now" }),
        )
        .await;
    assert_eq!(change.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, &owner).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        column(
            &app.get("/api/v1/ai/knowledge", Some(&owner)).await.body,
            "title"
        ),
        ["FAQ"]
    );
    assert_eq!(
        column(&search(&app, &other, "refunds").await, "text"),
        ["Refunds take 90 days here."]
    );
}

async fn documents_past_the_size_or_count_limit_and_bad_input_are_refused_with_a_code(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |c| {
        c.ai.knowledge_document_max_bytes = 2000;
        c.ai.knowledge_max_documents = 2;
    })
    .await;
    let (owner, _) = app.owner_session().await;
    let post = |body: Value| {
        let (app, owner) = (&app, &owner);
        async move { app.post("/api/v1/ai/knowledge", Some(owner), body).await }
    };
    // Exactly at the size is taken; one byte more is not.
    let at_limit = "é".repeat(1000);
    add(&app, &owner, "Full", "text", &at_limit).await;
    let over =
        post(json!({ "title": "Over", "format": "text", "content": format!("{at_limit}x") })).await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", over.body);
    assert_eq!(over.error_code(), "payload_too_large");
    assert!(
        over.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2000 bytes")
    );

    for (body, says) in [
        (
            json!({ "title": "x", "format": "pdf", "content": "x" }),
            "text, markdown, html, csv",
        ),
        (
            json!({ "title": "  ", "format": "text", "content": "x" }),
            "title must be 1 to 200",
        ),
        (
            json!({ "title": "x".repeat(201), "format": "text", "content": "x" }),
            "title must be 1 to 200",
        ),
        (
            json!({ "title": "x", "format": "html", "content": "<p> </p><script>x</script>" }),
            "no text",
        ),
        (
            json!({ "title": "x", "format": "csv", "content": "a,b\n1,2\n3,4,5\n" }),
            "CSV cannot be read",
        ),
        (
            json!({ "title": "x", "format": "text", "content": "x", "tags": [] }),
            "tags",
        ),
    ] {
        let refused = post(body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
        assert_eq!(refused.error_code(), "invalid_request", "{body}");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }

    add(&app, &owner, "Second", "text", "Second document.").await;
    let third =
        post(json!({ "title": "Third", "format": "text", "content": "Third document." })).await;
    assert_eq!(third.status, StatusCode::CONFLICT, "{}", third.body);
    assert_eq!(third.error_code(), "limit_reached");
    assert_eq!(
        column(
            &app.get("/api/v1/ai/knowledge", Some(&owner)).await.body,
            "title"
        ),
        ["Second", "Full"]
    );

    for bad in ["q=x&limit=0", "q=x&limit=21", "limit=3", "q=x&top=3"] {
        let refused = app
            .get(&format!("/api/v1/ai/knowledge/search?{bad}"), Some(&owner))
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.body
        );
    }
    let bad_id = app
        .get("/api/v1/ai/knowledge/not-a-uuid", Some(&owner))
        .await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND, "{}", bad_id.body);
}

on_both_backends!(
    an_admin_adds_documents_in_each_format_and_a_question_finds_the_passage_that_holds_its_answer,
    a_replaced_document_is_found_by_its_new_text_only_and_a_removed_one_not_at_all,
    another_tenants_documents_are_never_found_read_changed_or_removed,
    documents_past_the_size_or_count_limit_and_bad_input_are_refused_with_a_code,
);
