-- Custom contact fields: each tenant's definitions (see contacts::fields). Values
-- live in `contacts.custom_fields` under the definition's key; the definition says
-- how a value written there is checked.
CREATE TABLE contact_fields (
    tenant_id   UUID NOT NULL REFERENCES tenants (id),
    field_key   TEXT NOT NULL,
    label       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    options     TEXT NOT NULL,
    required    BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, field_key)
);
