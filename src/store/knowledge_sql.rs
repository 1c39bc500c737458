//! The `KnowledgeStore` port for both dialects, instantiated per backend by
//! `impl_knowledge_store!`. Documents and passages are plain tables written the same
//! way on both; only the index differs (`knowledge_io!`): an FTS5 table beside the
//! passages on SQLite, a tsvector column on Postgres. Both index the passages' folded
//! words, and a search looks up the same terms in each.

macro_rules! impl_knowledge_store {
    ($store:ty, $dialect:ident) => {
        mod knowledge_impl {
            use super::*;
            use crate::store::rows::{backend, corrupt};
            use async_trait::async_trait;
            use switchboard_actors::knowledge::{
                Document, DocumentDetail, DocumentFormat, KnowledgeStore, Passage, Saved, SearchTerms,
            };
            use switchboard_actors::pipeline::words::fold;
            use switchboard_actors::store::StoreError;
            use switchboard_actors::inbox::bus::NodeId;
            use switchboard_actors::knowledge::vectors;
            use switchboard_actors::{DocumentId, Millis, PassageId, TenantId};
            use uuid::Uuid;

            type Db = <$store as SqlBackend>::Db;
            type Conn = <Db as sqlx::Database>::Connection;

            /// id, title, format, bytes, passages, embedded, created_at, updated_at
            type DocumentRow = (Uuid, String, String, i64, i64, i64, i64, i64);
            macro_rules! document_columns {
                () => {
                    "id, title, format, CAST(octet_length(content) AS BIGINT), passages,
                     (SELECT COUNT(*) FROM knowledge_passages p
                      WHERE p.document_id = knowledge_documents.id AND p.embedding IS NOT NULL),
                     created_at, updated_at"
                };
            }

            fn document(row: DocumentRow) -> Result<Document, StoreError> {
                let (id, title, format, bytes, passages, embedded, created_at, updated_at) = row;
                Ok(Document {
                    id: DocumentId(id),
                    title,
                    format: DocumentFormat::parse(&format).map_err(corrupt("knowledge document"))?,
                    bytes: u64::try_from(bytes).unwrap_or_default(),
                    passages: u32::try_from(passages).unwrap_or_default(),
                    embedded: u32::try_from(embedded).unwrap_or_default(),
                    created_at: Millis(created_at),
                    updated_at: Millis(updated_at),
                })
            }

            /// id, document_id, title, position, body
            type PassageRow = (Uuid, Uuid, String, i64, String);

            fn passage((id, document_id, title, position, text): PassageRow) -> Passage {
                Passage {
                    id: PassageId(id),
                    document_id: DocumentId(document_id),
                    title,
                    position: u32::try_from(position).unwrap_or_default(),
                    text,
                }
            }

            crate::store::knowledge_io::knowledge_io!($dialect);

            /// Writes the passages (and their index entries) of a document that has none.
            async fn insert_passages(conn: &mut Conn, tenant: TenantId, detail: &DocumentDetail) -> Result<(), StoreError> {
                for passage in &detail.passages {
                    index_passage(&mut *conn, tenant, passage, &fold(&passage.indexed_text())).await?;
                }
                Ok(())
            }

            #[async_trait]
            impl KnowledgeStore for $store {
                async fn save_document(&self, tenant: TenantId, detail: &DocumentDetail, replace: bool, max_documents: u32) -> Result<Saved, StoreError> {
                    let doc = &detail.document;
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    if replace {
                        let updated = sqlx::query(
                            "UPDATE knowledge_documents SET title = $3, format = $4, content = $5, passages = $6, updated_at = $7
                             WHERE tenant_id = $1 AND id = $2",
                        )
                        .bind(tenant.0)
                        .bind(doc.id.0)
                        .bind(&doc.title)
                        .bind(doc.format.as_str())
                        .bind(&detail.content)
                        .bind(i64::from(doc.passages))
                        .bind(doc.updated_at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                        if updated.rows_affected() == 0 {
                            return Ok(Saved::Missing);
                        }
                        sqlx::query("DELETE FROM knowledge_passages WHERE document_id = $1")
                            .bind(doc.id.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    } else {
                        // Touching the tenant row makes concurrent adds take turns, so
                        // the count below cannot be passed by two at once.
                        sqlx::query("UPDATE tenants SET name = name WHERE id = $1")
                            .bind(tenant.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                        let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM knowledge_documents WHERE tenant_id = $1")
                            .bind(tenant.0)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?;
                        if held >= i64::from(max_documents) {
                            return Ok(Saved::Full);
                        }
                        sqlx::query(
                            "INSERT INTO knowledge_documents (tenant_id, id, title, format, content, passages, created_at, updated_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(tenant.0)
                        .bind(doc.id.0)
                        .bind(&doc.title)
                        .bind(doc.format.as_str())
                        .bind(&detail.content)
                        .bind(i64::from(doc.passages))
                        .bind(doc.created_at.0)
                        .bind(doc.updated_at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    }
                    insert_passages(&mut *tx, tenant, detail).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(Saved::Saved)
                }

                async fn documents(&self, tenant: TenantId) -> Result<Vec<Document>, StoreError> {
                    let rows: Vec<DocumentRow> = sqlx::query_as(concat!(
                        "SELECT ", document_columns!(), " FROM knowledge_documents WHERE tenant_id = $1
                         ORDER BY created_at DESC, id DESC"
                    ))
                    .bind(tenant.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(document).collect()
                }

                async fn document(&self, tenant: TenantId, id: DocumentId) -> Result<Option<DocumentDetail>, StoreError> {
                    let row: Option<(String, DocumentRow)> = sqlx::query_as::<_, (String, Uuid, String, String, i64, i64, i64, i64, i64)>(concat!(
                        "SELECT content, ", document_columns!(), " FROM knowledge_documents WHERE tenant_id = $1 AND id = $2"
                    ))
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?
                    .map(|(content, id, title, format, bytes, passages, embedded, created, updated)| {
                        (content, (id, title, format, bytes, passages, embedded, created, updated))
                    });
                    let Some((content, row)) = row else {
                        return Ok(None);
                    };
                    let passages: Vec<PassageRow> = sqlx::query_as(
                        "SELECT p.id, p.document_id, d.title, p.position, p.body
                         FROM knowledge_passages p JOIN knowledge_documents d ON d.id = p.document_id
                         WHERE p.tenant_id = $1 AND p.document_id = $2 ORDER BY p.position",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(Some(DocumentDetail {
                        document: document(row)?,
                        content,
                        passages: passages.into_iter().map(passage).collect(),
                    }))
                }

                async fn delete_document(&self, tenant: TenantId, id: DocumentId) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let deleted = sqlx::query("DELETE FROM knowledge_documents WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.0)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(deleted.rows_affected() == 1)
                }

                async fn search_knowledge(&self, tenant: TenantId, terms: &SearchTerms, limit: u32) -> Result<Vec<Passage>, StoreError> {
                    let rows = search(self.reader(), tenant, terms, limit).await?;
                    Ok(rows.into_iter().map(passage).collect())
                }

                async fn passages(&self, tenant: TenantId, ids: &[PassageId]) -> Result<Vec<Passage>, StoreError> {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut query = sqlx::QueryBuilder::<Db>::new(
                        "SELECT p.id, p.document_id, d.title, p.position, p.body
                         FROM knowledge_passages p JOIN knowledge_documents d ON d.id = p.document_id
                         WHERE p.tenant_id = ",
                    );
                    query.push_bind(tenant.0).push(" AND p.id IN (");
                    let mut listed = query.separated(", ");
                    for id in ids {
                        listed.push_bind(id.0);
                    }
                    listed.push_unseparated(")");
                    let rows: Vec<PassageRow> = query.build_query_as().fetch_all(self.reader()).await.map_err(backend)?;
                    Ok(rows.into_iter().map(passage).collect())
                }

                async fn passage_vectors(&self, tenant: TenantId, model: &str) -> Result<Vec<(PassageId, Vec<f32>)>, StoreError> {
                    let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
                        "SELECT id, embedding FROM knowledge_passages
                         WHERE tenant_id = $1 AND embedding_model = $2 AND embedding IS NOT NULL
                         ORDER BY document_id, position",
                    )
                    .bind(tenant.0)
                    .bind(model)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter()
                        .map(|(id, bytes)| {
                            let vector = vectors::decode(&bytes).ok_or_else(|| StoreError::Backend("unreadable knowledge passage row: its vector is not whole f32s".into()))?;
                            Ok((PassageId(id), vector))
                        })
                        .collect()
                }

                async fn embedding_candidates(&self, node: NodeId, now: Millis, limit: u32) -> Result<Vec<TenantId>, StoreError> {
                    let rows: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT m.tenant_id FROM knowledge_embedding_models m
                         WHERE (m.owner_node IS NULL OR m.owner_node = $1 OR m.lease_until IS NULL OR m.lease_until < $2)
                           AND EXISTS (SELECT 1 FROM knowledge_passages p WHERE p.tenant_id = m.tenant_id AND p.embedding IS NULL)
                         LIMIT $3",
                    )
                    .bind(node.0)
                    .bind(now.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(|(id,)| TenantId(id)).collect())
                }

                async fn claim_embedding(&self, tenant: TenantId, node: NodeId, now: Millis, lease_until: Millis) -> Result<Option<String>, StoreError> {
                    let row: Option<(String,)> = sqlx::query_as(
                        "UPDATE knowledge_embedding_models SET owner_node = $2, lease_until = $4
                         WHERE tenant_id = $1
                           AND (owner_node IS NULL OR owner_node = $2 OR lease_until IS NULL OR lease_until < $3)
                         RETURNING model",
                    )
                    .bind(tenant.0)
                    .bind(node.0)
                    .bind(now.0)
                    .bind(lease_until.0)
                    .fetch_optional(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(|(model,)| model))
                }

                async fn release_embedding(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError> {
                    sqlx::query("UPDATE knowledge_embedding_models SET owner_node = NULL, lease_until = NULL WHERE tenant_id = $1 AND owner_node = $2")
                        .bind(tenant.0)
                        .bind(node.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                async fn unembedded_passages(&self, tenant: TenantId, limit: u32) -> Result<Vec<Passage>, StoreError> {
                    let rows: Vec<PassageRow> = sqlx::query_as(
                        "SELECT p.id, p.document_id, d.title, p.position, p.body
                         FROM knowledge_passages p JOIN knowledge_documents d ON d.id = p.document_id
                         WHERE p.tenant_id = $1 AND p.embedding IS NULL
                         ORDER BY p.document_id, p.position
                         LIMIT $2",
                    )
                    .bind(tenant.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(passage).collect())
                }

                async fn save_embeddings(&self, tenant: TenantId, model: &str, vectors: &[(PassageId, Vec<f32>)]) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    // Touching the model's row makes a settings save that changes the
                    // model wait for this one, and then clear what it wrote.
                    let current = sqlx::query("UPDATE knowledge_embedding_models SET model = model WHERE tenant_id = $1 AND model = $2")
                        .bind(tenant.0)
                        .bind(model)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    if current.rows_affected() == 0 {
                        return Ok(());
                    }
                    for (id, vector) in vectors {
                        sqlx::query(
                            "UPDATE knowledge_passages SET embedding = $3, embedding_model = $4
                             WHERE tenant_id = $1 AND id = $2 AND embedding IS NULL",
                        )
                        .bind(tenant.0)
                        .bind(id.0)
                        .bind(vectors::encode(vector))
                        .bind(model)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_knowledge_store;
