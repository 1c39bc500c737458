-- What a tenant's language-model calls used, as each provider counted it: one row per
-- calendar month (UTC, 'YYYY-MM'), provider and model, added to after every answer.
-- GET /api/v1/ai/usage reads it; budgets will too.
CREATE TABLE ai_usage (
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    month            TEXT NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    requests         INTEGER NOT NULL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, month, provider, model)
);
