//! The one implementation of the `ChannelStore` port for both dialects, instantiated
//! per backend by `impl_channel_store!` next to `impl_inbox_store!`, whose stream
//! transaction it shares for the one write agents see (a requeued dead letter).

macro_rules! impl_channel_store {
    ($store:ty) => {
        mod channel_impl {
            use super::inbox_impl::{message_in, conversation_in, StreamTx};
            use super::*;
            use crate::store::channel_rows::{ChannelRow, DeadLetterRow, WebhookLogRow};
            use crate::store::inbox_rows::{from_json, to_json};
            use switchboard_actors::channel::templates::MessageTemplate;
            use crate::store::rows::{backend, conflict_as};
            use async_trait::async_trait;
            use switchboard_actors::channel::store::{ChannelStore, DeadLetterKey, Requeued};
            use switchboard_actors::channel::{Channel, DeadLetter, WebhookLogEntry};
            use switchboard_actors::inbox::stream::EventKind;
            use switchboard_actors::inbox::views::payload;
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{ChannelId, DeliveryStatus, Millis, TenantId};

            // sqlx takes only static SQL text, so shared column lists are macros.
            macro_rules! channel_select {
                () => {
                    "SELECT tenant_id, id, kind, name, account_id, state, settings, sealed_credentials,
                            last_inbound_at, last_error, last_error_at, created_at, updated_at FROM channels "
                };
            }
            macro_rules! dead_letter_select {
                () => {
                    "SELECT tenant_id, id, channel_id, conversation_id, message_id, error, attempts, created_at,
                            retried_at FROM dead_letters "
                };
            }

            #[async_trait]
            impl ChannelStore for $store {
                async fn default_country(&self, tenant: TenantId) -> Result<Option<String>, StoreError> {
                    let row: Option<(Option<String>,)> =
                        sqlx::query_as("SELECT default_country FROM tenant_settings WHERE tenant_id = $1")
                            .bind(tenant.0)
                            .fetch_optional(self.reader())
                            .await
                            .map_err(backend)?;
                    Ok(row.and_then(|(c,)| c))
                }

                async fn set_default_country(&self, tenant: TenantId, country: Option<&str>) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO tenant_settings (tenant_id, default_country) VALUES ($1, $2)
                         ON CONFLICT (tenant_id) DO UPDATE SET default_country = excluded.default_country",
                    )
                    .bind(tenant.0)
                    .bind(country)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn create_channel(&self, channel: &Channel) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO channels (tenant_id, id, kind, name, account_id, state, settings, sealed_credentials,
                                               last_inbound_at, last_error, last_error_at, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL, $9, $10)",
                    )
                    .bind(channel.tenant_id.0)
                    .bind(channel.id.0)
                    .bind(channel.kind.as_str())
                    .bind(&channel.name)
                    .bind(&channel.account_id)
                    .bind(channel.state.as_str())
                    .bind(to_json(&channel.settings))
                    .bind(&channel.sealed_credentials)
                    .bind(channel.created_at.0)
                    .bind(channel.updated_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(conflict_as("a channel for this account"))?;
                    Ok(())
                }

                async fn channels(&self, tenant: TenantId) -> Result<Vec<Channel>, StoreError> {
                    sqlx::query_as::<_, ChannelRow>(concat!(channel_select!(), "WHERE tenant_id = $1 ORDER BY created_at, id"))
                        .bind(tenant.0)
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?
                        .into_iter()
                        .map(Channel::try_from)
                        .collect()
                }

                async fn channel(&self, tenant: TenantId, id: ChannelId) -> Result<Option<Channel>, StoreError> {
                    sqlx::query_as::<_, ChannelRow>(concat!(channel_select!(), "WHERE tenant_id = $1 AND id = $2"))
                        .bind(tenant.0)
                        .bind(id.0)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?
                        .map(Channel::try_from)
                        .transpose()
                }

                async fn channel_by_id(&self, id: ChannelId) -> Result<Option<Channel>, StoreError> {
                    sqlx::query_as::<_, ChannelRow>(concat!(channel_select!(), "WHERE id = $1"))
                        .bind(id.0)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?
                        .map(Channel::try_from)
                        .transpose()
                }

                async fn update_channel(&self, channel: &Channel) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE channels SET name = $3, state = $4, settings = $5, sealed_credentials = $6, updated_at = $7
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(channel.tenant_id.0)
                    .bind(channel.id.0)
                    .bind(&channel.name)
                    .bind(channel.state.as_str())
                    .bind(to_json(&channel.settings))
                    .bind(&channel.sealed_credentials)
                    .bind(channel.updated_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn delete_channel(&self, tenant: TenantId, id: ChannelId) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM channels WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.0)
                        .bind(id.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn note_channel_inbound(&self, id: ChannelId, at: Millis) -> Result<(), StoreError> {
                    sqlx::query("UPDATE channels SET last_inbound_at = $2 WHERE id = $1 AND (last_inbound_at IS NULL OR last_inbound_at < $2)")
                        .bind(id.0)
                        .bind(at.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                async fn note_channel_error(&self, id: ChannelId, error: &str, at: Millis) -> Result<(), StoreError> {
                    sqlx::query("UPDATE channels SET last_error = $2, last_error_at = $3 WHERE id = $1")
                        .bind(id.0)
                        .bind(error)
                        .bind(at.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                async fn log_webhook(&self, entry: &WebhookLogEntry) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO webhook_log (tenant_id, id, channel_id, error, body, received_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(entry.tenant_id.0)
                    .bind(entry.id.0)
                    .bind(entry.channel_id.0)
                    .bind(&entry.error)
                    .bind(&entry.body)
                    .bind(entry.received_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn webhook_log(&self, tenant: TenantId, limit: u32) -> Result<Vec<WebhookLogEntry>, StoreError> {
                    Ok(sqlx::query_as::<_, WebhookLogRow>(
                        "SELECT tenant_id, id, channel_id, error, body, received_at FROM webhook_log
                         WHERE tenant_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2",
                    )
                    .bind(tenant.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(WebhookLogEntry::from)
                    .collect())
                }

                async fn insert_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO dead_letters (tenant_id, id, channel_id, conversation_id, message_id, error, attempts,
                                                   created_at, retried_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
                    )
                    .bind(letter.tenant_id.0)
                    .bind(letter.id.0)
                    .bind(letter.channel_id.0)
                    .bind(letter.conversation_id.0)
                    .bind(letter.message_id.0)
                    .bind(&letter.error)
                    .bind(i64::from(letter.attempts))
                    .bind(letter.created_at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn dead_letters(&self, tenant: TenantId, pending_only: bool, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
                    Ok(sqlx::query_as::<_, DeadLetterRow>(concat!(
                        dead_letter_select!(),
                        "WHERE tenant_id = $1 AND ($3 = 0 OR retried_at IS NULL) ORDER BY created_at DESC, id DESC LIMIT $2"
                    ))
                    .bind(tenant.0)
                    .bind(i64::from(limit))
                    .bind(i64::from(pending_only))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(DeadLetter::from)
                    .collect())
                }

                async fn requeue_dead_letter(&self, tenant: TenantId, key: DeadLetterKey, at: Millis) -> Result<Option<Requeued>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    // A message fails at most once before it is retried, so it has at
                    // most one dead letter that is not retried yet.
                    let (sql, id) = match key {
                        DeadLetterKey::Letter(letter) => (
                            concat!(dead_letter_select!(), "WHERE tenant_id = $1 AND id = $2 AND retried_at IS NULL"),
                            letter.0,
                        ),
                        DeadLetterKey::Message(message) => (
                            concat!(dead_letter_select!(), "WHERE tenant_id = $1 AND message_id = $2 AND retried_at IS NULL"),
                            message.0,
                        ),
                    };
                    let letter = sqlx::query_as::<_, DeadLetterRow>(sql)
                        .bind(tenant.0)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let Some(mut letter) = letter.map(DeadLetter::from) else {
                        return Ok(None);
                    };
                    let id = letter.id;
                    let Some(mut message) = message_in(&mut tx, tenant, letter.message_id).await? else {
                        return Ok(None);
                    };
                    letter.retried_at = Some(at);
                    sqlx::query("UPDATE dead_letters SET retried_at = $3 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.0)
                        .bind(id.0)
                        .bind(at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    message.status = DeliveryStatus::Pending;
                    message.error = None;
                    message.updated_at = at;
                    sqlx::query("UPDATE messages SET status = 'pending', error = NULL, updated_at = $3 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.0)
                        .bind(message.id.0)
                        .bind(at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let Some(conversation) = conversation_in(&mut tx, tenant, message.conversation_id).await? else {
                        return Ok(None);
                    };
                    stream.push(EventKind::MessageStatus, &conversation, payload::message_status(&message), at);
                    let events = stream.commit(tx).await?;
                    Ok(Some(Requeued { dead_letter: letter, message, events }))
                }

                async fn replace_templates(&self, tenant: TenantId, channel: ChannelId, templates: &[MessageTemplate]) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    sqlx::query("DELETE FROM message_templates WHERE tenant_id = $1 AND channel_id = $2")
                        .bind(tenant.0)
                        .bind(channel.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    for t in templates {
                        sqlx::query(
                            "INSERT INTO message_templates (tenant_id, channel_id, name, language, category, status, components,
                                                            parameters, rejected_reason, synced_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        )
                        .bind(tenant.0)
                        .bind(channel.0)
                        .bind(&t.name)
                        .bind(&t.language)
                        .bind(&t.category)
                        .bind(&t.status)
                        .bind(to_json(&t.components))
                        .bind(i64::from(t.parameters))
                        .bind(t.rejected_reason.as_deref())
                        .bind(t.synced_at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict_as("a template with this name and language"))?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn templates(&self, tenant: TenantId, channel: ChannelId) -> Result<Vec<MessageTemplate>, StoreError> {
                    let rows: Vec<(String, String, String, String, String, i64, Option<String>, i64)> = sqlx::query_as(
                        "SELECT name, language, category, status, components, parameters, rejected_reason, synced_at
                         FROM message_templates WHERE tenant_id = $1 AND channel_id = $2 ORDER BY name, language",
                    )
                    .bind(tenant.0)
                    .bind(channel.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter()
                        .map(|(name, language, category, status, components, parameters, rejected_reason, synced_at)| {
                            Ok(MessageTemplate {
                                tenant_id: tenant,
                                channel_id: channel,
                                name,
                                language,
                                category,
                                status,
                                components: from_json("message template", &components)?,
                                parameters: u32::try_from(parameters).unwrap_or_default(),
                                rejected_reason,
                                synced_at: Millis(synced_at),
                            })
                        })
                        .collect()
                }
            }
        }
    };
}

pub(crate) use impl_channel_store;
