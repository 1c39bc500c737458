//! The `BroadcastStore` port for both dialects, instantiated per backend by
//! `impl_broadcast_store!`: one row per broadcast (its content as JSON) and one per
//! recipient, moved between statuses only by conditional updates, so two runs never
//! take the same recipient.

macro_rules! impl_broadcast_store {
    ($store:ty) => {
        mod broadcast_impl {
            use super::*;
            use super::inbox_impl::{Conn, StreamTx};
            use crate::store::sql::SqlBackend;
            type Db = <$store as SqlBackend>::Db;
            use crate::store::inbox_rows::{from_json, to_json};
            use crate::store::rows::{backend, corrupt};
            use async_trait::async_trait;
            use switchboard_actors::broadcasts::{
                Broadcast, BroadcastStatus, BroadcastStore, Outcome, Recipient, RecipientStatus,
                Totals, REPLY_WINDOW_MS,
            };
            use switchboard_actors::inbox::stream::{EventKind, StreamEvent};
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{
                BroadcastId, ChannelId, ChannelKey, ContactId, ConversationId, MessageId, Millis,
                RecipientId, SegmentId, TenantId, UserId,
            };
            use uuid::Uuid;

            macro_rules! broadcast_columns {
                () => {
                    "id, tenant_id, name, channel_id, segment_id, content, send_at, time_zone, rate_per_second, status,
                     generation, listed, list_cursor, note, created_by, created_at, updated_at, started_at, finished_at"
                };
            }

            type BroadcastRow = <Db as sqlx::Database>::Row;

            fn broadcast(row: BroadcastRow) -> Result<Broadcast, StoreError> {
                use sqlx::Row;
                let get = |err: sqlx::Error| StoreError::Backend(format!("unreadable broadcast row: {err}"));
                let content: String = row.try_get("content").map_err(get)?;
                let status: String = row.try_get("status").map_err(get)?;
                let rate: i64 = row.try_get("rate_per_second").map_err(get)?;
                Ok(Broadcast {
                    tenant_id: TenantId(row.try_get("tenant_id").map_err(get)?),
                    id: BroadcastId(row.try_get("id").map_err(get)?),
                    name: row.try_get("name").map_err(get)?,
                    channel_id: ChannelId(row.try_get("channel_id").map_err(get)?),
                    segment_id: row.try_get::<Option<Uuid>, _>("segment_id").map_err(get)?.map(SegmentId),
                    content: from_json("broadcast", &content)?,
                    send_at: Millis(row.try_get("send_at").map_err(get)?),
                    time_zone: row.try_get("time_zone").map_err(get)?,
                    rate_per_second: u32::try_from(rate).unwrap_or(1),
                    status: BroadcastStatus::parse(&status).map_err(corrupt("broadcast"))?,
                    generation: row.try_get("generation").map_err(get)?,
                    listed: row.try_get("listed").map_err(get)?,
                    list_cursor: row.try_get::<Option<Uuid>, _>("list_cursor").map_err(get)?.map(ContactId),
                    note: row.try_get("note").map_err(get)?,
                    created_by: row.try_get::<Option<Uuid>, _>("created_by").map_err(get)?.map(UserId),
                    created_at: Millis(row.try_get("created_at").map_err(get)?),
                    updated_at: Millis(row.try_get("updated_at").map_err(get)?),
                    started_at: row.try_get::<Option<i64>, _>("started_at").map_err(get)?.map(Millis),
                    finished_at: row.try_get::<Option<i64>, _>("finished_at").map_err(get)?.map(Millis),
                })
            }

            macro_rules! recipient_columns {
                () => {
                    "id, tenant_id, broadcast_id, channel_id, position, contact_id, phone, name, status, error,
                     provider_id, message_id, conversation_id, sent_at, replied_at, updated_at"
                };
            }

            type RecipientRow = (
                Uuid, Uuid, Uuid, Uuid, i64, Option<Uuid>, String, String,
                String, Option<String>, Option<String>, Option<Uuid>, Option<Uuid>, Option<i64>, Option<i64>, i64,
            );

            fn recipient(row: RecipientRow) -> Result<Recipient, StoreError> {
                let (id, tenant, broadcast, channel, position, contact, phone, name, status, error, provider_id,
                     message_id, conversation_id, sent_at, replied_at, updated_at) = row;
                Ok(Recipient {
                    tenant_id: TenantId(tenant),
                    broadcast_id: BroadcastId(broadcast),
                    channel_id: ChannelId(channel),
                    id: RecipientId(id),
                    position,
                    contact_id: contact.map(ContactId),
                    phone,
                    name,
                    status: RecipientStatus::parse(&status).map_err(corrupt("broadcast recipient"))?,
                    error,
                    provider_id,
                    message_id: message_id.map(MessageId),
                    conversation_id: conversation_id.map(ConversationId),
                    sent_at: sent_at.map(Millis),
                    replied_at: replied_at.map(Millis),
                    updated_at: Millis(updated_at),
                })
            }

            /// Recipients written per statement (16 values each, within every
            /// backend's limit on bound values).
            const INSERT_CHUNK: usize = 500;

            async fn insert_recipients(conn: &mut Conn, recipients: &[Recipient]) -> Result<(), StoreError> {
                for chunk in recipients.chunks(INSERT_CHUNK) {
                    let mut insert = sqlx::QueryBuilder::<Db>::new(concat!(
                        "INSERT INTO broadcast_recipients (", recipient_columns!(), ") "
                    ));
                    insert.push_values(chunk, |mut row, r| {
                        row.push_bind(r.id.0)
                            .push_bind(r.tenant_id.0)
                            .push_bind(r.broadcast_id.0)
                            .push_bind(r.channel_id.0)
                            .push_bind(r.position)
                            .push_bind(r.contact_id.map(|c| c.0))
                            .push_bind(r.phone.clone())
                            .push_bind(r.name.clone())
                            .push_bind(r.status.as_str())
                            .push_bind(r.error.clone())
                            .push_bind(r.provider_id.clone())
                            .push_bind(r.message_id.map(|m| m.0))
                            .push_bind(r.conversation_id.map(|c| c.0))
                            .push_bind(r.sent_at.map(|at| at.0))
                            .push_bind(r.replied_at.map(|at| at.0))
                            .push_bind(r.updated_at.0);
                    });
                    insert.push(" ON CONFLICT (broadcast_id, phone) DO NOTHING");
                    insert.build().execute(&mut *conn).await.map_err(backend)?;
                }
                Ok(())
            }

            /// The tenant is checked on the broadcast, once, so the count reads only
            /// the `(broadcast_id, status, position)` index, never the rows.
            async fn totals_in(conn: &mut Conn, tenant: TenantId, id: BroadcastId) -> Result<Totals, StoreError> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT status, COUNT(*) FROM broadcast_recipients
                     WHERE broadcast_id = $1 AND EXISTS (SELECT 1 FROM broadcasts WHERE id = $1 AND tenant_id = $2)
                     GROUP BY status",
                )
                .bind(id.0)
                .bind(tenant.0)
                .fetch_all(&mut *conn)
                .await
                .map_err(backend)?;
                let mut totals = Totals::default();
                for (status, count) in rows {
                    let status = RecipientStatus::parse(&status).map_err(corrupt("broadcast recipient"))?;
                    totals.add(status, u64::try_from(count).unwrap_or_default());
                }
                Ok(totals)
            }

            /// Appends the broadcast's `broadcast.updated` event with its totals,
            /// counted before the write began: counting a large broadcast takes
            /// milliseconds, which the tenant's other writers would wait out.
            fn push_event(stream: &mut StreamTx, b: &Broadcast, totals: Totals) {
                stream.push_subject(EventKind::BroadcastUpdated, ConversationId(b.id.0), to_json(&b.view(totals)), b.updated_at);
            }

            fn vanished() -> StoreError {
                StoreError::Backend("a broadcast event vanished".to_owned())
            }

            /// Up to three statuses for a fixed `IN ($a, $b, $c)`: the first repeats.
            fn three<T: Copy>(from: &[T]) -> Result<[T; 3], StoreError> {
                match *from {
                    [a] => Ok([a, a, a]),
                    [a, b] => Ok([a, b, a]),
                    [a, b, c] => Ok([a, b, c]),
                    _ => Err(StoreError::Backend("one to three statuses expected".to_owned())),
                }
            }

            #[async_trait]
            impl BroadcastStore for $store {
                async fn create_broadcast(&self, b: &Broadcast, recipients: &[Recipient]) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    sqlx::query(concat!(
                        "INSERT INTO broadcasts (", broadcast_columns!(), ")
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
                    ))
                    .bind(b.id.0)
                    .bind(b.tenant_id.0)
                    .bind(&b.name)
                    .bind(b.channel_id.0)
                    .bind(b.segment_id.map(|s| s.0))
                    .bind(to_json(&b.content))
                    .bind(b.send_at.0)
                    .bind(&b.time_zone)
                    .bind(i64::from(b.rate_per_second))
                    .bind(b.status.as_str())
                    .bind(b.generation)
                    .bind(b.listed)
                    .bind(b.list_cursor.map(|c| c.0))
                    .bind(&b.note)
                    .bind(b.created_by.map(|u| u.0))
                    .bind(b.created_at.0)
                    .bind(b.updated_at.0)
                    .bind(b.started_at.map(|at| at.0))
                    .bind(b.finished_at.map(|at| at.0))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    insert_recipients(&mut tx, recipients).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn broadcast(&self, tenant: TenantId, id: BroadcastId) -> Result<Option<Broadcast>, StoreError> {
                    let row: Option<BroadcastRow> = sqlx::query(concat!(
                        "SELECT ", broadcast_columns!(), " FROM broadcasts WHERE tenant_id = $1 AND id = $2"
                    ))
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(broadcast).transpose()
                }

                async fn broadcasts(&self, tenant: TenantId, limit: u32) -> Result<Vec<Broadcast>, StoreError> {
                    let rows: Vec<BroadcastRow> = sqlx::query(concat!(
                        "SELECT ", broadcast_columns!(), " FROM broadcasts WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
                    ))
                    .bind(tenant.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(broadcast).collect()
                }

                async fn save_broadcast(&self, b: &Broadcast) -> Result<Option<StreamEvent>, StoreError> {
                    let totals = self.recipient_totals(b.tenant_id, b.id).await?;
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    // Locked first, as every writer of the stream does.
                    let mut stream = StreamTx::lock(&mut tx, b.tenant_id).await?;
                    let done = sqlx::query(
                        "UPDATE broadcasts SET status = $4, listed = $5, list_cursor = $6, note = $7,
                                updated_at = $8, started_at = $9, finished_at = $10
                         WHERE tenant_id = $1 AND id = $2 AND generation = $3 AND status IN ('scheduled', 'running')",
                    )
                    .bind(b.tenant_id.0)
                    .bind(b.id.0)
                    .bind(b.generation)
                    .bind(b.status.as_str())
                    .bind(b.listed)
                    .bind(b.list_cursor.map(|c| c.0))
                    .bind(&b.note)
                    .bind(b.updated_at.0)
                    .bind(b.started_at.map(|at| at.0))
                    .bind(b.finished_at.map(|at| at.0))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    push_event(&mut stream, b, totals);
                    stream.commit(tx).await?.pop().map(Some).ok_or_else(vanished)
                }

                async fn transition_broadcast(&self, tenant: TenantId, id: BroadcastId, from: &[BroadcastStatus], to: BroadcastStatus, new_generation: bool, at: Millis) -> Result<Option<(Broadcast, StreamEvent)>, StoreError> {
                    let totals = self.recipient_totals(tenant, id).await?;
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let ended = matches!(to, BroadcastStatus::Cancelled | BroadcastStatus::Done);
                    let [a, b, c] = three(from)?;
                    let row: Option<BroadcastRow> = sqlx::query(concat!(
                        "UPDATE broadcasts SET status = $3, generation = generation + $4, note = NULL, updated_at = $5,
                                finished_at = CASE WHEN $6 THEN $5 ELSE finished_at END
                         WHERE tenant_id = $1 AND id = $2 AND status IN ($7, $8, $9)
                         RETURNING ", broadcast_columns!()
                    ))
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(to.as_str())
                    .bind(i64::from(new_generation))
                    .bind(at.0)
                    .bind(ended)
                    .bind(a.as_str())
                    .bind(b.as_str())
                    .bind(c.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let changed = broadcast(row)?;
                    push_event(&mut stream, &changed, totals);
                    let event = stream.commit(tx).await?.pop().ok_or_else(vanished)?;
                    Ok(Some((changed, event)))
                }

                async fn broadcast_event(&self, tenant: TenantId, id: BroadcastId) -> Result<Option<StreamEvent>, StoreError> {
                    let totals = self.recipient_totals(tenant, id).await?;
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let row: Option<BroadcastRow> = sqlx::query(concat!(
                        "SELECT ", broadcast_columns!(), " FROM broadcasts WHERE tenant_id = $1 AND id = $2"
                    ))
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let Some(row) = row else { return Ok(None) };
                    push_event(&mut stream, &broadcast(row)?, totals);
                    stream.commit(tx).await?.pop().map(Some).ok_or_else(vanished)
                }

                async fn add_recipients(&self, recipients: &[Recipient]) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    insert_recipients(&mut tx, recipients).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn queued_recipients(&self, tenant: TenantId, id: BroadcastId, after: Option<i64>, limit: u32) -> Result<Vec<Recipient>, StoreError> {
                    let rows: Vec<RecipientRow> = sqlx::query_as(concat!(
                        "SELECT ", recipient_columns!(), " FROM broadcast_recipients
                         WHERE broadcast_id = $1 AND status = 'queued' AND position > $3 AND tenant_id = $2
                         ORDER BY position LIMIT $4"
                    ))
                    .bind(id.0)
                    .bind(tenant.0)
                    .bind(after.unwrap_or(-1))
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(recipient).collect()
                }

                async fn move_recipient(&self, tenant: TenantId, id: RecipientId, from: RecipientStatus, to: RecipientStatus, at: Millis) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE broadcast_recipients SET status = $4, updated_at = $5 WHERE id = $1 AND tenant_id = $2 AND status = $3",
                    )
                    .bind(id.0)
                    .bind(tenant.0)
                    .bind(from.as_str())
                    .bind(to.as_str())
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn finish_recipient(&self, tenant: TenantId, id: RecipientId, o: &Outcome) -> Result<(), StoreError> {
                    let sent_at = (o.status == RecipientStatus::Sent).then_some(o.at.0);
                    sqlx::query(
                        "UPDATE broadcast_recipients SET status = $3, error = $4, provider_id = $5, message_id = $6,
                                conversation_id = $7, sent_at = $8, updated_at = $9
                         WHERE id = $1 AND tenant_id = $2",
                    )
                    .bind(id.0)
                    .bind(tenant.0)
                    .bind(o.status.as_str())
                    .bind(&o.error)
                    .bind(&o.provider_id)
                    .bind(o.message_id.map(|m| m.0))
                    .bind(o.conversation_id.map(|c| c.0))
                    .bind(sent_at)
                    .bind(o.at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn settle_recipients(&self, tenant: TenantId, id: BroadcastId, from: RecipientStatus, to: RecipientStatus, error: &str, at: Millis) -> Result<u64, StoreError> {
                    let done = sqlx::query(
                        "UPDATE broadcast_recipients SET status = $4, error = $5, updated_at = $6
                         WHERE broadcast_id = $1 AND tenant_id = $2 AND status = $3",
                    )
                    .bind(id.0)
                    .bind(tenant.0)
                    .bind(from.as_str())
                    .bind(to.as_str())
                    .bind(error)
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(done.rows_affected())
                }

                async fn recipient_totals(&self, tenant: TenantId, id: BroadcastId) -> Result<Totals, StoreError> {
                    let mut conn = self.reader().acquire().await.map_err(backend)?;
                    totals_in(&mut conn, tenant, id).await
                }

                async fn recipients(&self, tenant: TenantId, id: BroadcastId, status: Option<RecipientStatus>, after: Option<i64>, limit: u32) -> Result<Vec<Recipient>, StoreError> {
                    let rows: Vec<RecipientRow> = sqlx::query_as(concat!(
                        "SELECT ", recipient_columns!(), " FROM broadcast_recipients
                         WHERE broadcast_id = $1 AND tenant_id = $2 AND ($3 IS NULL OR status = $3) AND position > $4
                         ORDER BY position LIMIT $5"
                    ))
                    .bind(id.0)
                    .bind(tenant.0)
                    .bind(status.map(|s| s.as_str()))
                    .bind(after.unwrap_or(-1))
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(recipient).collect()
                }

                async fn broadcast_sends_since(&self, tenant: TenantId, channel: ChannelId, since: Millis) -> Result<(u64, Option<Millis>), StoreError> {
                    let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
                        "SELECT COUNT(*), MIN(sent_at) FROM broadcast_recipients WHERE channel_id = $1 AND sent_at >= $2 AND tenant_id = $3",
                    )
                    .bind(channel.0)
                    .bind(since.0)
                    .bind(tenant.0)
                    .fetch_one(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok((u64::try_from(count).unwrap_or_default(), oldest.map(Millis)))
                }

                async fn report_recipient(&self, tenant: TenantId, message: MessageId, status: RecipientStatus, error: Option<&str>, at: Millis) -> Result<Option<BroadcastId>, StoreError> {
                    let from = status.reported_from();
                    if from.is_empty() {
                        return Ok(None);
                    }
                    let [a, b, c] = three(from)?;
                    let moved: Option<(Uuid,)> = sqlx::query_as(
                        "UPDATE broadcast_recipients SET status = $3, error = COALESCE($4, error), updated_at = $5
                         WHERE message_id = $1 AND tenant_id = $2 AND status IN ($6, $7, $8)
                         RETURNING broadcast_id",
                    )
                    .bind(message.0)
                    .bind(tenant.0)
                    .bind(status.as_str())
                    .bind(error)
                    .bind(at.0)
                    .bind(a.as_str())
                    .bind(b.as_str())
                    .bind(c.as_str())
                    .fetch_optional(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(moved.map(|(id,)| BroadcastId(id)))
                }

                async fn note_broadcast_reply(&self, tenant: TenantId, conversation: ConversationId, at: Millis) -> Result<Option<BroadcastId>, StoreError> {
                    // Read first: most customer messages answer no broadcast, and a read
                    // takes no write lock beside the ingest's group commit. No upper
                    // bound: providers stamp messages to the second, so a reply can
                    // carry a time just before the send it answers.
                    let found: Option<(Uuid, Uuid)> = sqlx::query_as(
                        "SELECT id, broadcast_id FROM broadcast_recipients
                         WHERE conversation_id = $1 AND sent_at >= $2 AND tenant_id = $3
                               AND status IN ('sent', 'delivered', 'read')
                         ORDER BY sent_at DESC LIMIT 1",
                    )
                    .bind(conversation.0)
                    .bind(at.0 - REPLY_WINDOW_MS)
                    .bind(tenant.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    let Some((id, broadcast)) = found else { return Ok(None) };
                    let done = sqlx::query(
                        "UPDATE broadcast_recipients SET status = 'replied', replied_at = $3, updated_at = $3
                         WHERE id = $1 AND tenant_id = $2 AND status IN ('sent', 'delivered', 'read')",
                    )
                    .bind(id)
                    .bind(tenant.0)
                    .bind(at.0)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok((done.rows_affected() == 1).then_some(BroadcastId(broadcast)))
                }

                async fn last_inbound_on(&self, tenant: TenantId, contact: ContactId, channel: &ChannelKey) -> Result<Option<Millis>, StoreError> {
                    let (latest,): (Option<i64>,) = sqlx::query_as(
                        "SELECT MAX(last_inbound_at) FROM conversations WHERE tenant_id = $1 AND contact_id = $2 AND channel = $3",
                    )
                    .bind(tenant.0)
                    .bind(contact.0)
                    .bind(channel.as_str())
                    .fetch_one(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(latest.map(Millis))
                }
            }
        }
    };
}

pub(crate) use impl_broadcast_store;
