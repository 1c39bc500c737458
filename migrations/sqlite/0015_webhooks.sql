-- Outbound webhooks (see the webhooks module): each tenant's endpoints with their
-- sealed signing secrets (the one before a rotation kept until `previous_until`);
-- one delivery per endpoint, event type and stream event, with every attempt made;
-- and the fan-out worker's cursor in each tenant's stream, leased to one node at a
-- time like the automations'.
CREATE TABLE webhook_endpoints (
    id               BLOB PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    url              TEXT NOT NULL,
    description      TEXT NOT NULL,
    event_types      TEXT NOT NULL,
    enabled          BOOLEAN NOT NULL,
    disabled_reason  TEXT,
    secret           BLOB NOT NULL,
    previous_secret  BLOB,
    previous_until   INTEGER,
    failing_since    INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id, enabled);

-- `event_key` is `<epoch>:<offset>` of the stream event (NULL for a test event, so
-- those never collide).
CREATE TABLE webhook_deliveries (
    id               BLOB PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    endpoint_id      BLOB NOT NULL REFERENCES webhook_endpoints (id),
    event_type       TEXT NOT NULL,
    event_key        TEXT,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    response_status  INTEGER,
    latency_ms       INTEGER,
    response_body    TEXT,
    error            TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    delivered_at     INTEGER
);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (endpoint_id, event_type, event_key);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (tenant_id, endpoint_id, id);
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    delivery_id      BLOB NOT NULL REFERENCES webhook_deliveries (id),
    attempt          INTEGER NOT NULL,
    tenant_id        BLOB NOT NULL,
    at               INTEGER NOT NULL,
    response_status  INTEGER,
    latency_ms       INTEGER NOT NULL,
    response_body    TEXT,
    error            TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE webhook_cursors (
    tenant_id        BLOB PRIMARY KEY REFERENCES tenants (id),
    stream_offset    INTEGER NOT NULL,
    owner_node       BLOB,
    lease_until      INTEGER
);
