-- A tenant's language-model providers (name, kind, base URL, model, key, timeout)
-- and what the pipeline uses them for, as one JSON document sealed with AES-256-GCM
-- (the key is in the server's configuration; the tenant id is the associated data).
-- A tenant without a row has no model: the pipeline's rules work alone.
CREATE TABLE tenant_ai_settings (
    tenant_id        BLOB PRIMARY KEY REFERENCES tenants (id),
    sealed           BLOB NOT NULL,
    updated_at       INTEGER NOT NULL
);
