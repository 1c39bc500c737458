-- The channel gateway: connected provider accounts, webhook deliveries we could not
-- use, replies that could not be delivered; and what contact merges moved, to undo them.

-- Tenant-wide defaults of the gateway; a channel's own settings win.
CREATE TABLE tenant_settings (
    tenant_id        BLOB PRIMARY KEY REFERENCES tenants (id),
    -- ISO 3166 alpha-2, for phone numbers written without a country code.
    default_country  TEXT
);

CREATE TABLE channels (
    tenant_id            BLOB NOT NULL REFERENCES tenants (id),
    id                   BLOB PRIMARY KEY,
    kind                 TEXT NOT NULL CHECK (kind IN ('whatsapp', 'messenger', 'instagram', 'lead_ads')),
    name                 TEXT NOT NULL,
    account_id           TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
    settings             TEXT NOT NULL,
    -- AES-256-GCM: 12-byte nonce, then ciphertext and tag. The key is in the server's
    -- configuration, never in the database.
    sealed_credentials   BLOB NOT NULL,
    last_inbound_at      INTEGER,
    last_error           TEXT,
    last_error_at        INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (tenant_id, kind, account_id)
);

CREATE TABLE webhook_log (
    tenant_id    BLOB NOT NULL REFERENCES tenants (id),
    id           BLOB PRIMARY KEY,
    channel_id   BLOB NOT NULL,
    error        TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX webhook_log_by_tenant ON webhook_log (tenant_id, received_at);

CREATE TABLE dead_letters (
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    id               BLOB PRIMARY KEY,
    channel_id       BLOB NOT NULL,
    conversation_id  BLOB NOT NULL REFERENCES conversations (id),
    message_id       BLOB NOT NULL REFERENCES messages (id),
    error            TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    retried_at       INTEGER
);
CREATE INDEX dead_letters_by_tenant ON dead_letters (tenant_id, created_at);

ALTER TABLE messages ADD COLUMN error TEXT;
ALTER TABLE conversations ADD COLUMN last_inbound_at INTEGER;

-- What each merge gave the kept contact (identities, conversations, phones, emails,
-- tags, custom field keys, as JSON), so the merge can be undone exactly.
CREATE TABLE contact_merges (
    tenant_id    BLOB NOT NULL REFERENCES tenants (id),
    kept_id      BLOB NOT NULL REFERENCES contacts (id),
    absorbed_id  BLOB NOT NULL REFERENCES contacts (id),
    added        TEXT NOT NULL,
    merged_at    INTEGER NOT NULL,
    undone_at    INTEGER,
    PRIMARY KEY (absorbed_id, merged_at)
);
