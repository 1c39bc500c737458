-- Durable jobs (see the jobs module): work due at `run_at`, claimed by one node at a
-- time (`owner_node` until `lease_until`, Unix ms), retried with backoff, dead once
-- its attempts are used up. Done jobs are kept a while so their idempotency keys
-- still hold, then pruned.
CREATE TABLE jobs (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL,
    run_at           BIGINT NOT NULL,
    attempts         BIGINT NOT NULL,
    max_attempts     BIGINT NOT NULL,
    idempotency_key  TEXT,
    last_error       TEXT,
    owner_node       UUID,
    lease_until      BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_by_key ON jobs (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- What a claim walks: queued jobs by due time, running ones by lease.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, state, created_at);
CREATE INDEX jobs_done ON jobs (updated_at) WHERE state = 'done';
