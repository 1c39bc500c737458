-- Segments (see contacts::segments): each tenant's saved contact filters, the filter
-- as JSON checked by the server. Counting one reads the contacts in id order and,
-- for filters on conversations, their conversations by contact.
CREATE TABLE segments (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    filter      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX segments_by_name ON segments (tenant_id, name);
CREATE INDEX conversations_of_contact ON conversations (tenant_id, contact_id);
