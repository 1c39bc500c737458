-- Contacts imports (see contacts::import): the uploaded CSV file, its column mapping,
-- and how far the job that reads it got (rows read, created, updated, refused, and
-- the refused rows as a CSV report), so a runner that dies goes on where it stopped.
CREATE TABLE contact_imports (
    id               BLOB PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    status           TEXT NOT NULL,
    csv              TEXT NOT NULL,
    mapping          TEXT NOT NULL,
    default_country  TEXT,
    created_by       BLOB,
    total            INTEGER NOT NULL,
    processed        INTEGER NOT NULL,
    created          INTEGER NOT NULL,
    updated          INTEGER NOT NULL,
    failed           INTEGER NOT NULL,
    errors           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX contact_imports_by_tenant ON contact_imports (tenant_id, created_at);
