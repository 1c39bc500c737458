-- Tenants, users and credentials. Timestamps are UTC Unix milliseconds (BIGINT) in both
-- dialects, so the store's SQL text is the same for SQLite and Postgres.

CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    tenant_id          UUID NOT NULL REFERENCES tenants (id),
    id                 UUID PRIMARY KEY,
    email              TEXT NOT NULL,
    name               TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('viewer', 'agent', 'manager', 'admin', 'owner')),
    status             TEXT NOT NULL CHECK (status IN ('invited', 'active', 'deactivated')),
    password_hash      TEXT,
    invite_token_hash  BYTEA UNIQUE,
    invite_expires_at  BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (tenant_id, email)
);

CREATE TABLE api_keys (
    tenant_id   UUID NOT NULL REFERENCES tenants (id),
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    hint      TEXT NOT NULL,
    key_hash    BYTEA NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_by  UUID NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE refresh_tokens (
    tenant_id   UUID NOT NULL REFERENCES tenants (id),
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    family_id   UUID NOT NULL,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (tenant_id, user_id);

CREATE TABLE audit_log (
    tenant_id         UUID NOT NULL REFERENCES tenants (id),
    id                UUID PRIMARY KEY,
    at                BIGINT NOT NULL,
    actor_kind        TEXT NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'system', 'anonymous')),
    actor_id          UUID,
    action            TEXT NOT NULL,
    target_type       TEXT,
    target_id         TEXT,
    ip                TEXT,
    request_id        TEXT,
    details           TEXT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
