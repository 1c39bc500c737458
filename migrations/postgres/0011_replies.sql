-- AI replies: each tenant's reply settings (plain JSON: modes per channel, brand
-- voice, rules, fallback; no secret), with `enabled` set when any channel replies so
-- the worker finds the tenants to follow without reading every document; and the reply
-- worker's cursor in each tenant's stream, leased to one node at a time.
CREATE TABLE tenant_reply_settings (
    tenant_id        UUID PRIMARY KEY REFERENCES tenants (id),
    data             TEXT NOT NULL,
    enabled          BOOLEAN NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE reply_cursors (
    tenant_id        UUID PRIMARY KEY REFERENCES tenants (id),
    stream_offset    BIGINT NOT NULL,
    owner_node       UUID,
    lease_until      BIGINT
);
