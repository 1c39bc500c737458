-- Ingest looks every message up by its provider id. Replies have no provider id until
-- they are sent and customer messages never have a client id, so each unique index
-- covers only the rows that have its key: smaller, and the only index a look-up by
-- that key can use, whatever plan the server caches for it.
DROP INDEX messages_by_provider_id;
CREATE UNIQUE INDEX messages_by_provider_id ON messages (tenant_id, channel, provider_id)
    WHERE provider_id IS NOT NULL;
DROP INDEX messages_by_client_id;
CREATE UNIQUE INDEX messages_by_client_id ON messages (tenant_id, author_id, client_id)
    WHERE client_id IS NOT NULL;
