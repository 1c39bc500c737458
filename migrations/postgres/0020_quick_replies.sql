-- Quick replies (see quick_replies): each tenant's canned responses, by the shortcut
-- agents type after `/` in the composer.
CREATE TABLE quick_replies (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id),
    shortcut    TEXT NOT NULL,
    text        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX quick_replies_by_shortcut ON quick_replies (tenant_id, shortcut);
