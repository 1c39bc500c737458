-- Broadcasts (see broadcasts): one message to a segment or an uploaded list of phones,
-- sent by a durable job at the channel's rate. `generation` rises on every resume so
-- an older run stops; `list_cursor` is how far a segment's listing got.
CREATE TABLE broadcasts (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    name             TEXT NOT NULL,
    channel_id       UUID NOT NULL,
    segment_id       UUID,
    content          TEXT NOT NULL,
    send_at          BIGINT NOT NULL,
    time_zone        TEXT,
    rate_per_second  BIGINT NOT NULL,
    status           TEXT NOT NULL,
    generation       BIGINT NOT NULL,
    listed           BOOLEAN NOT NULL,
    list_cursor      UUID,
    note             TEXT,
    created_by       UUID,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);
CREATE INDEX broadcasts_by_tenant ON broadcasts (tenant_id, created_at);

-- One row per phone a broadcast goes to, in send order, with what became of it. A
-- row is `sending` only during its provider call: one found there after a crash is
-- failed, never sent again.
CREATE TABLE broadcast_recipients (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL,
    broadcast_id     UUID NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    channel_id       UUID NOT NULL,
    position         BIGINT NOT NULL,
    contact_id       UUID,
    phone            TEXT NOT NULL,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL,
    error            TEXT,
    provider_id      TEXT,
    message_id       UUID,
    conversation_id  UUID,
    sent_at          BIGINT,
    replied_at       BIGINT,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX broadcast_recipients_phone ON broadcast_recipients (broadcast_id, phone);
CREATE INDEX broadcast_recipients_order ON broadcast_recipients (broadcast_id, status, position);
-- The channel's daily limit counts its sends in the last 24 hours.
CREATE INDEX broadcast_recipients_sends ON broadcast_recipients (channel_id, sent_at);
-- Delivery reports name the message; replies name the conversation.
CREATE INDEX broadcast_recipients_message ON broadcast_recipients (message_id);
CREATE INDEX broadcast_recipients_conversation ON broadcast_recipients (conversation_id, sent_at);
