-- WhatsApp message templates (see channel::templates): each Cloud API channel's, as
-- the last sync listed them from its business account, replaced whole at each sync.
CREATE TABLE message_templates (
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    channel_id       BLOB NOT NULL,
    name             TEXT NOT NULL,
    language         TEXT NOT NULL,
    category         TEXT NOT NULL,
    status           TEXT NOT NULL,
    components       TEXT NOT NULL,
    parameters       INTEGER NOT NULL,
    rejected_reason  TEXT,
    synced_at        INTEGER NOT NULL,
    PRIMARY KEY (channel_id, name, language)
);
CREATE INDEX message_templates_by_tenant ON message_templates (tenant_id, channel_id);
