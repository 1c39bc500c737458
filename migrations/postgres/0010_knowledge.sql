-- A tenant's knowledge base: documents as sent (their text kept, so an admin can read
-- them back) and the passages they were cut into. Replies are grounded in what a
-- search of the passages finds.
CREATE TABLE knowledge_documents (
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    id               UUID PRIMARY KEY,
    title            TEXT NOT NULL,
    format           TEXT NOT NULL,
    content          TEXT NOT NULL,
    passages         BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX knowledge_documents_by_tenant ON knowledge_documents (tenant_id, created_at);

-- `search` holds the passage's folded words (see the knowledge module) with the
-- 'simple' configuration: no stemming or stop words of a language, the same words
-- SQLite's index holds.
CREATE TABLE knowledge_passages (
    tenant_id        UUID NOT NULL,
    id               UUID PRIMARY KEY,
    document_id      UUID NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
    position         BIGINT NOT NULL,
    body             TEXT NOT NULL,
    search           TSVECTOR NOT NULL
);
CREATE INDEX knowledge_passages_by_document ON knowledge_passages (document_id, position);
CREATE INDEX knowledge_passages_search ON knowledge_passages USING GIN (search);
