-- Optional embeddings of the knowledge base's passages, for ranking by meaning beside
-- the full-text search. A passage's vector is little-endian f32s from the model named
-- beside it; NULL until the embedding worker has asked the tenant's provider.
ALTER TABLE knowledge_passages ADD COLUMN embedding BLOB;
ALTER TABLE knowledge_passages ADD COLUMN embedding_model TEXT;
CREATE INDEX knowledge_passages_unembedded ON knowledge_passages (tenant_id) WHERE embedding IS NULL;

-- The embedding model each tenant's AI settings name (provider and model), kept in the
-- clear beside the sealed settings so the worker finds the work without opening them.
-- Saving another model clears the tenant's vectors in the same transaction. The node
-- in owner_node embeds the tenant's new passages while lease_until (Unix ms) is ahead.
CREATE TABLE knowledge_embedding_models (
    tenant_id        BLOB PRIMARY KEY REFERENCES tenants (id),
    model            TEXT NOT NULL,
    owner_node       BLOB,
    lease_until      INTEGER
);
