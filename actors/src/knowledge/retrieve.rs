//! Finding the passages for a question: the store's full-text search, and when the
//! tenant has an embedding model, the passages nearest the question's vector too,
//! merged by reciprocal rank fusion (each list adds `1 / (60 + rank)` to a passage,
//! so one found by both ranks above one found by either). A question the model cannot
//! embed is answered from the full-text search alone.

use super::{KnowledgeStore, Passage, SearchTerms, vectors};
use crate::llm::Embedder;
use crate::store::StoreError;
use crate::{PassageId, TenantId};
use std::collections::HashMap;

/// The usual constant of reciprocal rank fusion: it keeps the top of one list from
/// outweighing agreement between both.
const FUSION_K: f64 = 60.0;

pub async fn retrieve<S: KnowledgeStore + ?Sized>(
    store: &S,
    embedder: Option<&dyn Embedder>,
    tenant: TenantId,
    question: &str,
    limit: u32,
) -> Result<Vec<Passage>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let found = match SearchTerms::of(question) {
        Some(terms) => store.search_knowledge(tenant, &terms, limit).await?,
        None => Vec::new(),
    };
    let Some(embedder) = embedder else {
        return Ok(found);
    };
    let near = match nearest(store, embedder, tenant, question, limit).await? {
        Some(near) => near,
        None => return Ok(found),
    };
    let mut score: HashMap<PassageId, f64> = HashMap::new();
    let ranked = found
        .iter()
        .map(|p| p.id)
        .enumerate()
        .chain(near.iter().copied().enumerate());
    for (rank, id) in ranked {
        *score.entry(id).or_default() += 1.0 / (FUSION_K + rank as f64 + 1.0);
    }
    let mut order: Vec<PassageId> = found.iter().map(|p| p.id).collect();
    order.extend(near.iter().filter(|id| !found.iter().any(|p| p.id == **id)));
    // A stable sort keeps the search's order between equal scores.
    order.sort_by(|a, b| score[b].total_cmp(&score[a]));
    order.truncate(limit as usize);
    let missing: Vec<PassageId> = order
        .iter()
        .filter(|id| !found.iter().any(|p| p.id == **id))
        .copied()
        .collect();
    let mut pool = found;
    if !missing.is_empty() {
        pool.extend(store.passages(tenant, &missing).await?);
    }
    Ok(order
        .iter()
        .filter_map(|id| pool.iter().find(|p| p.id == *id).cloned())
        .collect())
}

/// The ids of the passages nearest the question, or None when it could not be
/// embedded.
async fn nearest<S: KnowledgeStore + ?Sized>(
    store: &S,
    embedder: &dyn Embedder,
    tenant: TenantId,
    question: &str,
    limit: u32,
) -> Result<Option<Vec<PassageId>>, StoreError> {
    let vectors = store.passage_vectors(tenant, embedder.model()).await?;
    if vectors.is_empty() || question.trim().is_empty() {
        return Ok(Some(Vec::new()));
    }
    let query = match embedder.embed(&[question.to_owned()]).await {
        Ok(mut answer) if answer.len() == 1 && vectors::usable(&answer[0]) => answer.remove(0),
        Ok(_) => {
            tracing::warn!(%tenant, "the embedding model gave no usable vector for a question");
            return Ok(None);
        }
        Err(err) => {
            tracing::warn!(%tenant, error = %err, "cannot embed a question; searching its words alone");
            return Ok(None);
        }
    };
    Ok(Some(vectors::nearest(&query, &vectors, limit as usize)))
}
