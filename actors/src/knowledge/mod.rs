//! A tenant's knowledge base: documents an admin adds (plain text, Markdown, HTML,
//! CSV), cut into passages that the store indexes with its own full-text search
//! (SQLite FTS5, Postgres tsvector), so replies can be grounded in the business's own
//! facts with nothing else to run.
//!
//! Both backends index the same folded words (lower case, accents removed, see
//! `pipeline::words::fold`) and are queried with the same terms, so a question finds
//! the same passages whichever database holds them.

pub mod embedding;
pub mod extract;
pub mod passages;
pub mod retrieve;
pub mod terms;
pub mod vectors;

use crate::domain::text_enum::text_enum;
use crate::inbox::bus::NodeId;
use crate::store::StoreError;
use crate::{DocumentId, Millis, PassageId, TenantId};
use async_trait::async_trait;
use serde::Serialize;
pub use terms::SearchTerms;

text_enum!(
    /// How a document's text is written; it decides how the text is read out.
    DocumentFormat, "a document format" {
        Text => "text",
        Markdown => "markdown",
        Html => "html",
        /// A table with a header row: each row becomes "column: value; …".
        Csv => "csv",
    }
);

/// A document as listed: what it is, not its text.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Document {
    pub id: DocumentId,
    pub title: String,
    pub format: DocumentFormat,
    /// The size of the text as sent, in bytes.
    pub bytes: u64,
    pub passages: u32,
    /// Passages with a vector from the tenant's embedding model (0 without one).
    pub embedded: u32,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One passage: a few paragraphs of a document, under the heading they sit below.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Passage {
    pub id: PassageId,
    pub document_id: DocumentId,
    pub title: String,
    /// Its place in the document, from 0.
    pub position: u32,
    pub text: String,
}

impl Passage {
    /// What search indexes and the embedding model reads of a passage: its
    /// document's title, then its text.
    pub fn indexed_text(&self) -> String {
        format!("{}\n{}", self.title, self.text)
    }
}

/// A document with its text and passages, as one admin reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentDetail {
    pub document: Document,
    pub content: String,
    pub passages: Vec<Passage>,
}

/// What adding or replacing a document did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Saved,
    /// The tenant has `max_documents` already: nothing was written.
    Full,
    /// A replacement for a document that is not there (any more).
    Missing,
}

#[async_trait]
pub trait KnowledgeStore: Send + Sync + 'static {
    /// Stores a new document with its passages, or replaces the one with its id (text
    /// and passages), in one transaction. A new one is refused once the tenant holds
    /// `max_documents`.
    async fn save_document(
        &self,
        tenant: TenantId,
        detail: &DocumentDetail,
        replace: bool,
        max_documents: u32,
    ) -> Result<Saved, StoreError>;

    /// The tenant's documents, newest first.
    async fn documents(&self, tenant: TenantId) -> Result<Vec<Document>, StoreError>;

    async fn document(
        &self,
        tenant: TenantId,
        id: DocumentId,
    ) -> Result<Option<DocumentDetail>, StoreError>;

    /// Removes a document and its passages; false when there was none.
    async fn delete_document(&self, tenant: TenantId, id: DocumentId) -> Result<bool, StoreError>;

    /// The tenant's passages that hold any of the terms, best first, at most `limit`.
    async fn search_knowledge(
        &self,
        tenant: TenantId,
        terms: &SearchTerms,
        limit: u32,
    ) -> Result<Vec<Passage>, StoreError>;

    /// The tenant's passages with these ids, in no particular order.
    async fn passages(
        &self,
        tenant: TenantId,
        ids: &[PassageId],
    ) -> Result<Vec<Passage>, StoreError>;

    /// The tenant's passage vectors from `model`.
    async fn passage_vectors(
        &self,
        tenant: TenantId,
        model: &str,
    ) -> Result<Vec<(PassageId, Vec<f32>)>, StoreError>;

    /// Tenants with an embedding model and passages without a vector whose embedding
    /// no other node holds, this node's own included; at most `limit`.
    async fn embedding_candidates(
        &self,
        node: NodeId,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<TenantId>, StoreError>;

    /// Takes (or renews) the tenant's embedding lease when it is free, lapsed or the
    /// node's already: the tenant's model, if taken.
    async fn claim_embedding(
        &self,
        tenant: TenantId,
        node: NodeId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<String>, StoreError>;

    async fn release_embedding(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError>;

    /// Up to `limit` of the tenant's passages without a vector, in the order they were
    /// written.
    async fn unembedded_passages(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<Passage>, StoreError>;

    /// Stores vectors from `model`. A passage that has one already, or whose tenant
    /// names another model by now, is left as it is.
    async fn save_embeddings(
        &self,
        tenant: TenantId,
        model: &str,
        vectors: &[(PassageId, Vec<f32>)],
    ) -> Result<(), StoreError>;
}

/// Reads a document's text out of its format and cuts it into passages, each at most
/// `max_chars` characters long; the passages' ids are new.
pub fn prepare(
    id: DocumentId,
    title: &str,
    format: DocumentFormat,
    content: String,
    now: Millis,
    max_chars: usize,
) -> Result<DocumentDetail, crate::InvalidValue> {
    let text = extract::plain_text(format, &content)?;
    let passages: Vec<Passage> = passages::cut(&text, max_chars)
        .into_iter()
        .enumerate()
        .map(|(position, text)| Passage {
            id: PassageId::new(),
            document_id: id,
            title: title.to_owned(),
            position: u32::try_from(position).unwrap_or(u32::MAX),
            text,
        })
        .collect();
    if passages.is_empty() {
        return Err(crate::InvalidValue(
            "the document holds no text to search".into(),
        ));
    }
    Ok(DocumentDetail {
        document: Document {
            id,
            title: title.to_owned(),
            format,
            bytes: content.len() as u64,
            passages: u32::try_from(passages.len()).unwrap_or(u32::MAX),
            embedded: 0,
            created_at: now,
            updated_at: now,
        },
        content,
        passages,
    })
}
