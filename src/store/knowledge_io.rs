//! The knowledge base's statements that depend on the dialect, expanded inside
//! `impl_knowledge_store!`: writing a passage with its index entry, and a search.
//! Terms are letters and digits only (see `knowledge::terms`), so they are written
//! into the query text without escaping.

macro_rules! knowledge_io {
    (postgres) => {
        async fn index_passage(conn: &mut Conn, tenant: TenantId, passage: &Passage, folded: &str) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO knowledge_passages (tenant_id, id, document_id, position, body, search)
                 VALUES ($1, $2, $3, $4, $5, to_tsvector('simple', $6))",
            )
            .bind(tenant.0)
            .bind(passage.id.0)
            .bind(passage.document_id.0)
            .bind(i64::from(passage.position))
            .bind(&passage.text)
            .bind(folded)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            Ok(())
        }

        /// Any term (`|`), prefixes as `:*`; ranked by how much of the passage they
        /// cover (normalised by its length, so long passages do not win by size).
        async fn search(pool: &sqlx::Pool<Db>, tenant: TenantId, terms: &SearchTerms, limit: u32) -> Result<Vec<PassageRow>, StoreError> {
            let query = terms
                .terms()
                .iter()
                .map(|t| if t.prefix { format!("{}:*", t.word) } else { t.word.clone() })
                .collect::<Vec<_>>()
                .join(" | ");
            sqlx::query_as(
                "SELECT p.id, p.document_id, d.title, p.position, p.body
                 FROM knowledge_passages p JOIN knowledge_documents d ON d.id = p.document_id,
                      to_tsquery('simple', $2) q
                 WHERE p.tenant_id = $1 AND p.search @@ q
                 ORDER BY ts_rank(p.search, q, 1) DESC, p.document_id, p.position
                 LIMIT $3",
            )
            .bind(tenant.0)
            .bind(query)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(backend)
        }
    };
    (sqlite) => {
        async fn index_passage(conn: &mut Conn, tenant: TenantId, passage: &Passage, folded: &str) -> Result<(), StoreError> {
            let (seq,): (i64,) = sqlx::query_as(
                "INSERT INTO knowledge_passages (tenant_id, id, document_id, position, body)
                 VALUES ($1, $2, $3, $4, $5) RETURNING seq",
            )
            .bind(tenant.0)
            .bind(passage.id.0)
            .bind(passage.document_id.0)
            .bind(i64::from(passage.position))
            .bind(&passage.text)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
            sqlx::query("INSERT INTO knowledge_search (rowid, tenant, body) VALUES ($1, $2, $3)")
                .bind(seq)
                .bind(tenant_token(tenant))
                .bind(folded)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            Ok(())
        }

        /// The tenant's token, written into every row of the index and every search.
        fn tenant_token(tenant: TenantId) -> String {
            format!("t{}", tenant.0.simple())
        }

        /// The tenant's token and any term (`OR`), prefixes as `*`; ranked by BM25
        /// over the passages' words (the tenant column weighs nothing).
        async fn search(pool: &sqlx::Pool<Db>, tenant: TenantId, terms: &SearchTerms, limit: u32) -> Result<Vec<PassageRow>, StoreError> {
            let any = terms
                .terms()
                .iter()
                .map(|t| format!("\"{}\"{}", t.word, if t.prefix { "*" } else { "" }))
                .collect::<Vec<_>>()
                .join(" OR ");
            let query = format!("tenant : {} AND body : ({any})", tenant_token(tenant));
            sqlx::query_as(
                "SELECT p.id, p.document_id, d.title, p.position, p.body
                 FROM knowledge_search s
                 JOIN knowledge_passages p ON p.seq = s.rowid
                 JOIN knowledge_documents d ON d.id = p.document_id
                 WHERE knowledge_search MATCH $1 AND p.tenant_id = $2
                 ORDER BY bm25(knowledge_search, 0.0, 1.0), p.document_id, p.position
                 LIMIT $3",
            )
            .bind(query)
            .bind(tenant.0)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(backend)
        }
    };
}

pub(crate) use knowledge_io;
