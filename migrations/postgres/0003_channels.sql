-- The channel gateway: connected provider accounts, webhook deliveries we could not
-- use, and replies that could not be delivered.

CREATE TABLE channels (
    tenant_id            UUID NOT NULL REFERENCES tenants (id),
    id                   UUID PRIMARY KEY,
    kind                 TEXT NOT NULL CHECK (kind IN ('whatsapp', 'messenger', 'instagram', 'lead_ads')),
    name                 TEXT NOT NULL,
    account_id           TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
    settings             TEXT NOT NULL,
    -- AES-256-GCM: 12-byte nonce, then ciphertext and tag. The key is in the server's
    -- configuration, never in the database.
    sealed_credentials   BYTEA NOT NULL,
    last_inbound_at      BIGINT,
    last_error           TEXT,
    last_error_at        BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    UNIQUE (tenant_id, kind, account_id)
);

CREATE TABLE webhook_log (
    tenant_id    UUID NOT NULL REFERENCES tenants (id),
    id           UUID PRIMARY KEY,
    channel_id   UUID NOT NULL,
    error        TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  BIGINT NOT NULL
);
CREATE INDEX webhook_log_by_tenant ON webhook_log (tenant_id, received_at);

CREATE TABLE dead_letters (
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    id               UUID PRIMARY KEY,
    channel_id       UUID NOT NULL,
    conversation_id  UUID NOT NULL REFERENCES conversations (id),
    message_id       UUID NOT NULL REFERENCES messages (id),
    error            TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    retried_at       BIGINT
);
CREATE INDEX dead_letters_by_tenant ON dead_letters (tenant_id, created_at);

ALTER TABLE messages ADD COLUMN error TEXT;
ALTER TABLE conversations ADD COLUMN last_inbound_at BIGINT;
