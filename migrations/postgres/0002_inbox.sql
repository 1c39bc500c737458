-- The live inbox: contacts, conversations, messages and the per-tenant event stream.
-- Lists that are only read whole (phones, emails, tags, custom fields) are JSON text;
-- what is filtered on has its own table or column.

-- One row per tenant: the stream's epoch and its newest offset. Every writing
-- transaction bumps `last_offset` here, so the row lock orders commits by offset.
CREATE TABLE tenant_streams (
    tenant_id    UUID PRIMARY KEY REFERENCES tenants (id),
    epoch        UUID NOT NULL,
    last_offset  BIGINT NOT NULL
);

CREATE TABLE stream_events (
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    stream_offset    BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    conversation_id  UUID NOT NULL,
    assignee_id      UUID,
    data             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, stream_offset)
);
CREATE INDEX stream_events_by_age ON stream_events (created_at);

CREATE TABLE contacts (
    tenant_id      UUID NOT NULL REFERENCES tenants (id),
    id             UUID PRIMARY KEY,
    name           TEXT NOT NULL,
    phones         TEXT NOT NULL,
    emails         TEXT NOT NULL,
    custom_fields  TEXT NOT NULL,
    tags           TEXT NOT NULL,
    -- Also in contact_identities, which keeps them unique; here to read them whole.
    identities     TEXT NOT NULL,
    -- Lower-cased name, phones and emails, for substring search.
    search_text    TEXT NOT NULL,
    merged_into    UUID REFERENCES contacts (id),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX contacts_by_tenant ON contacts (tenant_id, id);

CREATE TABLE contact_identities (
    tenant_id    UUID NOT NULL REFERENCES tenants (id),
    channel      TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    contact_id   UUID NOT NULL REFERENCES contacts (id),
    PRIMARY KEY (tenant_id, channel, external_id)
);
CREATE INDEX contact_identities_by_contact ON contact_identities (contact_id);

CREATE TABLE conversations (
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    id               UUID PRIMARY KEY,
    channel          TEXT NOT NULL,
    contact_id       UUID NOT NULL REFERENCES contacts (id),
    status           TEXT NOT NULL CHECK (status IN ('open', 'pending', 'snoozed', 'resolved', 'closed')),
    snoozed_until    BIGINT,
    priority         TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id      UUID REFERENCES users (id),
    tags             TEXT NOT NULL,
    unread_count     BIGINT NOT NULL,
    last_seq         BIGINT NOT NULL,
    last_message_at  BIGINT,
    -- last_message_at, or created_at before the first message: the list order.
    activity_at      BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX conversations_by_activity ON conversations (tenant_id, activity_at, id);
CREATE INDEX conversations_by_contact ON conversations (tenant_id, channel, contact_id, created_at);

CREATE TABLE conversation_tags (
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    conversation_id  UUID NOT NULL REFERENCES conversations (id),
    tag              TEXT NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_by_tag ON conversation_tags (tenant_id, tag);

CREATE TABLE tags (
    tenant_id   UUID NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    color       TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE messages (
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    id               UUID PRIMARY KEY,
    conversation_id  UUID NOT NULL REFERENCES conversations (id),
    seq              BIGINT NOT NULL,
    channel          TEXT NOT NULL,
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'note')),
    kind             TEXT NOT NULL,
    body             TEXT,
    attachment       TEXT,
    provider_id      TEXT,
    client_id        TEXT,
    author_id        UUID REFERENCES users (id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed')),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (conversation_id, seq)
);
-- A provider's message id is stored once per channel (replayed webhooks), and a
-- client's message id once per author (retried sends). NULLs never collide.
CREATE UNIQUE INDEX messages_by_provider_id ON messages (tenant_id, channel, provider_id);
CREATE UNIQUE INDEX messages_by_client_id ON messages (tenant_id, author_id, client_id);

CREATE TABLE assignments (
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    conversation_id  UUID NOT NULL REFERENCES conversations (id),
    assignee_id      UUID REFERENCES users (id),
    assigned_by      UUID REFERENCES users (id),
    created_at       BIGINT NOT NULL
);
CREATE INDEX assignments_by_conversation ON assignments (conversation_id, created_at);
