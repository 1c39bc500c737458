-- WhatsApp Web sessions: a channel kind, each session's state and lease, and its keys.

ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check
    CHECK (kind IN ('whatsapp', 'messenger', 'instagram', 'lead_ads', 'whatsapp_web'));

-- One row per session. The node in owner_node runs it while lease_until (Unix ms)
-- is ahead; another node may take it over after that.
CREATE TABLE channel_sessions (
    tenant_id    UUID NOT NULL REFERENCES tenants (id),
    channel_id   UUID PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    state        TEXT NOT NULL,
    -- JSON: the state's details (QR code, pairing code, number, attempt, reason).
    detail       TEXT NOT NULL,
    paired       BOOLEAN NOT NULL,
    phone        TEXT,
    owner_node   UUID,
    lease_until  BIGINT,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX channel_sessions_by_lease ON channel_sessions (lease_until);

-- The WhatsApp client's keys and protocol state, one row per (namespace, key), each
-- value sealed with AES-256-GCM (the key is in the server's configuration).
CREATE TABLE session_keys (
    tenant_id   UUID NOT NULL REFERENCES tenants (id),
    session_id  UUID NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    namespace   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       BYTEA NOT NULL,
    PRIMARY KEY (session_id, namespace, key)
);
