-- WhatsApp Web sessions: a channel kind, each session's state and lease, and its keys.

-- SQLite cannot change a CHECK constraint in place: the table is rebuilt. Nothing
-- references channels by foreign key.
CREATE TABLE channels_next (
    tenant_id            BLOB NOT NULL REFERENCES tenants (id),
    id                   BLOB PRIMARY KEY,
    kind                 TEXT NOT NULL CHECK (kind IN ('whatsapp', 'messenger', 'instagram', 'lead_ads', 'whatsapp_web')),
    name                 TEXT NOT NULL,
    account_id           TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
    settings             TEXT NOT NULL,
    sealed_credentials   BLOB NOT NULL,
    last_inbound_at      INTEGER,
    last_error           TEXT,
    last_error_at        INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (tenant_id, kind, account_id)
);
INSERT INTO channels_next SELECT tenant_id, id, kind, name, account_id, state, settings, sealed_credentials,
    last_inbound_at, last_error, last_error_at, created_at, updated_at FROM channels;
DROP TABLE channels;
ALTER TABLE channels_next RENAME TO channels;

-- One row per session. The node in owner_node runs it while lease_until (Unix ms)
-- is ahead; another node may take it over after that.
CREATE TABLE channel_sessions (
    tenant_id    BLOB NOT NULL REFERENCES tenants (id),
    channel_id   BLOB PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    state        TEXT NOT NULL,
    -- JSON: the state's details (QR code, pairing code, number, attempt, reason).
    detail       TEXT NOT NULL,
    paired       INTEGER NOT NULL,
    phone        TEXT,
    owner_node   BLOB,
    lease_until  INTEGER,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX channel_sessions_by_lease ON channel_sessions (lease_until);

-- The WhatsApp client's keys and protocol state, one row per (namespace, key), each
-- value sealed with AES-256-GCM (the key is in the server's configuration).
CREATE TABLE session_keys (
    tenant_id   BLOB NOT NULL REFERENCES tenants (id),
    session_id  BLOB NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    namespace   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       BLOB NOT NULL,
    PRIMARY KEY (session_id, namespace, key)
);
