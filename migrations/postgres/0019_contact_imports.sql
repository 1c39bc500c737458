-- Contacts imports (see contacts::import): the uploaded CSV file, its column mapping,
-- and how far the job that reads it got (rows read, created, updated, refused, and
-- the refused rows as a CSV report), so a runner that dies goes on where it stopped.
CREATE TABLE contact_imports (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    status           TEXT NOT NULL,
    csv              TEXT NOT NULL,
    mapping          TEXT NOT NULL,
    default_country  TEXT,
    created_by       UUID,
    total            BIGINT NOT NULL,
    processed        BIGINT NOT NULL,
    created          BIGINT NOT NULL,
    updated          BIGINT NOT NULL,
    failed           BIGINT NOT NULL,
    errors           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX contact_imports_by_tenant ON contact_imports (tenant_id, created_at);
