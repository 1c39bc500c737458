-- Open sockets check every so often which sign-ins ended lately (see
-- actors/src/inbox/access.rs); this keeps that read to the recent revocations.
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (tenant_id, revoked_at);
