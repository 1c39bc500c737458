-- Automations (see the automation module): each tenant's rules, as JSON checked by
-- the server (trigger, conditions, actions); every run of a rule with the event that
-- started it and each step's result; and the trigger worker's cursor in each
-- tenant's stream, leased to one node at a time like the pipeline's.
CREATE TABLE automation_rules (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    name             TEXT NOT NULL,
    enabled          BOOLEAN NOT NULL,
    trigger_kind     TEXT NOT NULL,
    definition       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX automation_rules_by_tenant ON automation_rules (tenant_id, enabled, trigger_kind);
-- Every tenant's schedules, read at start.
CREATE INDEX automation_rules_by_kind ON automation_rules (trigger_kind) WHERE enabled;

-- One run per rule and trigger (`trigger_key`: the event's offset, or the timer's
-- moment), so a trigger seen twice starts one run.
CREATE TABLE automation_runs (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    rule_id          UUID NOT NULL,
    trigger_key      TEXT NOT NULL,
    conversation_id  UUID,
    depth            BIGINT NOT NULL,
    status           TEXT NOT NULL,
    data             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX automation_runs_once ON automation_runs (tenant_id, rule_id, trigger_key);
CREATE INDEX automation_runs_by_rule ON automation_runs (tenant_id, rule_id, created_at);
CREATE INDEX automation_runs_by_conversation ON automation_runs (tenant_id, rule_id, conversation_id, created_at);

CREATE TABLE automation_cursors (
    tenant_id        UUID PRIMARY KEY REFERENCES tenants (id),
    stream_offset    BIGINT NOT NULL,
    owner_node       UUID,
    lease_until      BIGINT
);
