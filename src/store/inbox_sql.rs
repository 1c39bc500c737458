//! The one implementation of the `InboxStore` port for both dialects (see `sql.rs`
//! for the conventions), instantiated per backend by `impl_inbox_store!`.
//!
//! Every writing transaction starts by locking the tenant's stream row (an upsert
//! that returns the epoch and newest offset). On Postgres that row lock serialises
//! the tenant's writers, so the offsets they take commit in order; on SQLite the
//! single writer does the same. Events are numbered and inserted at the end of the
//! transaction, together with the new `last_offset`.

macro_rules! impl_inbox_store {
    ($store:ty, $dialect:ident) => {
        mod inbox_impl {
            use super::*;
            use std::collections::HashMap;
            use crate::store::inbox_rows::{
                from_json, identities_json, search_text, to_json, AssignmentRow, IdentityJson, MergeRecord, ContactRow, ConversationRow, EventRow, ListedRow,
                MessageRow, TagRow,
            };
            use crate::store::rows::{backend, conflict_as};
            use async_trait::async_trait;
            use switchboard_actors::inbox::records::{
                Assignment, AssigneeFilter, Contact, ContactChange, Conversation, ConversationChange,
                ConversationCursor, ConversationFilter, Identity, Inbound, Listed, Message, Outgoing, StatusReport, Tag,
                MAX_CONTACT_EMAILS, MAX_CONTACT_PHONES,
            };
            use switchboard_actors::inbox::access::{AccessSnapshot, UserAccess};
            use switchboard_actors::inbox::store::{Changed, ContactChanged, InboxStore, Recorded, StatusUpdate};
            use switchboard_actors::inbox::stream::{Epoch, EventKind, StreamEvent, StreamHead};
            use switchboard_actors::inbox::views::payload;
            use switchboard_actors::automation::happening::Origin;
            use switchboard_actors::contacts::consent::Consent;
            use switchboard_actors::store::StoreError;
            use switchboard_actors::{
                ChannelKey, ContactId, ConversationId, ConversationStatus, DeliveryStatus, Direction, MessageId,
                Millis, RefreshFamilyId, Role, TagName, TenantId, UserId, UserStatus,
            };
            use uuid::Uuid;

            type Db = <$store as SqlBackend>::Db;
            pub(super) type Conn = <Db as sqlx::Database>::Connection;
            pub(super) type Tx = sqlx::Transaction<'static, Db>;

            macro_rules! conversation_columns {
                () => {
                    "c.tenant_id, c.id, c.channel, c.contact_id, ct.name AS contact_name, c.status,
                     c.snoozed_until, c.priority, c.assignee_id, c.tags, c.unread_count, c.last_seq,
                     c.last_message_at, c.last_inbound_at, c.created_at, c.updated_at"
                };
            }
            macro_rules! conversation_select {
                () => {
                    concat!("SELECT ", conversation_columns!(), " FROM conversations c JOIN contacts ct ON ct.id = c.contact_id ")
                };
            }
            macro_rules! message_select {
                () => {
                    "SELECT tenant_id, id, conversation_id, seq, direction, kind, body, attachment, provider_id,
                            client_id, author_id, status, error, created_at, updated_at FROM messages "
                };
            }
            macro_rules! contact_select {
                () => {
                    "SELECT tenant_id, id, name, phones, emails, identities, custom_fields, tags, merged_into,
                            opted_out, consent_source, consent_at, created_at, updated_at FROM contacts "
                };
            }

            crate::store::ingest_io::ingest_io!($dialect);

            /// The tenant's stream inside one writing transaction.
            pub(super) struct StreamTx {
                tenant: TenantId,
                epoch: Epoch,
                last_offset: i64,
                events: Vec<StreamEvent>,
            }

            impl StreamTx {
                /// Locks the tenant's stream row (creating it on first use).
                pub(super) async fn lock(conn: &mut Conn, tenant: TenantId) -> Result<Self, StoreError> {
                    lock_streams(conn, &[tenant]).await?.pop().ok_or_else(|| missing("stream"))
                }

                fn locked(tenant: TenantId, epoch: Epoch, last_offset: i64) -> Self {
                    Self { tenant, epoch, last_offset, events: Vec::new() }
                }

                pub(super) fn push(&mut self, kind: EventKind, conversation: &Conversation, data: String, at: Millis) {
                    self.append(kind, conversation.id, conversation.assignee_id, data, at);
                }

                /// An event about something other than a conversation (a session): its
                /// id goes where a conversation's would.
                pub(super) fn push_subject(&mut self, kind: EventKind, subject: ConversationId, data: String, at: Millis) {
                    self.append(kind, subject, None, data, at);
                }

                fn append(&mut self, kind: EventKind, subject: ConversationId, assignee_id: Option<UserId>, data: String, at: Millis) {
                    let offset = self.last_offset + 1 + self.events.len() as i64;
                    self.events.push(StreamEvent { epoch: self.epoch, offset, kind, conversation_id: subject, assignee_id, data, at });
                }

                /// Whether nothing was pushed.
                pub(super) fn is_empty(&self) -> bool {
                    self.events.is_empty()
                }

                /// Writes the events and the new newest offset, then commits.
                pub(super) async fn commit(self, mut tx: Tx) -> Result<Vec<StreamEvent>, StoreError> {
                    write_changes(&mut tx, &[], &[], &[&self]).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(self.events)
                }
            }

            /// Declares `name(conn, tenant, id)`: one row of the tenant by id.
            macro_rules! fetch_by_id {
                ($name:ident, $row:ty, $record:ty, $id:ty, $sql:expr) => {
                    pub(super) async fn $name(conn: &mut Conn, tenant: TenantId, id: $id) -> Result<Option<$record>, StoreError> {
                        sqlx::query_as::<_, $row>($sql)
                            .bind(tenant.0)
                            .bind(id.0)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(backend)?
                            .map(<$record>::try_from)
                            .transpose()
                    }
                };
            }
            fetch_by_id!(conversation_in, ConversationRow, Conversation, ConversationId,
                concat!(conversation_select!(), "WHERE c.tenant_id = $1 AND c.id = $2"));
            fetch_by_id!(message_in, MessageRow, Message, MessageId,
                concat!(message_select!(), "WHERE tenant_id = $1 AND id = $2"));
            fetch_by_id!(contact_in, ContactRow, Contact, ContactId,
                concat!(contact_select!(), "WHERE tenant_id = $1 AND id = $2"));

            /// Inserts a new contact with its identities.
            async fn insert_contact(conn: &mut Conn, contact: &Contact) -> Result<(), StoreError> {
                save_contact(conn, contact).await?;
                for identity in &contact.identities {
                    insert_identity(conn, contact.tenant_id, contact.id, identity).await?;
                }
                Ok(())
            }

            async fn insert_identity(conn: &mut Conn, tenant: TenantId, contact: ContactId, identity: &Identity) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO contact_identities (tenant_id, channel, external_id, contact_id) VALUES ($1, $2, $3, $4)")
                    .bind(tenant.0)
                    .bind(identity.channel.as_str())
                    .bind(&identity.external_id)
                    .bind(contact.0)
                    .execute(&mut *conn)
                    .await
                    .map_err(conflict_as("a contact with this channel identity"))?;
                Ok(())
            }

            /// Writes a contact whole: a new row, or every field of an existing one of the
            /// same tenant except its creation time. Identity rows are kept apart.
            async fn save_contact(conn: &mut Conn, contact: &Contact) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO contacts (tenant_id, id, name, phones, emails, identities, custom_fields, tags,
                                           search_text, merged_into, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (id) DO UPDATE SET
                         name = excluded.name, phones = excluded.phones, emails = excluded.emails,
                         identities = excluded.identities, custom_fields = excluded.custom_fields,
                         tags = excluded.tags, search_text = excluded.search_text,
                         merged_into = excluded.merged_into, updated_at = excluded.updated_at
                     WHERE contacts.tenant_id = excluded.tenant_id",
                )
                .bind(contact.tenant_id.0)
                .bind(contact.id.0)
                .bind(&contact.name)
                .bind(to_json(&contact.phones))
                .bind(to_json(&contact.emails))
                .bind(identities_json(&contact.identities))
                .bind(to_json(&contact.custom_fields))
                .bind(to_json(&contact.tags))
                .bind(search_text(contact))
                .bind(contact.merged_into.map(|c| c.0))
                .bind(contact.created_at.0)
                .bind(contact.updated_at.0)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
                save_handles(conn, contact).await
            }

            /// Rewrites the conversation's tag list from `conversation_tags`.
            async fn refresh_tags(conn: &mut Conn, tenant: TenantId, id: ConversationId, at: Millis) -> Result<(), StoreError> {
                let tags: Vec<(String,)> =
                    sqlx::query_as("SELECT tag FROM conversation_tags WHERE conversation_id = $1 ORDER BY tag")
                        .bind(id.0)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(backend)?;
                let tags: Vec<String> = tags.into_iter().map(|(t,)| t).collect();
                sqlx::query("UPDATE conversations SET tags = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(to_json(&tags))
                    .bind(at.0)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }

            /// A LIKE pattern (with `ESCAPE '\\'`) for text that contains `part` literally.
            fn containing(part: &str) -> String {
                let escaped = part.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                format!("%{escaped}%")
            }

            fn missing(what: &'static str) -> StoreError {
                StoreError::Backend(format!("{what} vanished inside its own transaction"))
            }

            /// Writes a consent change unless the contact's latest is as new or newer;
            /// whether it was written.
            async fn write_consent(conn: &mut Conn, tenant: TenantId, id: ContactId, consent: Consent) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE contacts SET opted_out = $3, consent_source = $4, consent_at = $5
                     WHERE tenant_id = $1 AND id = $2 AND (consent_at IS NULL OR consent_at < $5)",
                )
                .bind(tenant.0)
                .bind(id.0)
                .bind(consent.opted_out)
                .bind(consent.source.as_str())
                .bind(consent.at.0)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
                Ok(done.rows_affected() == 1)
            }

            /// The oldest live contact with this phone (or email) among its own.
            pub(super) async fn contact_with_handle(conn: &mut Conn, tenant: TenantId, value: &str, is_phone: bool) -> Result<Option<ContactId>, StoreError> {
                let found: Option<(Uuid,)> = sqlx::query_as(
                    "SELECT c.id FROM contact_handles h JOIN contacts c ON c.id = h.contact_id
                     WHERE h.tenant_id = $1 AND h.kind = $2 AND h.value = $3 AND c.merged_into IS NULL
                     ORDER BY c.created_at, c.id LIMIT 1",
                )
                .bind(tenant.0)
                .bind(handle_kind(is_phone))
                .bind(value)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
                Ok(found.map(|(id,)| ContactId(id)))
            }

            fn handle_kind(is_phone: bool) -> &'static str {
                if is_phone { "phone" } else { "email" }
            }

            /// Rewrites the contact's rows in `contact_handles`: its phones and emails
            /// while it is live, none once merged into another.
            async fn save_handles(conn: &mut Conn, contact: &Contact) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM contact_handles WHERE contact_id = $1")
                    .bind(contact.id.0)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                if contact.merged_into.is_some() {
                    return Ok(());
                }
                let handles = contact.phones.iter().map(|p| (p.as_str(), true))
                    .chain(contact.emails.iter().map(|e| (e.as_str(), false)));
                for (value, is_phone) in handles {
                    sqlx::query(
                        "INSERT INTO contact_handles (tenant_id, contact_id, kind, value) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (contact_id, kind, value) DO NOTHING",
                    )
                    .bind(contact.tenant_id.0)
                    .bind(contact.id.0)
                    .bind(handle_kind(is_phone))
                    .bind(value)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                }
                Ok(())
            }

            /// The contact for a sender whose channel identity is new: it joins the
            /// contact with the same phone, or else the same email, so one person stays
            /// one contact across channels; only a stranger gets a new contact. Callers
            /// hold the tenant's stream lock, so two deliveries for one new person cannot
            /// both create one.
            async fn contact_for_new_identity(conn: &mut Conn, tenant: TenantId, inbound: &Inbound) -> Result<ContactId, StoreError> {
                let handles = [
                    (inbound.sender_phone.as_ref().map(|p| p.as_str().to_owned()), true),
                    (inbound.sender_email.as_ref().map(|e| e.as_str().to_owned()), false),
                ];
                for (value, is_phone) in handles {
                    let Some(value) = value else { continue };
                    if let Some(id) = contact_with_handle(conn, tenant, &value, is_phone).await? {
                        let mut contact = contact_in(conn, tenant, id).await?.ok_or_else(|| missing("contact"))?;
                        insert_identity(conn, tenant, contact.id, &inbound.sender).await?;
                        contact.identities.push(inbound.sender.clone());
                        // Bounded like a client's lists: a stream of new identities
                        // naming one email cannot grow one contact without end.
                        if let Some(phone) = inbound.sender_phone.as_ref()
                            .filter(|p| !contact.phones.contains(p) && contact.phones.len() < MAX_CONTACT_PHONES)
                        {
                            contact.phones.push(phone.clone());
                        }
                        if let Some(email) = inbound.sender_email.as_ref()
                            .filter(|e| !contact.emails.contains(e) && contact.emails.len() < MAX_CONTACT_EMAILS)
                        {
                            contact.emails.push(email.clone());
                        }
                        contact.updated_at = inbound.received_at;
                        save_contact(conn, &contact).await?;
                        return Ok(contact.id);
                    }
                }
                let contact = Contact {
                    tenant_id: tenant,
                    id: ContactId::new(),
                    name: inbound.sender_name.clone(),
                    phones: inbound.sender_phone.iter().cloned().collect(),
                    emails: inbound.sender_email.iter().cloned().collect(),
                    identities: vec![inbound.sender.clone()],
                    custom_fields: Default::default(),
                    tags: Vec::new(),
                    merged_into: None,
                    consent: None,
                    created_at: inbound.received_at,
                    updated_at: inbound.received_at,
                };
                insert_contact(conn, &contact).await?;
                Ok(contact.id)
            }

            /// The contact's latest conversation on the channel.
            async fn latest_conversation(conn: &mut Conn, tenant: TenantId, inbound: &Inbound, contact: ContactId) -> Result<Option<(Uuid, String)>, StoreError> {
                sqlx::query_as(
                    "SELECT id, status FROM conversations WHERE tenant_id = $1 AND channel = $2 AND contact_id = $3
                     ORDER BY created_at DESC, id DESC LIMIT 1",
                )
                .bind(tenant.0)
                .bind(inbound.channel.as_str())
                .bind(contact.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)
            }

            /// The contact's current conversation on the channel (`latest`), or a new one
            /// when there is none or the last one was closed.
            async fn resolve_conversation(conn: &mut Conn, tenant: TenantId, inbound: &Inbound, contact: ContactId, latest: Option<(Uuid, String)>) -> Result<ConversationId, StoreError> {
                if let Some((id, status)) = latest {
                    if status != ConversationStatus::Closed.as_str() {
                        return Ok(ConversationId(id));
                    }
                }
                let id = ConversationId::new();
                let at = inbound.received_at.0;
                sqlx::query(
                    "INSERT INTO conversations (tenant_id, id, channel, contact_id, status, snoozed_until, priority,
                                                assignee_id, tags, unread_count, last_seq, last_message_at, activity_at,
                                                created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'open', NULL, 'normal', NULL, '[]', 0, 0, NULL, $5, $5, $5)",
                )
                .bind(tenant.0)
                .bind(id.0)
                .bind(inbound.channel.as_str())
                .bind(contact.0)
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
                Ok(id)
            }

            /// Publishes `conversation.updated` for each conversation (a contact moved).
            async fn conversation_events(conn: &mut Conn, stream: &mut StreamTx, tenant: TenantId, ids: &[Uuid], at: Millis) -> Result<(), StoreError> {
                for id in ids {
                    let conversation =
                        conversation_in(conn, tenant, ConversationId(*id)).await?.ok_or_else(|| missing("conversation"))?;
                    stream.push(EventKind::ConversationUpdated, &conversation, payload::conversation(&conversation), at);
                }
                Ok(())
            }

            /// The message a provider knows by `provider_id` on `channel`.
            async fn provider_message(conn: &mut Conn, tenant: TenantId, channel: &ChannelKey, provider_id: &str) -> Result<Option<Message>, StoreError> {
                sqlx::query_as::<_, MessageRow>(concat!(
                    message_select!(),
                    "WHERE tenant_id = $1 AND channel = $2 AND provider_id = $3"
                ))
                .bind(tenant.0)
                .bind(channel.as_str())
                .bind(provider_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?
                .map(Message::try_from)
                .transpose()
            }

            /// What the tables said of one message of an ingest batch before it was
            /// written: the message already stored under its provider id (a replay), and
            /// for a known sender the contact and its latest conversation on the channel.
            pub(super) struct Found {
                stored: Option<MessageId>,
                contact: Option<ContactId>,
                latest: Option<(Uuid, String)>,
            }

            /// The look-up's rows (`n`, stored message, contact, latest conversation and its
            /// status), one per message in batch order.
            fn found_in_order(rows: Vec<(i64, Option<Uuid>, Option<Uuid>, Option<Uuid>, Option<String>)>, expected: usize) -> Result<Vec<Found>, StoreError> {
                if rows.len() != expected {
                    return Err(StoreError::Backend(format!("ingest look-up answered {} rows for {expected} messages", rows.len())));
                }
                Ok(rows
                    .into_iter()
                    .map(|(_, stored, contact, conversation, status)| Found {
                        stored: stored.map(MessageId),
                        contact: contact.map(ContactId),
                        latest: conversation.zip(status),
                    })
                    .collect())
            }

            /// Where one message of an ingest batch goes, decided before anything is written.
            enum Placed {
                /// A new message in this conversation.
                New(ConversationId),
                /// The provider id was stored before this batch.
                Stored(MessageId),
                /// The provider id came earlier in this batch, as message `n`.
                Repeat(usize),
            }

            /// Records a batch of customer messages (of one tenant or several) inside one
            /// transaction with a handful of statements, whatever its size: one look-up
            /// for every sender and replay, one read of the conversations, then the
            /// messages, the conversations' counters and the events in one write
            /// (`write_changes`; one statement on Postgres). Only what is new to a tenant (a first contact, a
            /// conversation to open) takes statements of its own. Each message's event
            /// carries its conversation as that message left it, the same as storing them
            /// one by one. `streams` holds the locked stream of every tenant in the batch.
            async fn record_batch(conn: &mut Conn, streams: &mut HashMap<TenantId, StreamTx>, batch: &[(TenantId, Inbound)]) -> Result<Vec<Recorded>, StoreError> {
                let found = look_up_batch(conn, batch).await?;
                // Contacts and current conversations settled earlier in the batch: the
                // look-up saw the tables before any of it.
                let mut contacts: HashMap<(TenantId, &str, &str), ContactId> = HashMap::new();
                let mut current: HashMap<(ContactId, &str), (TenantId, ConversationId)> = HashMap::new();
                let mut provider_ids: HashMap<(TenantId, &str, &str), usize> = HashMap::new();
                let mut placed = Vec::with_capacity(batch.len());
                for (n, ((tenant, inbound), found)) in batch.iter().zip(found).enumerate() {
                    let (tenant, channel) = (*tenant, inbound.channel.as_str());
                    if let Some(provider_id) = inbound.provider_id.as_deref() {
                        if let Some(first) = provider_ids.get(&(tenant, channel, provider_id)) {
                            placed.push(Placed::Repeat(*first));
                            continue;
                        }
                        if let Some(stored) = found.stored {
                            placed.push(Placed::Stored(stored));
                            continue;
                        }
                        provider_ids.insert((tenant, channel, provider_id), n);
                    }
                    let sender = (tenant, inbound.sender.channel.as_str(), inbound.sender.external_id.as_str());
                    let (contact, latest) = match (contacts.get(&sender), found.contact) {
                        (Some(contact), _) => (*contact, None),
                        (None, Some(contact)) => (contact, Some(found.latest)),
                        (None, None) => (contact_for_new_identity(conn, tenant, inbound).await?, None),
                    };
                    contacts.insert(sender, contact);
                    let conversation = match current.get(&(contact, channel)) {
                        Some((_, conversation)) => *conversation,
                        None => {
                            let latest = match latest {
                                Some(latest) => latest,
                                None => latest_conversation(conn, tenant, inbound, contact).await?,
                            };
                            resolve_conversation(conn, tenant, inbound, contact, latest).await?
                        }
                    };
                    current.insert((contact, channel), (tenant, conversation));
                    placed.push(Placed::New(conversation));
                }

                let mut ids: Vec<(TenantId, ConversationId)> = current.into_values().collect();
                ids.sort_by_key(|(_, id)| id.0);
                let mut conversations: HashMap<ConversationId, Conversation> =
                    conversations_by_id(conn, &ids).await?.into_iter().map(|c| (c.id, c)).collect();
                let mut recorded: Vec<Recorded> = Vec::with_capacity(batch.len());
                let mut new_messages = Vec::new();
                for ((tenant, inbound), placed) in batch.iter().zip(placed) {
                    let tenant = *tenant;
                    let one = match placed {
                        Placed::New(id) => {
                            let conversation = conversations.get_mut(&id).ok_or_else(|| missing("conversation"))?;
                            let stream = streams.get_mut(&tenant).ok_or_else(|| missing("stream"))?;
                            let message = Message {
                                tenant_id: tenant,
                                id: MessageId::new(),
                                conversation_id: id,
                                seq: conversation.take_seq(inbound.direction, inbound.received_at),
                                direction: inbound.direction,
                                kind: inbound.kind,
                                body: inbound.body.clone(),
                                attachment: inbound.attachment.clone(),
                                provider_id: inbound.provider_id.clone(),
                                client_id: None,
                                author_id: None,
                                // It reached us, so it was delivered; an echo was sent by the business.
                                status: if inbound.direction == Direction::Inbound { DeliveryStatus::Delivered } else { DeliveryStatus::Sent },
                                error: None,
                                created_at: inbound.received_at,
                                updated_at: inbound.received_at,
                            };
                            let first = stream.events.len();
                            stream.push(EventKind::MessageNew, conversation, payload::message_new(&message, conversation), message.created_at);
                            new_messages.push((message.clone(), inbound.channel.as_str()));
                            Recorded { message, conversation: conversation.clone(), events: stream.events[first..].to_vec(), duplicate: false }
                        }
                        Placed::Stored(id) => {
                            let seen = message_in(conn, tenant, id).await?.ok_or_else(|| missing("message"))?;
                            stored_as_duplicate(conn, tenant, seen).await?
                        }
                        Placed::Repeat(first) => {
                            let first = recorded.get(first).ok_or_else(|| missing("message"))?;
                            Recorded { events: Vec::new(), duplicate: true, ..first.clone() }
                        }
                    };
                    recorded.push(one);
                }
                let touched: Vec<&Conversation> = ids.iter().filter_map(|(_, id)| conversations.get(id)).collect();
                write_changes(conn, &new_messages, &touched, &streams.values().collect::<Vec<_>>()).await?;
                Ok(recorded)
            }

            async fn stored_as_duplicate(conn: &mut Conn, tenant: TenantId, message: Message) -> Result<Recorded, StoreError> {
                let conversation = conversation_in(conn, tenant, message.conversation_id).await?.ok_or_else(|| missing("conversation"))?;
                Ok(Recorded { message, conversation, events: Vec::new(), duplicate: true })
            }

            #[async_trait]
            impl InboxStore for $store {
                async fn access_snapshot(&self, tenant: TenantId, ended_since: Millis) -> Result<AccessSnapshot, StoreError> {
                    let mut conn = self.reader().acquire().await.map_err(backend)?;
                    let users: Vec<(Uuid, String, String)> =
                        sqlx::query_as("SELECT id, role, status FROM users WHERE tenant_id = $1")
                            .bind(tenant.0)
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(backend)?;
                    let ended: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT DISTINCT family_id FROM refresh_tokens WHERE tenant_id = $1 AND revoked_at >= $2",
                    )
                    .bind(tenant.0)
                    .bind(ended_since.0)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?;
                    let corrupt = crate::store::rows::corrupt("user");
                    let users = users
                        .into_iter()
                        .map(|(id, role, status)| {
                            Ok(UserAccess {
                                user: UserId(id),
                                role: Role::parse(&role).map_err(&corrupt)?,
                                status: UserStatus::parse(&status).map_err(&corrupt)?,
                            })
                        })
                        .collect::<Result<_, StoreError>>()?;
                    Ok(AccessSnapshot { users, ended: ended.into_iter().map(|(id,)| RefreshFamilyId(id)).collect() })
                }

                async fn stream_head(&self, tenant: TenantId) -> Result<StreamHead, StoreError> {
                    // One connection at a time: on Postgres readers and writers share a
                    // pool, and holding a reader while waiting for a writer let as many
                    // new tenants as the pool has connections wait on each other until
                    // the acquire timeout.
                    let row: Option<(Uuid, i64)> =
                        sqlx::query_as("SELECT epoch, last_offset FROM tenant_streams WHERE tenant_id = $1")
                            .bind(tenant.0)
                            .fetch_optional(self.reader())
                            .await
                            .map_err(backend)?;
                    let (epoch, last_offset) = match row {
                        Some(row) => row,
                        None => {
                            let mut tx = self.begin_write().await.map_err(backend)?;
                            let stream = StreamTx::lock(&mut tx, tenant).await?;
                            tx.commit().await.map_err(backend)?;
                            (stream.epoch.0, stream.last_offset)
                        }
                    };
                    let (first,): (Option<i64>,) =
                        sqlx::query_as("SELECT MIN(stream_offset) FROM stream_events WHERE tenant_id = $1")
                            .bind(tenant.0)
                            .fetch_one(self.reader())
                            .await
                            .map_err(backend)?;
                    Ok(StreamHead { epoch: Epoch(epoch), last_offset, first_kept: first.unwrap_or(last_offset + 1) })
                }

                async fn events_after(&self, tenant: TenantId, after: i64, limit: u32) -> Result<Vec<StreamEvent>, StoreError> {
                    sqlx::query_as::<_, EventRow>(concat!(
                        crate::store::inbox_rows::event_select!(),
                        "WHERE e.tenant_id = $1 AND e.stream_offset > $2 ORDER BY e.stream_offset LIMIT $3",
                    ))
                    .bind(tenant.0)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(StreamEvent::try_from)
                    .collect()
                }

                async fn prune_events(&self, before: Millis) -> Result<u64, StoreError> {
                    let done = sqlx::query("DELETE FROM stream_events WHERE created_at < $1")
                        .bind(before.0)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(done.rows_affected())
                }

                async fn ingest_batch(&self, batch: &[(TenantId, Inbound)]) -> Result<Vec<Recorded>, StoreError> {
                    let mut tx = self.begin_ingest().await.map_err(backend)?;
                    // Every tenant's stream row, in id order: two transactions that both
                    // lock several never wait on each other in a cycle.
                    let mut tenants: Vec<TenantId> = batch.iter().map(|(tenant, _)| *tenant).collect();
                    tenants.sort_by_key(|tenant| tenant.0);
                    tenants.dedup();
                    let mut streams: HashMap<TenantId, StreamTx> =
                        lock_streams(&mut tx, &tenants).await?.into_iter().map(|s| (s.tenant, s)).collect();
                    let recorded = record_batch(&mut tx, &mut streams, batch).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(recorded)
                }

                async fn append_message(&self, tenant: TenantId, id: ConversationId, outgoing: &Outgoing) -> Result<Option<Recorded>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let Some(conversation) = conversation_in(&mut tx, tenant, id).await? else {
                        return Ok(None);
                    };
                    if let Some(client_id) = &outgoing.client_id {
                        // Without an author (the bot, an API key) the client id alone
                        // names the message in its conversation.
                        let seen = sqlx::query_as::<_, MessageRow>(concat!(
                            message_select!(),
                            "WHERE tenant_id = $1 AND client_id = $3
                               AND CASE WHEN $2 IS NULL THEN author_id IS NULL AND conversation_id = $4 ELSE author_id = $2 END"
                        ))
                        .bind(tenant.0)
                        .bind(outgoing.author_id.map(|a| a.0))
                        .bind(client_id.as_str())
                        .bind(id.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                        if let Some(seen) = seen {
                            return stored_as_duplicate(&mut tx, tenant, Message::try_from(seen)?).await.map(Some);
                        }
                    }
                    let mut conversation = conversation;
                    let seq = conversation.take_seq(outgoing.direction, outgoing.at);
                    let message = Message {
                        tenant_id: tenant,
                        id: MessageId::new(),
                        conversation_id: id,
                        seq,
                        direction: outgoing.direction,
                        kind: outgoing.kind,
                        body: outgoing.body.clone(),
                        attachment: outgoing.attachment.clone(),
                        provider_id: None,
                        client_id: outgoing.client_id.clone(),
                        author_id: outgoing.author_id,
                        // A note is complete once stored; a reply waits for its channel.
                        status: if outgoing.direction == Direction::Note { DeliveryStatus::Sent } else { DeliveryStatus::Pending },
                        error: None,
                        created_at: outgoing.at,
                        updated_at: outgoing.at,
                    };
                    stream.push(EventKind::MessageNew, &conversation, payload::message_new(&message, &conversation), message.created_at);
                    write_changes(&mut tx, &[(message.clone(), conversation.channel.as_str())], &[&conversation], &[&stream]).await?;
                    tx.commit().await.map_err(backend)?;
                    let events = stream.events;
                    Ok(Some(Recorded { message, conversation, events, duplicate: false }))
                }

                async fn message_by_provider_id(&self, tenant: TenantId, channel: &ChannelKey, provider_id: &str) -> Result<Option<Message>, StoreError> {
                    let mut conn = self.reader().acquire().await.map_err(backend)?;
                    provider_message(&mut conn, tenant, channel, provider_id).await
                }

                async fn unread_replies(&self, tenant: TenantId, channel: &ChannelKey, external_id: &str, until: Millis) -> Result<Vec<Message>, StoreError> {
                    sqlx::query_as::<_, MessageRow>(concat!(
                        message_select!(),
                        "WHERE tenant_id = $1 AND direction = 'outbound' AND status IN ('sent', 'delivered') AND created_at <= $4
                           AND conversation_id IN (
                               SELECT c.id FROM contact_identities i
                               JOIN conversations c ON c.tenant_id = i.tenant_id AND c.contact_id = i.contact_id AND c.channel = i.channel
                               WHERE i.tenant_id = $1 AND i.channel = $2 AND i.external_id = $3)
                         ORDER BY created_at, seq LIMIT 1000"
                    ))
                    .bind(tenant.0)
                    .bind(channel.as_str())
                    .bind(external_id)
                    .bind(until.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Message::try_from)
                    .collect()
                }

                async fn stalled_replies(&self, before: Millis, limit: u32) -> Result<Vec<(ChannelKey, Message)>, StoreError> {
                    let rows: Vec<(String, Uuid, Uuid)> = sqlx::query_as(
                        "SELECT channel, tenant_id, id FROM messages
                         WHERE direction = 'outbound' AND status = 'pending' AND created_at < $1
                         ORDER BY created_at, id LIMIT $2",
                    )
                    .bind(before.0)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    let mut conn = self.reader().acquire().await.map_err(backend)?;
                    let mut stalled = Vec::with_capacity(rows.len());
                    for (channel, tenant, id) in rows {
                        let channel = ChannelKey::parse(&channel).map_err(crate::store::rows::corrupt("message"))?;
                        if let Some(message) = message_in(&mut conn, TenantId(tenant), MessageId(id)).await? {
                            stalled.push((channel, message));
                        }
                    }
                    Ok(stalled)
                }

                async fn leads(&self, tenant: TenantId, contact: ContactId) -> Result<Vec<Message>, StoreError> {
                    sqlx::query_as::<_, MessageRow>(concat!(
                        message_select!(),
                        "WHERE tenant_id = $1 AND kind = 'lead'
                           AND conversation_id IN (SELECT id FROM conversations WHERE tenant_id = $1 AND contact_id = $2)
                         ORDER BY created_at DESC, id DESC"
                    ))
                    .bind(tenant.0)
                    .bind(contact.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Message::try_from)
                    .collect()
                }

                async fn advance_message_status(
                    &self,
                    tenant: TenantId,
                    id: MessageId,
                    report: &StatusReport,
                ) -> Result<StatusUpdate, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let Some(mut message) = message_in(&mut tx, tenant, id).await? else {
                        return Ok(StatusUpdate::UnknownMessage);
                    };
                    let Some(next) = message.status.advance_to(report.status) else {
                        return Ok(StatusUpdate::Stale(message));
                    };
                    let at = report.at;
                    message.status = next;
                    message.updated_at = at;
                    if message.provider_id.is_none() {
                        message.provider_id = report.provider_id.clone();
                    }
                    if message.error.is_none() {
                        message.error = report.error.clone();
                    }
                    sqlx::query("UPDATE messages SET status = $3, provider_id = $4, error = $5, updated_at = $6 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.0)
                        .bind(id.0)
                        .bind(next.as_str())
                        .bind(message.provider_id.as_deref())
                        .bind(message.error.as_deref())
                        .bind(at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let conversation =
                        conversation_in(&mut tx, tenant, message.conversation_id).await?.ok_or_else(|| missing("conversation"))?;
                    stream.push(EventKind::MessageStatus, &conversation, payload::message_status(&message), at);
                    let events = stream.commit(tx).await?;
                    Ok(StatusUpdate::Advanced { message, events })
                }

                async fn change_conversation(
                    &self,
                    tenant: TenantId,
                    id: ConversationId,
                    change: &ConversationChange,
                    origin: Option<&Origin>,
                    at: Millis,
                ) -> Result<Option<Changed>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let Some(before) = conversation_in(&mut tx, tenant, id).await? else {
                        return Ok(None);
                    };
                    let mut kind = EventKind::ConversationUpdated;
                    let mut assigned_by = None;
                    match change {
                        ConversationChange::Status { status, snoozed_until } => {
                            sqlx::query("UPDATE conversations SET status = $3, snoozed_until = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2")
                                .bind(tenant.0)
                                .bind(id.0)
                                .bind(status.as_str())
                                .bind(snoozed_until.map(|s| s.0))
                                .bind(at.0)
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                        }
                        ConversationChange::Priority(priority) => {
                            sqlx::query("UPDATE conversations SET priority = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
                                .bind(tenant.0)
                                .bind(id.0)
                                .bind(priority.as_str())
                                .bind(at.0)
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                        }
                        ConversationChange::Assign { assignee, by } => {
                            // The assignee must be an active member of this tenant.
                            let done = sqlx::query(
                                "UPDATE conversations SET assignee_id = $3, updated_at = $4
                                 WHERE tenant_id = $1 AND id = $2
                                   AND ($3 IS NULL OR EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = $1 AND u.id = $3 AND u.status = 'active'))",
                            )
                            .bind(tenant.0)
                            .bind(id.0)
                            .bind(assignee.map(|a| a.0))
                            .bind(at.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                            if done.rows_affected() == 0 {
                                return Err(StoreError::Conflict("an assignment to a user outside this tenant"));
                            }
                            sqlx::query("INSERT INTO assignments (tenant_id, conversation_id, assignee_id, assigned_by, created_at) VALUES ($1, $2, $3, $4, $5)")
                                .bind(tenant.0)
                                .bind(id.0)
                                .bind(assignee.map(|a| a.0))
                                .bind(by.map(|b| b.0))
                                .bind(at.0)
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                            kind = EventKind::ConversationAssigned;
                            assigned_by = *by;
                        }
                        ConversationChange::Tag { tag, present: true } => {
                            sqlx::query("INSERT INTO tags (tenant_id, name, color, created_at) VALUES ($1, $2, NULL, $3) ON CONFLICT (tenant_id, name) DO NOTHING")
                                .bind(tenant.0)
                                .bind(tag.as_str())
                                .bind(at.0)
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                            sqlx::query("INSERT INTO conversation_tags (tenant_id, conversation_id, tag) VALUES ($1, $2, $3) ON CONFLICT (conversation_id, tag) DO NOTHING")
                                .bind(tenant.0)
                                .bind(id.0)
                                .bind(tag.as_str())
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                            refresh_tags(&mut tx, tenant, id, at).await?;
                        }
                        ConversationChange::Tag { tag, present: false } => {
                            sqlx::query("DELETE FROM conversation_tags WHERE tenant_id = $1 AND conversation_id = $2 AND tag = $3")
                                .bind(tenant.0)
                                .bind(id.0)
                                .bind(tag.as_str())
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                            refresh_tags(&mut tx, tenant, id, at).await?;
                        }
                        ConversationChange::Read => {
                            sqlx::query("UPDATE conversations SET unread_count = 0, updated_at = $3 WHERE tenant_id = $1 AND id = $2")
                                .bind(tenant.0)
                                .bind(id.0)
                                .bind(at.0)
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                        }
                    }
                    let conversation = conversation_in(&mut tx, tenant, id).await?.ok_or_else(|| missing("conversation"))?;
                    let data = if kind == EventKind::ConversationAssigned {
                        payload::assigned(&conversation, assigned_by, origin)
                    } else {
                        payload::changed(&conversation, payload::what_changed(&before, &conversation, change), origin)
                    };
                    stream.push(kind, &conversation, data, at);
                    let events = stream.commit(tx).await?;
                    Ok(Some(Changed { conversation, events }))
                }

                async fn conversation(&self, tenant: TenantId, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
                    let mut conn = self.reader().acquire().await.map_err(backend)?;
                    conversation_in(&mut conn, tenant, id).await
                }

                async fn conversations(
                    &self,
                    tenant: TenantId,
                    filter: &ConversationFilter,
                    after: Option<ConversationCursor>,
                    limit: u32,
                ) -> Result<Vec<Listed>, StoreError> {
                    let (nobody, assignee) = match filter.assignee {
                        Some(AssigneeFilter::Nobody) => (1_i32, None),
                        Some(AssigneeFilter::User(user)) => (0, Some(user.0)),
                        None => (0, None),
                    };
                    let contact_pattern = filter
                        .contact_matches
                        .as_deref()
                        .map(|q| containing(&q.trim().to_lowercase()));
                    sqlx::query_as::<_, ListedRow>(concat!(
                        "SELECT ", conversation_columns!(), ",
                                lm.direction AS last_direction, lm.kind AS last_kind, lm.body AS last_body, lm.author_id AS last_author_id,
                                lm.status AS last_status,
                                l.score AS lead_score, l.temperature AS lead_temperature, l.sentiment AS lead_sentiment,
                                l.handoff_state AS lead_handoff
                         FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
                         LEFT JOIN messages lm ON lm.conversation_id = c.id AND lm.seq = c.last_seq
                         LEFT JOIN conversation_leads l ON l.conversation_id = c.id
                         WHERE c.tenant_id = $1
                           AND ($2 IS NULL OR c.status = $2)
                           AND ($3 = 0 OR c.assignee_id IS NULL)
                           AND ($4 IS NULL OR c.assignee_id = $4)
                           AND ($5 IS NULL OR EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation_id = c.id AND t.tag = $5))
                           AND ($6 IS NULL OR c.channel = $6)
                           AND ($7 = 0 OR c.unread_count > 0)
                           AND ($8 IS NULL OR c.activity_at < $8 OR (c.activity_at = $8 AND c.id < $9))
                           AND ($11 IS NULL OR ct.search_text LIKE $11 ESCAPE '\\')
                           AND ($12 IS NULL OR l.temperature = $12)
                           AND ($13 IS NULL OR l.sentiment = $13)
                           AND ($14 IS NULL OR l.handoff_state = $14)
                         ORDER BY c.activity_at DESC, c.id DESC
                         LIMIT $10"
                    ))
                    .bind(tenant.0)
                    .bind(filter.status.map(|s| s.as_str()))
                    .bind(nobody)
                    .bind(assignee)
                    .bind(filter.tag.as_ref().map(|t| t.as_str()))
                    .bind(filter.channel.as_ref().map(|c| c.as_str()))
                    .bind(i32::from(filter.unread_only))
                    .bind(after.map(|a| a.activity_at.0))
                    .bind(after.map(|a| a.id.0))
                    .bind(i64::from(limit))
                    .bind(contact_pattern)
                    .bind(filter.temperature.map(|t| t.as_str()))
                    .bind(filter.sentiment.map(|s| s.as_str()))
                    .bind(filter.handoff.map(|h| h.as_str()))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Listed::try_from)
                    .collect()
                }

                async fn messages(&self, tenant: TenantId, id: ConversationId, before: Option<i64>, limit: u32) -> Result<Vec<Message>, StoreError> {
                    let mut page = sqlx::query_as::<_, MessageRow>(concat!(
                        message_select!(),
                        "WHERE tenant_id = $1 AND conversation_id = $2 AND ($3 IS NULL OR seq < $3)
                         ORDER BY seq DESC LIMIT $4"
                    ))
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(before)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Message::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                    page.reverse();
                    Ok(page)
                }

                async fn message(&self, tenant: TenantId, id: MessageId) -> Result<Option<Message>, StoreError> {
                    let mut conn = self.reader().acquire().await.map_err(backend)?;
                    message_in(&mut conn, tenant, id).await
                }

                async fn assignments(&self, tenant: TenantId, id: ConversationId) -> Result<Vec<Assignment>, StoreError> {
                    Ok(sqlx::query_as::<_, AssignmentRow>(
                        "SELECT conversation_id, assignee_id, assigned_by, created_at FROM assignments
                         WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY created_at DESC",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Assignment::from)
                    .collect())
                }

                async fn create_contact(&self, contact: &Contact) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    insert_contact(&mut tx, contact).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn contact(&self, tenant: TenantId, id: ContactId) -> Result<Option<Contact>, StoreError> {
                    let mut conn = self.reader().acquire().await.map_err(backend)?;
                    contact_in(&mut conn, tenant, id).await
                }

                async fn update_contact(&self, tenant: TenantId, id: ContactId, change: &ContactChange, at: Millis) -> Result<Option<ContactChanged>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    // Taken first, like every writer that may publish (see StreamTx).
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let Some(mut contact) = contact_in(&mut tx, tenant, id).await? else {
                        return Ok(None);
                    };
                    let renamed = change.name.as_ref().is_some_and(|name| *name != contact.name);
                    if let Some(name) = &change.name {
                        contact.name = name.clone();
                    }
                    if let Some(phones) = &change.phones {
                        contact.phones = phones.clone();
                    }
                    if let Some(emails) = &change.emails {
                        contact.emails = emails.clone();
                    }
                    if let Some(fields) = &change.custom_fields {
                        contact.custom_fields = fields.clone();
                    }
                    if let Some(tags) = &change.tags {
                        contact.tags = tags.clone();
                    }
                    contact.updated_at = at;
                    save_contact(&mut tx, &contact).await?;
                    if renamed {
                        let shown: Vec<(Uuid,)> = sqlx::query_as("SELECT id FROM conversations WHERE tenant_id = $1 AND contact_id = $2 ORDER BY id")
                            .bind(tenant.0)
                            .bind(id.0)
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(backend)?;
                        for (conversation,) in shown {
                            let conversation = conversation_in(&mut tx, tenant, ConversationId(conversation)).await?.ok_or_else(|| missing("conversation"))?;
                            stream.push(EventKind::ConversationUpdated, &conversation, payload::conversation(&conversation), at);
                        }
                    }
                    let events = stream.commit(tx).await?;
                    Ok(Some(ContactChanged { contact, events }))
                }

                async fn record_consent(&self, tenant: TenantId, id: ContactId, consent: Consent) -> Result<Option<(Contact, bool)>, StoreError> {
                    let mut conn = self.writer().acquire().await.map_err(backend)?;
                    let taken = write_consent(&mut conn, tenant, id, consent).await?;
                    Ok(contact_in(&mut conn, tenant, id).await?.map(|c| (c, taken)))
                }

                async fn search_contacts(&self, tenant: TenantId, query: Option<&str>, after: Option<ContactId>, limit: u32) -> Result<Vec<Contact>, StoreError> {
                    let pattern = query.map(|q| {
                        containing(&q.trim().to_lowercase())
                    });
                    sqlx::query_as::<_, ContactRow>(concat!(
                        contact_select!(),
                        "WHERE tenant_id = $1 AND merged_into IS NULL
                           AND ($2 IS NULL OR search_text LIKE $2 ESCAPE '\\')
                           AND ($3 IS NULL OR id < $3)
                         ORDER BY id DESC LIMIT $4"
                    ))
                    .bind(tenant.0)
                    .bind(pattern)
                    .bind(after.map(|a| a.0))
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Contact::try_from)
                    .collect()
                }

                async fn merge_contacts(&self, tenant: TenantId, keep: ContactId, absorb: ContactId, at: Millis) -> Result<Option<ContactChanged>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let (Some(mut kept), Some(mut absorbed)) =
                        (contact_in(&mut tx, tenant, keep).await?, contact_in(&mut tx, tenant, absorb).await?)
                    else {
                        return Ok(None);
                    };
                    if keep == absorb || kept.merged_into.is_some() || absorbed.merged_into.is_some() {
                        return Ok(None);
                    }
                    sqlx::query("UPDATE contact_identities SET contact_id = $2 WHERE tenant_id = $1 AND contact_id = $3")
                        .bind(tenant.0)
                        .bind(keep.0)
                        .bind(absorb.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let moved: Vec<(Uuid,)> = sqlx::query_as("SELECT id FROM conversations WHERE tenant_id = $1 AND contact_id = $2 ORDER BY id")
                        .bind(tenant.0)
                        .bind(absorb.0)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend)?;
                    sqlx::query("UPDATE conversations SET contact_id = $2, updated_at = $4 WHERE tenant_id = $1 AND contact_id = $3")
                        .bind(tenant.0)
                        .bind(keep.0)
                        .bind(absorb.0)
                        .bind(at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    // The absorbed contact keeps its own data (hidden behind
                    // `merged_into`); what the kept one gains is recorded so an unmerge
                    // can take exactly that away again.
                    let mut added = MergeRecord {
                        identities: absorbed.identities.iter().map(|i| IdentityJson {
                            channel: i.channel.to_string(),
                            external_id: i.external_id.clone(),
                        }).collect(),
                        conversations: moved.iter().map(|(id,)| *id).collect(),
                        ..MergeRecord::default()
                    };
                    for phone in absorbed.phones.iter().filter(|p| !kept.phones.contains(p)).cloned().collect::<Vec<_>>() {
                        added.phones.push(phone.as_str().to_owned());
                        kept.phones.push(phone);
                    }
                    for email in absorbed.emails.iter().filter(|e| !kept.emails.contains(e)).cloned().collect::<Vec<_>>() {
                        added.emails.push(email.as_str().to_owned());
                        kept.emails.push(email);
                    }
                    kept.identities.extend(absorbed.identities.iter().cloned());
                    for tag in absorbed.tags.iter().filter(|t| !kept.tags.contains(t)).cloned().collect::<Vec<_>>() {
                        added.tags.push(tag.to_string());
                        kept.tags.push(tag);
                    }
                    for (key, value) in &absorbed.custom_fields {
                        if !kept.custom_fields.contains_key(key) {
                            added.fields.push(key.clone());
                            kept.custom_fields.insert(key.clone(), value.clone());
                        }
                    }
                    kept.updated_at = at;
                    absorbed.merged_into = Some(keep);
                    absorbed.updated_at = at;
                    save_contact(&mut tx, &absorbed).await?;
                    save_contact(&mut tx, &kept).await?;
                    // Consent goes with the person: the newer change of the two stands, as
                    // if they had been one contact all along (an opt-out is never lost).
                    if let Some(consent) = absorbed.consent.filter(|c| kept.consent.is_none_or(|k| k.at < c.at)) {
                        write_consent(&mut tx, tenant, keep, consent).await?;
                        kept.consent = Some(consent);
                    }
                    sqlx::query(
                        "INSERT INTO contact_merges (tenant_id, kept_id, absorbed_id, added, merged_at, undone_at)
                         VALUES ($1, $2, $3, $4, $5, NULL)",
                    )
                    .bind(tenant.0)
                    .bind(keep.0)
                    .bind(absorb.0)
                    .bind(to_json(&added))
                    .bind(at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    conversation_events(&mut tx, &mut stream, tenant, &added.conversations, at).await?;
                    let events = stream.commit(tx).await?;
                    Ok(Some(ContactChanged { contact: kept, events }))
                }

                async fn unmerge_contact(&self, tenant: TenantId, absorbed_id: ContactId, at: Millis) -> Result<Option<ContactChanged>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let record: Option<(Uuid, String)> = sqlx::query_as(
                        "SELECT kept_id, added FROM contact_merges
                         WHERE tenant_id = $1 AND absorbed_id = $2 AND undone_at IS NULL",
                    )
                    .bind(tenant.0)
                    .bind(absorbed_id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let Some((kept_id, added)) = record else {
                        return Ok(None);
                    };
                    let added: MergeRecord = from_json("contact merge", &added)?;
                    let kept_id = ContactId(kept_id);
                    let (Some(mut kept), Some(mut absorbed)) =
                        (contact_in(&mut tx, tenant, kept_id).await?, contact_in(&mut tx, tenant, absorbed_id).await?)
                    else {
                        return Ok(None);
                    };
                    // The kept contact was merged on into a third one: undo that first.
                    if kept.merged_into.is_some() {
                        return Err(StoreError::Conflict("a later merge of the kept contact"));
                    }
                    for identity in &added.identities {
                        sqlx::query(
                            "UPDATE contact_identities SET contact_id = $4
                             WHERE tenant_id = $1 AND channel = $2 AND external_id = $3 AND contact_id = $5",
                        )
                        .bind(tenant.0)
                        .bind(&identity.channel)
                        .bind(&identity.external_id)
                        .bind(absorbed_id.0)
                        .bind(kept_id.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    }
                    for conversation in &added.conversations {
                        sqlx::query("UPDATE conversations SET contact_id = $3, updated_at = $5 WHERE tenant_id = $1 AND id = $2 AND contact_id = $4")
                            .bind(tenant.0)
                            .bind(*conversation)
                            .bind(absorbed_id.0)
                            .bind(kept_id.0)
                            .bind(at.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                    kept.identities.retain(|i| {
                        !added.identities.iter().any(|a| a.channel == i.channel.as_str() && a.external_id == i.external_id)
                    });
                    kept.phones.retain(|p| !added.phones.iter().any(|a| a == p.as_str()));
                    kept.emails.retain(|e| !added.emails.iter().any(|a| a == e.as_str()));
                    kept.tags.retain(|t| !added.tags.iter().any(|a| a == t.as_str()));
                    for key in &added.fields {
                        kept.custom_fields.remove(key);
                    }
                    kept.updated_at = at;
                    absorbed.merged_into = None;
                    absorbed.updated_at = at;
                    save_contact(&mut tx, &kept).await?;
                    save_contact(&mut tx, &absorbed).await?;
                    sqlx::query("UPDATE contact_merges SET undone_at = $3 WHERE tenant_id = $1 AND absorbed_id = $2 AND undone_at IS NULL")
                        .bind(tenant.0)
                        .bind(absorbed_id.0)
                        .bind(at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    conversation_events(&mut tx, &mut stream, tenant, &added.conversations, at).await?;
                    let events = stream.commit(tx).await?;
                    Ok(Some(ContactChanged { contact: absorbed, events }))
                }

                async fn create_tag(&self, tenant: TenantId, tag: &Tag) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO tags (tenant_id, name, color, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(tenant.0)
                        .bind(tag.name.as_str())
                        .bind(tag.color.as_deref())
                        .bind(tag.created_at.0)
                        .execute(self.writer())
                        .await
                        .map_err(conflict_as("a tag with this name"))?;
                    Ok(())
                }

                async fn tags(&self, tenant: TenantId) -> Result<Vec<Tag>, StoreError> {
                    sqlx::query_as::<_, TagRow>("SELECT name, color, created_at FROM tags WHERE tenant_id = $1 ORDER BY name")
                        .bind(tenant.0)
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?
                        .into_iter()
                        .map(Tag::try_from)
                        .collect()
                }

                async fn delete_tag(&self, tenant: TenantId, name: &TagName, at: Millis) -> Result<Option<Vec<StreamEvent>>, StoreError> {
                    let mut tx = self.begin_write().await.map_err(backend)?;
                    let mut stream = StreamTx::lock(&mut tx, tenant).await?;
                    let deleted = sqlx::query("DELETE FROM tags WHERE tenant_id = $1 AND name = $2")
                        .bind(tenant.0)
                        .bind(name.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    if deleted.rows_affected() == 0 {
                        return Ok(None);
                    }
                    let tagged: Vec<(Uuid,)> =
                        sqlx::query_as("SELECT conversation_id FROM conversation_tags WHERE tenant_id = $1 AND tag = $2 ORDER BY conversation_id")
                            .bind(tenant.0)
                            .bind(name.as_str())
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(backend)?;
                    sqlx::query("DELETE FROM conversation_tags WHERE tenant_id = $1 AND tag = $2")
                        .bind(tenant.0)
                        .bind(name.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    for (id,) in tagged {
                        let id = ConversationId(id);
                        refresh_tags(&mut tx, tenant, id, at).await?;
                        let conversation = conversation_in(&mut tx, tenant, id).await?.ok_or_else(|| missing("conversation"))?;
                        stream.push(EventKind::ConversationUpdated, &conversation, payload::conversation(&conversation), at);
                    }
                    stream.commit(tx).await.map(Some)
                }
            }
        }
    };
}

pub(crate) use impl_inbox_store;
