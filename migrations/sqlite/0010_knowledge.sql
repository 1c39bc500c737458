-- A tenant's knowledge base: documents as sent (their text kept, so an admin can read
-- them back) and the passages they were cut into. Replies are grounded in what a
-- search of the passages finds.
CREATE TABLE knowledge_documents (
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    id               BLOB PRIMARY KEY,
    title            TEXT NOT NULL,
    format           TEXT NOT NULL,
    content          TEXT NOT NULL,
    passages         INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX knowledge_documents_by_tenant ON knowledge_documents (tenant_id, created_at);

-- `seq` is the passage's row in the search index (FTS5 wants an integer).
CREATE TABLE knowledge_passages (
    seq              INTEGER PRIMARY KEY,
    tenant_id        BLOB NOT NULL,
    id               BLOB NOT NULL UNIQUE,
    document_id      BLOB NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    body             TEXT NOT NULL
);
CREATE INDEX knowledge_passages_by_document ON knowledge_passages (document_id, position);

-- The passages' folded words (see the knowledge module), under a `tenant` token
-- ('t' and the tenant id in hex) that every search must match, so the index only
-- walks the asking tenant's rows. Contentless: the text lives in knowledge_passages.
CREATE VIRTUAL TABLE knowledge_search USING fts5 (
    tenant, body, content = '', contentless_delete = 1
);
CREATE TRIGGER knowledge_passages_unindex AFTER DELETE ON knowledge_passages BEGIN
    DELETE FROM knowledge_search WHERE rowid = old.seq;
END;
