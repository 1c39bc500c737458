-- What a tenant's language-model calls used, as each provider counted it: one row per
-- calendar month (UTC, 'YYYY-MM'), provider and model, added to after every answer.
-- GET /api/v1/ai/usage reads it; budgets will too.
CREATE TABLE ai_usage (
    tenant_id        UUID NOT NULL REFERENCES tenants (id),
    month            TEXT NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    requests         BIGINT NOT NULL,
    input_tokens     BIGINT NOT NULL,
    output_tokens    BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month, provider, model)
);
