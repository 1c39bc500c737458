-- Tenants, users and credentials. Timestamps are UTC Unix milliseconds (INTEGER) in both
-- dialects, so the store's SQL text is the same for SQLite and Postgres.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    tenant_id          BLOB NOT NULL REFERENCES tenants (id),
    id                 BLOB PRIMARY KEY,
    email              TEXT NOT NULL,
    name               TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('viewer', 'agent', 'manager', 'admin', 'owner')),
    status             TEXT NOT NULL CHECK (status IN ('invited', 'active', 'deactivated')),
    password_hash      TEXT,
    invite_token_hash  BLOB UNIQUE,
    invite_expires_at  INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (tenant_id, email)
);

CREATE TABLE api_keys (
    tenant_id   BLOB NOT NULL REFERENCES tenants (id),
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    hint      TEXT NOT NULL,
    key_hash    BLOB NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_by  BLOB NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE refresh_tokens (
    tenant_id   BLOB NOT NULL REFERENCES tenants (id),
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id),
    family_id   BLOB NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (tenant_id, user_id);

CREATE TABLE audit_log (
    tenant_id         BLOB NOT NULL REFERENCES tenants (id),
    id                BLOB PRIMARY KEY,
    at                INTEGER NOT NULL,
    actor_kind        TEXT NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'system', 'anonymous')),
    actor_id          BLOB,
    action            TEXT NOT NULL,
    target_type       TEXT,
    target_id         TEXT,
    ip                TEXT,
    request_id        TEXT,
    details           TEXT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
