//! Optional embeddings of the knowledge base through the real server and a local fake
//! of OpenAI's embeddings API, on both backends: once a tenant names an embedding
//! model its passages are embedded in the background, a question finds the passage
//! that answers it by meaning when no word is shared, and the AI's reply is grounded
//! in it; another model embeds everything again, none searches words alone, and a
//! failing model never stops a search.

use crate::common::fake_llm::{Answer, FakeLlm};
use crate::common::wait::{until, until_metric};
use crate::common::{Backend, TestApp, column, metric, spawn_app_with, subscribed_owner};
use reqwest::StatusCode;
use serde_json::{Value, json};

const HELP: &str = "# Delivery\nParcels arrive within 2 working days.\n\n\
# Refunds\nMoney goes back to your card within 14 days.";

/// Shares no word with the help text, but means its first section.
const QUESTION: &str = "How quickly will my order be shipped?";

/// A server allowed to call the fake on loopback, its owner's token, and the help
/// text in the knowledge base.
async fn with_help(backend: Backend) -> (FakeLlm, TestApp, String, Value) {
    let llm = FakeLlm::start().await;
    let app = spawn_app_with(backend, |c| c.ai.allow_local_models = true).await;
    let (owner, _) = app.owner_session().await;
    let help = app
        .post(
            "/api/v1/ai/knowledge",
            Some(&owner),
            json!({ "title": "Help", "format": "markdown", "content": HELP }),
        )
        .await;
    assert_eq!(help.status, StatusCode::CREATED, "{}", help.body);
    (llm, app, owner, help.body)
}

/// Saves the fake as the tenant's only provider, with `embeddings` as given.
async fn set_embeddings(app: &TestApp, owner: &str, llm: &FakeLlm, embeddings: Value) -> Value {
    let saved = app
        .put(
            "/api/v1/settings/ai",
            owner,
            json!({
                "providers": [{ "name": "local", "kind": "openai", "base_url": llm.base_url, "model": "small-model", "api_key": "sk-local" }],
                "understanding": { "enabled": false, "below_confidence": 0.6 },
                "embeddings": embeddings,
            }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    saved.body
}

/// Waits until the document lists `embedded` passages with a vector.
async fn embedded(app: &TestApp, owner: &str, embedded: u64) {
    until(&format!("{embedded} passages embedded"), || async {
        let listed = app.get("/api/v1/ai/knowledge", Some(owner)).await;
        (listed.body["data"][0]["embedded"] == embedded).then_some(())
    })
    .await;
}

async fn search(app: &TestApp, owner: &str, question: &str) -> Value {
    let query = serde_urlencoded::to_string([("q", question)]).unwrap();
    let found = app
        .get(&format!("/api/v1/ai/knowledge/search?{query}"), Some(owner))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    found.body
}

/// The first line of each passage found, best first.
fn headings(found: &Value) -> Vec<String> {
    column(found, "text")
        .iter()
        .map(|text| text.lines().next().unwrap_or_default().to_owned())
        .collect()
}

async fn a_question_sharing_no_word_with_the_answer_finds_it_by_meaning_once_the_tenant_names_an_embedding_model(
    backend: Backend,
) {
    let (llm, app, owner, help) = with_help(backend).await;
    let (_, mut socket, _) = subscribed_owner(&app).await;
    let before = search(&app, &owner, QUESTION).await;
    assert_eq!(before["data"], json!([]));
    assert_eq!(before["embedding_model"], Value::Null);
    assert_eq!(help["embedded"], 0);

    let saved = set_embeddings(
        &app,
        &owner,
        &llm,
        json!({ "provider": "local", "model": "embed-small" }),
    )
    .await;
    assert_eq!(
        saved["embeddings"],
        json!({ "provider": "local", "model": "embed-small" })
    );
    embedded(&app, &owner, 2).await;
    // Both passages went in one request, each under its document's title, with the
    // provider's key.
    let asked = llm.requests_to("/v1/embeddings");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].authorization.as_deref(), Some("Bearer sk-local"));
    assert_eq!(
        asked[0].body,
        json!({
            "model": "embed-small",
            "encoding_format": "float",
            "input": [
                "Help\nDelivery\nParcels arrive within 2 working days.",
                "Help\nRefunds\nMoney goes back to your card within 14 days.",
            ],
        })
    );

    let found = search(&app, &owner, QUESTION).await;
    assert_eq!(found["embedding_model"], "local/embed-small");
    assert_eq!(headings(&found), ["Delivery", "Refunds"]);
    assert_eq!(found["data"][0]["id"], help["passages"][0]["id"]);
    // A question that shares words still finds its passage first.
    assert_eq!(
        headings(&search(&app, &owner, "refund to my card").await),
        ["Refunds", "Delivery"]
    );
    let question = llm
        .requests_to("/v1/embeddings")
        .into_iter()
        .nth(1)
        .unwrap();
    assert_eq!(question.body["input"], json!([QUESTION]));

    // The AI's draft is grounded in the passage found by meaning, and cites it.
    let replies = app
        .put(
            "/api/v1/settings/replies",
            &owner,
            json!({ "mode": "suggest" }),
        )
        .await;
    assert_eq!(replies.status, StatusCode::OK, "{}", replies.body);
    llm.answer([Answer::json(json!({
        "reply": "Parcels arrive within 2 working days.", "confidence": 0.9,
        "action": "none", "reason": "the help says so", "cited": ["P1"], "tag": null,
    }))]);
    app.customer_says(&owner, "carla", QUESTION).await;
    let draft = socket.next_of(&["reply.suggested"]).await;
    assert_eq!(
        draft["data"]["cited"],
        json!([{ "id": help["passages"][0]["id"], "document_id": help["id"], "title": "Help" }])
    );
    let chat = llm.requests_to("/v1/chat/completions");
    assert_eq!(chat.len(), 1);
    let prompt = chat[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("[P1] Help\nDelivery\nParcels arrive within 2 working days.\n"),
        "{prompt}"
    );

    // Every embedding call is counted like a chat call.
    let usage = app.get("/api/v1/ai/usage", Some(&owner)).await;
    let embedding_usage = usage.body["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["model"] == "embed-small")
        .cloned()
        .unwrap();
    let calls = llm.requests_to("/v1/embeddings").len() as u64;
    assert_eq!(embedding_usage["provider"], "local");
    assert_eq!(embedding_usage["requests"], calls);
    assert_eq!(
        metric(
            &app.base,
            "llm_requests_total",
            "kind=\"embeddings\",outcome=\"ok\""
        )
        .await,
        calls as f64
    );
}

async fn another_model_embeds_every_passage_again_and_without_one_the_words_alone_are_searched(
    backend: Backend,
) {
    let (llm, app, owner, _) = with_help(backend).await;
    set_embeddings(
        &app,
        &owner,
        &llm,
        json!({ "provider": "local", "model": "embed-small" }),
    )
    .await;
    embedded(&app, &owner, 2).await;

    set_embeddings(
        &app,
        &owner,
        &llm,
        json!({ "provider": "local", "model": "embed-large" }),
    )
    .await;
    let again = until("the new model's request", || async {
        llm.requests_to("/v1/embeddings")
            .into_iter()
            .find(|r| r.body["model"] == "embed-large")
    })
    .await;
    assert_eq!(again.body["input"].as_array().unwrap().len(), 2);
    embedded(&app, &owner, 2).await;
    assert_eq!(
        search(&app, &owner, QUESTION).await["embedding_model"],
        "local/embed-large"
    );

    // Saving the same model again keeps the vectors: nothing is embedded twice.
    set_embeddings(
        &app,
        &owner,
        &llm,
        json!({ "provider": "local", "model": "embed-large" }),
    )
    .await;
    let listed = app.get("/api/v1/ai/knowledge", Some(&owner)).await;
    assert_eq!(listed.body["data"][0]["embedded"], 2);

    set_embeddings(&app, &owner, &llm, json!({})).await;
    let listed = app.get("/api/v1/ai/knowledge", Some(&owner)).await;
    assert_eq!(listed.body["data"][0]["embedded"], 0);
    let words_alone = search(&app, &owner, QUESTION).await;
    assert_eq!(words_alone["embedding_model"], Value::Null);
    assert_eq!(words_alone["data"], json!([]));
    assert_eq!(
        headings(&search(&app, &owner, "parcels").await),
        ["Delivery"]
    );
}

async fn a_failing_embedding_model_leaves_passages_unembedded_and_questions_are_searched_by_their_words(
    backend: Backend,
) {
    let (llm, app, owner, _) = with_help(backend).await;
    llm.fail_embeddings(Some(503));
    set_embeddings(
        &app,
        &owner,
        &llm,
        json!({ "provider": "local", "model": "embed-small" }),
    )
    .await;
    until("an embedding request", || async {
        (!llm.requests_to("/v1/embeddings").is_empty()).then_some(())
    })
    .await;
    let listed = app.get("/api/v1/ai/knowledge", Some(&owner)).await;
    assert_eq!(listed.body["data"][0]["embedded"], 0);
    assert_eq!(
        headings(&search(&app, &owner, "parcels").await),
        ["Delivery"]
    );
    until_metric(
        &app.base,
        "llm_requests_total",
        "kind=\"embeddings\",outcome=\"unavailable\"",
        |calls| calls == 1.0,
    )
    .await;
}

async fn the_embedding_provider_must_be_an_openai_compatible_one_of_the_list(backend: Backend) {
    let (llm, app, owner, _) = with_help(backend).await;
    for (embeddings, says) in [
        (
            json!({ "provider": "nobody", "model": "embed-small" }),
            "embeddings.provider names no provider: 'nobody'",
        ),
        (
            json!({ "provider": "", "model": "embed-small" }),
            "embeddings.provider is required with embeddings.model",
        ),
        (
            json!({ "provider": "local", "model": " " }),
            "embeddings.model must be 1 to 200 characters",
        ),
    ] {
        let refused = app
            .put(
                "/api/v1/settings/ai",
                &owner,
                json!({
                    "providers": [{ "name": "local", "kind": "openai", "base_url": llm.base_url, "model": "m", "api_key": "" }],
                    "embeddings": embeddings,
                }),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.error_code(), "invalid_request");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{says}: {message}");
    }
    let anthropic = app
        .put(
            "/api/v1/settings/ai",
            &owner,
            json!({
                "providers": [{ "name": "claude", "kind": "anthropic", "base_url": llm.base_url, "model": "m", "api_key": "" }],
                "embeddings": { "provider": "claude", "model": "embed" },
            }),
        )
        .await;
    assert_eq!(
        anthropic.status,
        StatusCode::BAD_REQUEST,
        "{}",
        anthropic.body
    );
    assert!(
        anthropic.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must be an OpenAI-compatible provider: 'claude' speaks anthropic")
    );
    assert!(llm.requests().is_empty());
}

on_both_backends!(
    a_question_sharing_no_word_with_the_answer_finds_it_by_meaning_once_the_tenant_names_an_embedding_model,
    another_model_embeds_every_passage_again_and_without_one_the_words_alone_are_searched,
    a_failing_embedding_model_leaves_passages_unembedded_and_questions_are_searched_by_their_words,
    the_embedding_provider_must_be_an_openai_compatible_one_of_the_list,
);
