//! The statements of ingest that depend on the dialect, expanded inside
//! `impl_inbox_store!` next to the helpers they use.
//!
//! Postgres is a network hop away, so every statement is a round trip: here each
//! step handles the whole batch in one statement over arrays (`UNNEST`), and the SQL
//! text does not depend on the batch size, so one prepared statement serves every
//! batch. SQLite runs in the process and has no array type, but every statement is a
//! hop to the connection's own thread and back (two thread wake-ups, which cost more
//! than the statement): there the batch travels as one JSON array, unpacked with
//! `jsonb_each`, whose rows stay in SQLite's binary JSON so reading a field parses
//! nothing; the SQL text is fixed there too.

macro_rules! ingest_io {
    (postgres) => {
        /// What the tables know of each message of the batch (see `Found`), in order.
        /// Each look-up is a `LATERAL … LIMIT 1`, which the planner cannot turn into a
        /// join: whatever it believes of the tables' sizes, each message costs three
        /// index probes, never a scan of the tenant's messages.
        async fn look_up_batch(conn: &mut Conn, batch: &[(TenantId, Inbound)]) -> Result<Vec<Found>, StoreError> {
            let rows: Vec<(i64, Option<Uuid>, Option<Uuid>, Option<Uuid>, Option<String>)> = sqlx::query_as(
                "SELECT b.n, m.id, i.contact_id, l.id, l.status
                 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
                      WITH ORDINALITY AS b(tenant_id, sender_channel, external_id, channel, provider_id, n)
                 LEFT JOIN LATERAL (
                     SELECT m.id FROM messages m
                     WHERE m.tenant_id = b.tenant_id AND m.channel = b.channel AND m.provider_id = b.provider_id
                     LIMIT 1) m ON TRUE
                 LEFT JOIN LATERAL (
                     SELECT i.contact_id FROM contact_identities i
                     WHERE i.tenant_id = b.tenant_id AND i.channel = b.sender_channel AND i.external_id = b.external_id
                     LIMIT 1) i ON TRUE
                 LEFT JOIN LATERAL (
                     SELECT l.id, l.status FROM conversations l
                     WHERE l.tenant_id = b.tenant_id AND l.channel = b.channel AND l.contact_id = i.contact_id
                     ORDER BY l.created_at DESC, l.id DESC LIMIT 1) l ON TRUE
                 ORDER BY b.n",
            )
            .bind(batch.iter().map(|(t, _)| t.0).collect::<Vec<_>>())
            .bind(batch.iter().map(|(_, i)| i.sender.channel.as_str()).collect::<Vec<_>>())
            .bind(batch.iter().map(|(_, i)| i.sender.external_id.as_str()).collect::<Vec<_>>())
            .bind(batch.iter().map(|(_, i)| i.channel.as_str()).collect::<Vec<_>>())
            .bind(batch.iter().map(|(_, i)| i.provider_id.as_deref()).collect::<Vec<_>>())
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            found_in_order(rows, batch.len())
        }

        async fn conversations_by_id(conn: &mut Conn, ids: &[(TenantId, ConversationId)]) -> Result<Vec<Conversation>, StoreError> {
            sqlx::query_as::<_, ConversationRow>(concat!(
                conversation_select!(),
                "JOIN UNNEST($1::uuid[], $2::uuid[]) AS k(tenant_id, id) ON c.tenant_id = k.tenant_id AND c.id = k.id"
            ))
                .bind(ids.iter().map(|(t, _)| t.0).collect::<Vec<_>>())
                .bind(ids.iter().map(|(_, id)| id.0).collect::<Vec<_>>())
                .fetch_all(&mut *conn)
                .await
                .map_err(backend)?
                .into_iter()
                .map(Conversation::try_from)
                .collect()
        }

        /// Locks the stream row of every tenant (creating it on first use), in the
        /// order given, in one statement.
        async fn lock_streams(conn: &mut Conn, tenants: &[TenantId]) -> Result<Vec<StreamTx>, StoreError> {
            let rows: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
                "INSERT INTO tenant_streams (tenant_id, epoch, last_offset)
                 SELECT t.tenant_id, t.epoch, 0
                 FROM UNNEST($1::uuid[], $2::uuid[]) WITH ORDINALITY AS t(tenant_id, epoch, n)
                 ORDER BY t.n
                 ON CONFLICT (tenant_id) DO UPDATE SET last_offset = tenant_streams.last_offset
                 RETURNING tenant_id, epoch, last_offset",
            )
            .bind(tenants.iter().map(|t| t.0).collect::<Vec<_>>())
            .bind(tenants.iter().map(|_| Uuid::new_v4()).collect::<Vec<_>>())
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            Ok(rows
                .into_iter()
                .map(|(tenant, epoch, last_offset)| StreamTx::locked(TenantId(tenant), Epoch(epoch), last_offset))
                .collect())
        }

        /// Writes a transaction's changes in one statement: new messages (each with its
        /// conversation's channel), what they moved on their conversations
        /// (`Conversation::take_seq`), the events, and each stream's newest offset. The
        /// parts touch different tables, so running them as one statement's parts is
        /// the same as one after another, in one round trip instead of four.
        async fn write_changes(
            conn: &mut Conn,
            messages: &[(Message, &str)],
            conversations: &[&Conversation],
            streams: &[&StreamTx],
        ) -> Result<(), StoreError> {
            let events: Vec<(TenantId, &StreamEvent)> =
                streams.iter().flat_map(|s| s.events.iter().map(|e| (s.tenant, e))).collect();
            let heads: Vec<(TenantId, i64)> =
                streams.iter().filter_map(|s| s.events.last().map(|e| (s.tenant, e.offset))).collect();
            if messages.is_empty() && conversations.is_empty() && heads.is_empty() {
                return Ok(());
            }
            let column = |f: &dyn Fn(&Message) -> Option<String>| messages.iter().map(|(m, _)| f(m)).collect::<Vec<_>>();
            let at = |f: &dyn Fn(&Conversation) -> Option<Millis>| conversations.iter().map(|c| f(c).map(|m| m.0)).collect::<Vec<_>>();
            sqlx::query(
                "WITH inserted AS (
                     INSERT INTO messages (tenant_id, id, conversation_id, seq, channel, direction, kind, body, attachment,
                                           provider_id, client_id, author_id, status, error, created_at, updated_at)
                     SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[],
                                          $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::uuid[],
                                          $13::text[], $14::text[], $15::bigint[], $16::bigint[])),
                 counted AS (
                     UPDATE conversations c SET
                         last_seq = v.last_seq, unread_count = v.unread_count, last_message_at = v.last_message_at,
                         last_inbound_at = v.last_inbound_at, activity_at = COALESCE(v.last_message_at, c.activity_at),
                         status = v.status, snoozed_until = v.snoozed_until, updated_at = v.updated_at
                     FROM UNNEST($17::uuid[], $18::uuid[], $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[],
                                 $23::text[], $24::bigint[], $25::bigint[])
                          AS v(tenant_id, id, last_seq, unread_count, last_message_at, last_inbound_at, status, snoozed_until, updated_at)
                     WHERE c.tenant_id = v.tenant_id AND c.id = v.id),
                 appended AS (
                     INSERT INTO stream_events (tenant_id, stream_offset, kind, conversation_id, assignee_id, data, created_at)
                     SELECT * FROM UNNEST($26::uuid[], $27::bigint[], $28::text[], $29::uuid[], $30::uuid[], $31::text[], $32::bigint[]))
                 UPDATE tenant_streams s SET last_offset = h.last_offset
                 FROM UNNEST($33::uuid[], $34::bigint[]) AS h(tenant_id, last_offset)
                 WHERE s.tenant_id = h.tenant_id",
            )
            .bind(messages.iter().map(|(m, _)| m.tenant_id.0).collect::<Vec<_>>())
            .bind(messages.iter().map(|(m, _)| m.id.0).collect::<Vec<_>>())
            .bind(messages.iter().map(|(m, _)| m.conversation_id.0).collect::<Vec<_>>())
            .bind(messages.iter().map(|(m, _)| m.seq).collect::<Vec<_>>())
            .bind(messages.iter().map(|(_, channel)| *channel).collect::<Vec<_>>())
            .bind(messages.iter().map(|(m, _)| m.direction.as_str()).collect::<Vec<_>>())
            .bind(messages.iter().map(|(m, _)| m.kind.as_str()).collect::<Vec<_>>())
            .bind(column(&|m| m.body.clone()))
            .bind(column(&|m| m.attachment.as_ref().map(to_json)))
            .bind(column(&|m| m.provider_id.clone()))
            .bind(column(&|m| m.client_id.as_ref().map(|c| c.as_str().to_owned())))
            .bind(messages.iter().map(|(m, _)| m.author_id.map(|a| a.0)).collect::<Vec<_>>())
            .bind(messages.iter().map(|(m, _)| m.status.as_str()).collect::<Vec<_>>())
            .bind(column(&|m| m.error.clone()))
            .bind(messages.iter().map(|(m, _)| m.created_at.0).collect::<Vec<_>>())
            .bind(messages.iter().map(|(m, _)| m.updated_at.0).collect::<Vec<_>>())
            .bind(conversations.iter().map(|c| c.tenant_id.0).collect::<Vec<_>>())
            .bind(conversations.iter().map(|c| c.id.0).collect::<Vec<_>>())
            .bind(conversations.iter().map(|c| c.last_seq).collect::<Vec<_>>())
            .bind(conversations.iter().map(|c| c.unread_count).collect::<Vec<_>>())
            .bind(at(&|c| c.last_message_at))
            .bind(at(&|c| c.last_inbound_at))
            .bind(conversations.iter().map(|c| c.status.as_str()).collect::<Vec<_>>())
            .bind(at(&|c| c.snoozed_until))
            .bind(conversations.iter().map(|c| c.updated_at.0).collect::<Vec<_>>())
            .bind(events.iter().map(|(t, _)| t.0).collect::<Vec<_>>())
            .bind(events.iter().map(|(_, e)| e.offset).collect::<Vec<_>>())
            .bind(events.iter().map(|(_, e)| e.kind.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|(_, e)| e.conversation_id.0).collect::<Vec<_>>())
            .bind(events.iter().map(|(_, e)| e.assignee_id.map(|u| u.0)).collect::<Vec<_>>())
            .bind(events.iter().map(|(_, e)| e.data.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|(_, e)| e.at.0).collect::<Vec<_>>())
            .bind(heads.iter().map(|(t, _)| t.0).collect::<Vec<_>>())
            .bind(heads.iter().map(|(_, offset)| *offset).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(conflict_as("a message with this id"))?;
            Ok(())
        }
    };
    (sqlite) => {
        /// A UUID as the batch's JSON carries it, for `unhex()` to turn into the
        /// 16-byte blob sqlx stores.
        pub(super) fn hex(id: Uuid) -> String {
            id.simple().to_string()
        }

        /// What the tables know of each message of the batch (see `Found`), in order.
        async fn look_up_batch(conn: &mut Conn, batch: &[(TenantId, Inbound)]) -> Result<Vec<Found>, StoreError> {
            let keys: Vec<serde_json::Value> = batch
                .iter()
                .map(|(t, i)| serde_json::json!({
                    "t": hex(t.0), "sc": i.sender.channel.as_str(), "e": i.sender.external_id, "c": i.channel.as_str(),
                    "p": i.provider_id,
                }))
                .collect();
            let rows: Vec<(i64, Option<Uuid>, Option<Uuid>, Option<Uuid>, Option<String>)> = sqlx::query_as(
                "SELECT b.key,
                        (SELECT m.id FROM messages m
                         WHERE m.tenant_id = b.tenant_id AND m.channel = b.value ->> 'c' AND m.provider_id = b.value ->> 'p'),
                        i.contact_id, l.id, l.status
                 FROM (SELECT key, value, unhex(value ->> 't') AS tenant_id FROM jsonb_each($1)) b
                 LEFT JOIN contact_identities i
                        ON i.tenant_id = b.tenant_id AND i.channel = b.value ->> 'sc' AND i.external_id = b.value ->> 'e'
                 LEFT JOIN conversations l ON l.id = (
                     SELECT k.id FROM conversations k
                     WHERE k.tenant_id = b.tenant_id AND k.channel = b.value ->> 'c' AND k.contact_id = i.contact_id
                     ORDER BY k.created_at DESC, k.id DESC LIMIT 1)
                 ORDER BY b.key",
            )
            .bind(to_json(&keys))
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            found_in_order(rows, batch.len())
        }

        async fn conversations_by_id(conn: &mut Conn, ids: &[(TenantId, ConversationId)]) -> Result<Vec<Conversation>, StoreError> {
            let ids: Vec<[String; 2]> = ids.iter().map(|(t, id)| [hex(t.0), hex(id.0)]).collect();
            sqlx::query_as::<_, ConversationRow>(concat!(
                conversation_select!(),
                "JOIN (SELECT unhex(value ->> 0) AS tenant_id, unhex(value ->> 1) AS id FROM jsonb_each($1)) k
                   ON c.tenant_id = k.tenant_id AND c.id = k.id"
            ))
            .bind(to_json(&ids))
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?
            .into_iter()
            .map(Conversation::try_from)
            .collect()
        }

        /// Locks the stream row of every tenant (creating it on first use), in the
        /// order given. SQLite has one writer, so each is a statement of its own.
        async fn lock_streams(conn: &mut Conn, tenants: &[TenantId]) -> Result<Vec<StreamTx>, StoreError> {
            let mut streams = Vec::with_capacity(tenants.len());
            for tenant in tenants {
                let (epoch, last_offset): (Uuid, i64) = sqlx::query_as(
                    "INSERT INTO tenant_streams (tenant_id, epoch, last_offset) VALUES ($1, $2, 0)
                     ON CONFLICT (tenant_id) DO UPDATE SET last_offset = tenant_streams.last_offset
                     RETURNING epoch, last_offset",
                )
                .bind(tenant.0)
                .bind(Uuid::new_v4())
                .fetch_one(&mut *conn)
                .await
                .map_err(backend)?;
                streams.push(StreamTx::locked(*tenant, Epoch(epoch), last_offset));
            }
            Ok(streams)
        }

        /// Writes a transaction's changes: new messages, what they moved on their
        /// conversations, the events and each stream's newest offset. In the process,
        /// one statement per part costs little.
        async fn write_changes(
            conn: &mut Conn,
            messages: &[(Message, &str)],
            conversations: &[&Conversation],
            streams: &[&StreamTx],
        ) -> Result<(), StoreError> {
            insert_messages(conn, messages).await?;
            save_counters(conn, conversations).await?;
            write_events(conn, streams).await
        }

        /// Inserts messages, each with its conversation's channel.
        async fn insert_messages(conn: &mut Conn, messages: &[(Message, &str)]) -> Result<(), StoreError> {
            if messages.is_empty() {
                return Ok(());
            }
            /// One message as the batch's JSON carries it: borrowed, so a body is
            /// copied once, into the JSON text. Field names are the SQL's keys.
            #[derive(serde::Serialize)]
            struct Row<'a> {
                t: String, id: String, cv: String, s: i64, ch: &'a str, d: &'a str, k: &'a str, b: Option<&'a str>,
                at: Option<String>, p: Option<&'a str>, cl: Option<&'a str>, au: Option<String>, st: &'a str,
                er: Option<&'a str>, c: i64, u: i64,
            }
            let rows: Vec<Row> = messages
                .iter()
                .map(|(m, channel)| Row {
                    t: hex(m.tenant_id.0), id: hex(m.id.0), cv: hex(m.conversation_id.0), s: m.seq, ch: channel,
                    d: m.direction.as_str(), k: m.kind.as_str(), b: m.body.as_deref(), at: m.attachment.as_ref().map(to_json),
                    p: m.provider_id.as_deref(), cl: m.client_id.as_ref().map(|c| c.as_str()), au: m.author_id.map(|a| hex(a.0)),
                    st: m.status.as_str(), er: m.error.as_deref(), c: m.created_at.0, u: m.updated_at.0,
                })
                .collect();
            sqlx::query(
                "INSERT INTO messages (tenant_id, id, conversation_id, seq, channel, direction, kind, body, attachment,
                                       provider_id, client_id, author_id, status, error, created_at, updated_at)
                 SELECT unhex(v ->> 't'), unhex(v ->> 'id'), unhex(v ->> 'cv'), v ->> 's', v ->> 'ch', v ->> 'd', v ->> 'k',
                        v ->> 'b', v ->> 'at', v ->> 'p', v ->> 'cl', unhex(v ->> 'au'), v ->> 'st', v ->> 'er', v ->> 'c', v ->> 'u'
                 FROM (SELECT value AS v FROM jsonb_each($1))",
            )
            .bind(to_json(&rows))
            .execute(&mut *conn)
            .await
            .map_err(conflict_as("a message with this id"))?;
            Ok(())
        }

        /// Writes what new messages moved on their conversations (`Conversation::take_seq`).
        async fn save_counters(conn: &mut Conn, conversations: &[&Conversation]) -> Result<(), StoreError> {
            if conversations.is_empty() {
                return Ok(());
            }
            let rows: Vec<serde_json::Value> = conversations
                .iter()
                .map(|c| serde_json::json!({
                    "t": hex(c.tenant_id.0), "id": hex(c.id.0), "s": c.last_seq, "u": c.unread_count, "m": c.last_message_at.map(|m| m.0),
                    "i": c.last_inbound_at.map(|m| m.0), "st": c.status.as_str(), "z": c.snoozed_until.map(|m| m.0),
                    "at": c.updated_at.0,
                }))
                .collect();
            sqlx::query(
                "UPDATE conversations SET
                     last_seq = v ->> 's', unread_count = v ->> 'u', last_message_at = v ->> 'm', last_inbound_at = v ->> 'i',
                     activity_at = COALESCE(v ->> 'm', activity_at), status = v ->> 'st', snoozed_until = v ->> 'z',
                     updated_at = v ->> 'at'
                 FROM (SELECT value AS v FROM jsonb_each($1))
                 WHERE conversations.tenant_id = unhex(v ->> 't') AND conversations.id = unhex(v ->> 'id')",
            )
            .bind(to_json(&rows))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            Ok(())
        }

        /// Appends the transaction's events and moves each stream's newest offset.
        async fn write_events(conn: &mut Conn, streams: &[&StreamTx]) -> Result<(), StoreError> {
            /// One event as the batch's JSON carries it: borrowed, so its payload is
            /// copied once, into the JSON text. Field names are the SQL's keys.
            #[derive(serde::Serialize)]
            struct Row<'a> {
                t: String, o: i64, k: &'a str, c: String, a: Option<String>, d: &'a str, at: i64,
            }
            let rows: Vec<Row> = streams
                .iter()
                .flat_map(|s| s.events.iter().map(|e| (s.tenant, e)))
                .map(|(t, e)| Row {
                    t: hex(t.0), o: e.offset, k: e.kind.as_str(), c: hex(e.conversation_id.0),
                    a: e.assignee_id.map(|u| hex(u.0)), d: &e.data, at: e.at.0,
                })
                .collect();
            if rows.is_empty() {
                return Ok(());
            }
            sqlx::query(
                "INSERT INTO stream_events (tenant_id, stream_offset, kind, conversation_id, assignee_id, data, created_at)
                 SELECT unhex(v ->> 't'), v ->> 'o', v ->> 'k', unhex(v ->> 'c'), unhex(v ->> 'a'), v ->> 'd', v ->> 'at'
                 FROM (SELECT value AS v FROM jsonb_each($1))",
            )
            .bind(to_json(&rows))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            for stream in streams {
                if let Some(last) = stream.events.last() {
                    sqlx::query("UPDATE tenant_streams SET last_offset = $2 WHERE tenant_id = $1")
                        .bind(stream.tenant.0)
                        .bind(last.offset)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                }
            }
            Ok(())
        }
    };
}

pub(crate) use ingest_io;
