-- The inbound pipeline: guardrail, understanding, sentiment, lead score, handoff.

-- Each tenant's place in its stream: every event up to stream_offset has been through
-- the pipeline. The node in owner_node works the tenant's pipeline while lease_until
-- (Unix ms) is ahead; another node may take it over after that.
CREATE TABLE pipeline_cursors (
    tenant_id      BLOB PRIMARY KEY REFERENCES tenants (id),
    stream_offset  INTEGER NOT NULL,
    owner_node     BLOB,
    lease_until    INTEGER
);

-- What the pipeline found in one customer message. JSON: the guardrail's verdict,
-- the understanding, the sentiment, and the stages that were skipped and why.
CREATE TABLE message_insights (
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    message_id       BLOB PRIMARY KEY,
    conversation_id  BLOB NOT NULL,
    data             TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX message_insights_by_conversation ON message_insights (tenant_id, conversation_id);

-- A conversation's lead and who answers it. What lists filter on has a column;
-- data (JSON) has the reasons, the handoff trigger and the running counts the next
-- message is scored with.
CREATE TABLE conversation_leads (
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    conversation_id  BLOB PRIMARY KEY,
    score            INTEGER NOT NULL,
    temperature      TEXT NOT NULL CHECK (temperature IN ('hot', 'warm', 'cold')),
    sentiment        TEXT,
    urgency          TEXT NOT NULL,
    handoff_state    TEXT NOT NULL CHECK (handoff_state IN ('bot', 'pending_human', 'human')),
    -- Why it went to a person, while it is with one; when the state last changed.
    handoff_trigger  TEXT,
    handoff_at       INTEGER,
    -- The stream offset of the message last scored: a replay of an older one
    -- changes nothing.
    scored_offset    INTEGER NOT NULL,
    data             TEXT NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX conversation_leads_by_temperature ON conversation_leads (tenant_id, temperature);
-- The idle sweep looks for conversations a person has had for a while.
CREATE INDEX conversation_leads_by_handoff ON conversation_leads (handoff_state, handoff_at);

-- Every score a conversation has had, one row per customer message.
CREATE TABLE lead_history (
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    conversation_id  BLOB NOT NULL,
    message_id       BLOB NOT NULL,
    score            INTEGER NOT NULL,
    temperature      TEXT NOT NULL,
    at               INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, message_id)
);

-- A tenant's pipeline settings (JSON: handoff triggers, its own intents, assignment),
-- checked when saved. idle_return_ms repeats the idle return of data for the sweep
-- (NULL: never). A tenant without a row has the defaults.
CREATE TABLE tenant_pipeline_settings (
    tenant_id        BLOB PRIMARY KEY REFERENCES tenants (id),
    data             TEXT NOT NULL,
    idle_return_ms   INTEGER,
    updated_at       INTEGER NOT NULL
);

-- The agent the handoff round robin assigned last, per tenant.
CREATE TABLE handoff_rotations (
    tenant_id        BLOB PRIMARY KEY REFERENCES tenants (id),
    last_user_id     BLOB NOT NULL
);
