-- Quick replies (see quick_replies): each tenant's canned responses, by the shortcut
-- agents type after `/` in the composer.
CREATE TABLE quick_replies (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id),
    shortcut    TEXT NOT NULL,
    text        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX quick_replies_by_shortcut ON quick_replies (tenant_id, shortcut);
