-- Every phone and email of a live (not merged) contact, one row each, so finding the
-- contact a new sender's phone or email belongs to is an index look-up, not a scan of
-- the tenant's contacts. Written with the contact (`save_contact`), in its transaction.
CREATE TABLE contact_handles (
    tenant_id   UUID NOT NULL,
    contact_id  UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (contact_id, kind, value)
);
CREATE INDEX contact_handles_by_value ON contact_handles (tenant_id, kind, value);
INSERT INTO contact_handles (tenant_id, contact_id, kind, value)
    SELECT c.tenant_id, c.id, 'phone', j.value FROM contacts c, jsonb_array_elements_text(c.phones::jsonb) AS j(value) WHERE c.merged_into IS NULL
    UNION
    SELECT c.tenant_id, c.id, 'email', j.value FROM contacts c, jsonb_array_elements_text(c.emails::jsonb) AS j(value) WHERE c.merged_into IS NULL;
