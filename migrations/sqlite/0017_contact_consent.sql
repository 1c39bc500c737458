-- A contact's consent to marketing (see contacts::consent): whether they opted out,
-- who made the latest change and when. Only `InboxStore::record_consent` writes these,
-- and only a change newer than `consent_at`, so a keyword delivered twice cannot undo
-- a later change.
ALTER TABLE contacts ADD COLUMN opted_out BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE contacts ADD COLUMN consent_source TEXT;
ALTER TABLE contacts ADD COLUMN consent_at INTEGER;
