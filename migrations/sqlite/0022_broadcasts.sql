-- Broadcasts (see broadcasts): one message to a segment or an uploaded list of phones,
-- sent by a durable job at the channel's rate. `generation` rises on every resume so
-- an older run stops; `list_cursor` is how far a segment's listing got.
CREATE TABLE broadcasts (
    id               BLOB PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    name             TEXT NOT NULL,
    channel_id       BLOB NOT NULL,
    segment_id       BLOB,
    content          TEXT NOT NULL,
    send_at          INTEGER NOT NULL,
    time_zone        TEXT,
    rate_per_second  INTEGER NOT NULL,
    status           TEXT NOT NULL,
    generation       INTEGER NOT NULL,
    listed           BOOLEAN NOT NULL,
    list_cursor      BLOB,
    note             TEXT,
    created_by       BLOB,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
);
CREATE INDEX broadcasts_by_tenant ON broadcasts (tenant_id, created_at);

-- One row per phone a broadcast goes to, in send order, with what became of it. A
-- row is `sending` only during its provider call: one found there after a crash is
-- failed, never sent again.
CREATE TABLE broadcast_recipients (
    id               BLOB PRIMARY KEY,
    tenant_id        BLOB NOT NULL,
    broadcast_id     BLOB NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    channel_id       BLOB NOT NULL,
    position         INTEGER NOT NULL,
    contact_id       BLOB,
    phone            TEXT NOT NULL,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL,
    error            TEXT,
    provider_id      TEXT,
    message_id       BLOB,
    conversation_id  BLOB,
    sent_at          INTEGER,
    replied_at       INTEGER,
    updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX broadcast_recipients_phone ON broadcast_recipients (broadcast_id, phone);
CREATE INDEX broadcast_recipients_order ON broadcast_recipients (broadcast_id, status, position);
-- The channel's daily limit counts its sends in the last 24 hours.
CREATE INDEX broadcast_recipients_sends ON broadcast_recipients (channel_id, sent_at);
-- Delivery reports name the message; replies name the conversation.
CREATE INDEX broadcast_recipients_message ON broadcast_recipients (message_id);
CREATE INDEX broadcast_recipients_conversation ON broadcast_recipients (conversation_id, sent_at);
