//! A tenant's knowledge base over REST: admins add, replace and remove documents
//! (audited); everyone in the inbox can read them and search their passages, the same
//! search that grounds the AI's replies.

use super::views::Page;
use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::{ManageSettings, ReadInbox};
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_actors::knowledge::retrieve::retrieve;
use switchboard_actors::knowledge::{
    self, Document, DocumentDetail, DocumentFormat, Passage, Saved, SearchTerms,
};
use switchboard_actors::{DocumentId, Millis};
use uuid::Uuid;

/// A passage holds at most this many characters: a few paragraphs, so the five a reply
/// carries stay well inside any model's context.
pub const PASSAGE_CHARS: usize = 1000;

pub(super) const MAX_TITLE_CHARS: usize = 200;

/// Passages a search returns when the caller does not say, and at most.
const DEFAULT_RESULTS: u32 = 5;
const MAX_RESULTS: u32 = 20;

/// A document with its text and passages. (The listing's passage count is not
/// repeated: `passages` here are the passages.)
#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentView<'a> {
    id: DocumentId,
    title: &'a str,
    format: DocumentFormat,
    /// The size of the text as sent, in bytes.
    bytes: u64,
    /// Passages with a vector from the tenant's embedding model.
    embedded: u32,
    /// Unix milliseconds.
    created_at: Millis,
    updated_at: Millis,
    content: &'a str,
    passages: &'a [Passage],
}

impl<'a> DocumentView<'a> {
    fn of(detail: &'a DocumentDetail) -> Self {
        let document = &detail.document;
        Self {
            id: document.id,
            title: &document.title,
            format: document.format,
            bytes: document.bytes,
            embedded: document.embedded,
            created_at: document.created_at,
            updated_at: document.updated_at,
            content: &detail.content,
            passages: &detail.passages,
        }
    }
}

/// What a question finds.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Found {
    /// The words the question was read as.
    terms: Vec<String>,
    /// The embedding model that also searched by meaning; null without one.
    embedding_model: Option<String>,
    data: Vec<Passage>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    format: DocumentFormat,
    content: String,
}

/// Checks a request and cuts its text into passages.
fn prepare(
    state: &AppState,
    id: DocumentId,
    body: DocumentRequest,
) -> Result<knowledge::DocumentDetail, ApiError> {
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::invalid(format!(
            "title must be 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    let max = state.config.ai.knowledge_document_max_bytes;
    if body.content.len() > max {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("a document holds at most {max} bytes of text"),
        ));
    }
    knowledge::prepare(
        id,
        title,
        body.format,
        body.content,
        Millis::now(),
        PASSAGE_CHARS,
    )
    .map_err(|err| ApiError::invalid(err.0))
}

async fn audit_saved(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authorized<ManageSettings>,
    action: &'static str,
    document: &knowledge::Document,
) {
    let event = Event {
        tenant: auth.caller.tenant_id(),
        actor: auth.caller.audit_actor(),
        action,
        target: Some(("knowledge_document", document.id.to_string())),
        details: json!({
            "title": document.title,
            "format": document.format,
            "bytes": document.bytes,
            "passages": document.passages,
        }),
    };
    audit::record(state.store.as_ref(), client, event).await;
}

/// Adds a document; its passages are searchable once this answers.
#[utoipa::path(
    post,
    path = "/api/v1/ai/knowledge",
    operation_id = "knowledge.add",
    tag = "knowledge",
    summary = "Add a document",
    request_body = DocumentRequest,
    responses((status = 201, description = "the document, its text and passages", body = DocumentView))
)]
pub async fn add(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageSettings>,
    body: Json<DocumentRequest>,
) -> Result<HttpResponse, ApiError> {
    let detail = prepare(&state, DocumentId::new(), body.into_inner())?;
    let max = state.config.ai.knowledge_max_documents;
    match state
        .store
        .save_document(auth.caller.tenant_id(), &detail, false, max)
        .await?
    {
        Saved::Saved => {}
        Saved::Full | Saved::Missing => {
            return Err(ApiError::new(
                ErrorCode::LimitReached,
                format!(
                    "the knowledge base holds {max} documents, the most it may; remove one first"
                ),
            ));
        }
    }
    audit_saved(&state, &client, &auth, "knowledge.add", &detail.document).await;
    Ok(HttpResponse::Created().json(DocumentView::of(&detail)))
}

/// Replaces a document's title, format and text (and so all its passages).
#[utoipa::path(
    put,
    path = "/api/v1/ai/knowledge/{id}",
    operation_id = "knowledge.replace",
    tag = "knowledge",
    summary = "Replace a document",
    params(("id" = Uuid, Path, description = "the document's id")),
    request_body = DocumentRequest,
    responses((status = 200, description = "the document as saved", body = DocumentView))
)]
pub async fn replace(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageSettings>,
    id: web::Path<Uuid>,
    body: Json<DocumentRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let id = DocumentId(*id);
    let mut detail = prepare(&state, id, body.into_inner())?;
    let max = state.config.ai.knowledge_max_documents;
    if state
        .store
        .save_document(tenant, &detail, true, max)
        .await?
        != Saved::Saved
    {
        return Err(ApiError::not_found("document"));
    }
    // The creation time stays the one stored; read it back for the answer.
    if let Some(stored) = state.store.document(tenant, id).await? {
        detail = stored;
    }
    audit_saved(
        &state,
        &client,
        &auth,
        "knowledge.replace",
        &detail.document,
    )
    .await;
    Ok(HttpResponse::Ok().json(DocumentView::of(&detail)))
}

#[utoipa::path(
    get,
    path = "/api/v1/ai/knowledge",
    operation_id = "knowledge.list",
    tag = "knowledge",
    summary = "Knowledge base documents",
    responses((status = 200, description = "every document, without its text", body = Page<Document>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
) -> Result<HttpResponse, ApiError> {
    let documents = state.store.documents(auth.caller.tenant_id()).await?;
    Ok(HttpResponse::Ok().json(Page::whole(documents)))
}

/// A document with its text and its passages.
#[utoipa::path(
    get,
    path = "/api/v1/ai/knowledge/{id}",
    operation_id = "knowledge.get",
    tag = "knowledge",
    summary = "One document",
    params(("id" = Uuid, Path, description = "the document's id")),
    responses((status = 200, description = "the document, its text and passages", body = DocumentView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let detail = state
        .store
        .document(auth.caller.tenant_id(), DocumentId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("document"))?;
    Ok(HttpResponse::Ok().json(DocumentView::of(&detail)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/ai/knowledge/{id}",
    operation_id = "knowledge.delete",
    tag = "knowledge",
    summary = "Delete a document",
    params(("id" = Uuid, Path, description = "the document's id")),
    responses((status = 204, description = "deleted"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageSettings>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    if !state.store.delete_document(tenant, DocumentId(*id)).await? {
        return Err(ApiError::not_found("document"));
    }
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "knowledge.delete",
        target: Some(("knowledge_document", id.to_string())),
        details: json!({}),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: String,
    /// 1 to 20 passages; 5 when left out.
    #[param(minimum = 1, maximum = 20, default = 5)]
    limit: Option<u32>,
}

/// The passages a question finds, best first, with the terms it was read as.
#[utoipa::path(
    get,
    path = "/api/v1/ai/knowledge/search",
    operation_id = "knowledge.search",
    tag = "knowledge",
    summary = "Search the knowledge base",
    params(SearchQuery),
    responses((status = 200, description = "the passages found, best first, and the terms the question was read as", body = Found))
)]
pub async fn search(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
    query: Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_RESULTS);
    if !(1..=MAX_RESULTS).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be 1 to {MAX_RESULTS}"
        )));
    }
    let tenant = auth.caller.tenant_id();
    let embedder = state.models.embedder(tenant).await?;
    let passages = retrieve(
        state.store.as_ref(),
        embedder.as_deref(),
        tenant,
        &query.q,
        limit,
    )
    .await?;
    let words: Vec<String> = SearchTerms::of(&query.q)
        .map(|terms| terms.terms().iter().map(|t| t.word.clone()).collect())
        .unwrap_or_default();
    let embedding_model = embedder.as_ref().map(|e| e.model());
    Ok(HttpResponse::Ok().json(Found {
        terms: words,
        embedding_model: embedding_model.map(str::to_owned),
        data: passages,
    }))
}
