//! The statements of `record_insights` that depend on the dialect, expanded inside
//! `impl_pipeline_store!`. As in `ingest_io.rs`, each step handles a whole batch of
//! insights in one statement with fixed SQL text (arrays on Postgres, one JSON array
//! on SQLite): the tenant's stream stays locked for a handful of round trips per
//! batch, not three per message.

macro_rules! pipeline_io {
    (postgres) => {
        /// Stores the insights not stored before; the ids of those it stored.
        async fn insert_insights(conn: &mut Conn, tenant: TenantId, insights: &[Insight]) -> Result<HashSet<Uuid>, StoreError> {
            let rows: Vec<(Uuid,)> = sqlx::query_as(
                "INSERT INTO message_insights (tenant_id, message_id, conversation_id, data, created_at)
                 SELECT $1, i.* FROM UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::bigint[]) AS i
                 ON CONFLICT (message_id) DO NOTHING
                 RETURNING message_id",
            )
            .bind(tenant.0)
            .bind(insights.iter().map(|i| i.message_id.0).collect::<Vec<_>>())
            .bind(insights.iter().map(|i| i.conversation_id.0).collect::<Vec<_>>())
            .bind(insights.iter().map(|i| to_json(&i.analysis)).collect::<Vec<_>>())
            .bind(insights.iter().map(|i| i.at.0).collect::<Vec<_>>())
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            Ok(rows.into_iter().map(|(id,)| id).collect())
        }

        /// Who answers each of the conversations, as their stored leads say.
        async fn stored_handoffs(conn: &mut Conn, tenant: TenantId, conversations: &[ConversationId]) -> Result<Vec<HandoffRow>, StoreError> {
            sqlx::query_as(
                "SELECT conversation_id, handoff_state, handoff_trigger, handoff_at, scored_offset
                 FROM conversation_leads WHERE tenant_id = $1 AND conversation_id = ANY($2::uuid[])",
            )
            .bind(tenant.0)
            .bind(conversations.iter().map(|c| c.0).collect::<Vec<_>>())
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)
        }

        /// Saves leads, one per conversation; never over a lead scored at a later message.
        async fn save_leads(conn: &mut Conn, tenant: TenantId, leads: &[Lead]) -> Result<(), StoreError> {
            let opt = |f: &dyn Fn(&Lead) -> Option<&'static str>| leads.iter().map(f).collect::<Vec<_>>();
            sqlx::query(concat!(
                "INSERT INTO conversation_leads
                     (tenant_id, conversation_id, score, temperature, sentiment, urgency, handoff_state,
                      handoff_trigger, handoff_at, scored_offset, data, updated_at)
                 SELECT $1, l.* FROM UNNEST($2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                                            $8::text[], $9::bigint[], $10::bigint[], $11::text[], $12::bigint[]) AS l ",
                lead_upsert!()
            ))
            .bind(tenant.0)
            .bind(leads.iter().map(|l| l.conversation_id.0).collect::<Vec<_>>())
            .bind(leads.iter().map(|l| i64::from(l.score.score)).collect::<Vec<_>>())
            .bind(leads.iter().map(|l| l.score.temperature.as_str()).collect::<Vec<_>>())
            .bind(opt(&|l| l.sentiment.map(|s| s.as_str())))
            .bind(leads.iter().map(|l| l.urgency.as_str()).collect::<Vec<_>>())
            .bind(leads.iter().map(|l| l.handoff.as_str()).collect::<Vec<_>>())
            .bind(opt(&|l| l.trigger.map(|t| t.as_str())))
            .bind(leads.iter().map(|l| l.handoff_at.map(|at| at.0)).collect::<Vec<_>>())
            .bind(leads.iter().map(|l| l.scored_offset).collect::<Vec<_>>())
            .bind(leads.iter().map(|l| to_json(&LeadData::of(l))).collect::<Vec<_>>())
            .bind(leads.iter().map(|l| l.updated_at.0).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            Ok(())
        }

        /// One `lead_history` row per insight: the score its message left.
        async fn insert_history(conn: &mut Conn, tenant: TenantId, scored: &[(&Insight, &Lead)]) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO lead_history (tenant_id, conversation_id, message_id, score, temperature, at)
                 SELECT $1, h.* FROM UNNEST($2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::bigint[]) AS h
                 ON CONFLICT (conversation_id, message_id) DO NOTHING",
            )
            .bind(tenant.0)
            .bind(scored.iter().map(|(i, _)| i.conversation_id.0).collect::<Vec<_>>())
            .bind(scored.iter().map(|(i, _)| i.message_id.0).collect::<Vec<_>>())
            .bind(scored.iter().map(|(_, l)| i64::from(l.score.score)).collect::<Vec<_>>())
            .bind(scored.iter().map(|(_, l)| l.score.temperature.as_str()).collect::<Vec<_>>())
            .bind(scored.iter().map(|(i, _)| i.at.0).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            Ok(())
        }
    };
    (sqlite) => {
        use super::inbox_impl::hex;

        /// Stores the insights not stored before; the ids of those it stored.
        async fn insert_insights(conn: &mut Conn, tenant: TenantId, insights: &[Insight]) -> Result<HashSet<Uuid>, StoreError> {
            let rows: Vec<serde_json::Value> = insights
                .iter()
                .map(|i| serde_json::json!({
                    "m": hex(i.message_id.0), "c": hex(i.conversation_id.0), "d": to_json(&i.analysis), "at": i.at.0,
                }))
                .collect();
            let rows: Vec<(Uuid,)> = sqlx::query_as(
                "INSERT INTO message_insights (tenant_id, message_id, conversation_id, data, created_at)
                 SELECT $1, unhex(v ->> 'm'), unhex(v ->> 'c'), v ->> 'd', v ->> 'at'
                 FROM (SELECT value AS v FROM jsonb_each($2)) WHERE true
                 ON CONFLICT (message_id) DO NOTHING
                 RETURNING message_id",
            )
            .bind(tenant.0)
            .bind(to_json(&rows))
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            Ok(rows.into_iter().map(|(id,)| id).collect())
        }

        /// Who answers each of the conversations, as their stored leads say.
        async fn stored_handoffs(conn: &mut Conn, tenant: TenantId, conversations: &[ConversationId]) -> Result<Vec<HandoffRow>, StoreError> {
            let ids: Vec<String> = conversations.iter().map(|c| hex(c.0)).collect();
            sqlx::query_as(
                "SELECT conversation_id, handoff_state, handoff_trigger, handoff_at, scored_offset
                 FROM conversation_leads
                 WHERE tenant_id = $1 AND conversation_id IN (SELECT unhex(value) FROM jsonb_each($2))",
            )
            .bind(tenant.0)
            .bind(to_json(&ids))
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)
        }

        /// Saves leads, one per conversation; never over a lead scored at a later message.
        async fn save_leads(conn: &mut Conn, tenant: TenantId, leads: &[Lead]) -> Result<(), StoreError> {
            let rows: Vec<serde_json::Value> = leads
                .iter()
                .map(|l| serde_json::json!({
                    "c": hex(l.conversation_id.0), "s": l.score.score, "t": l.score.temperature.as_str(),
                    "se": l.sentiment.map(|s| s.as_str()), "u": l.urgency.as_str(), "h": l.handoff.as_str(),
                    "tr": l.trigger.map(|t| t.as_str()), "ha": l.handoff_at.map(|at| at.0), "o": l.scored_offset,
                    "d": to_json(&LeadData::of(l)), "at": l.updated_at.0,
                }))
                .collect();
            execute_rows(conn, concat!(
                "INSERT INTO conversation_leads
                     (tenant_id, conversation_id, score, temperature, sentiment, urgency, handoff_state,
                      handoff_trigger, handoff_at, scored_offset, data, updated_at)
                 SELECT $1, unhex(v ->> 'c'), v ->> 's', v ->> 't', v ->> 'se', v ->> 'u', v ->> 'h',
                        v ->> 'tr', v ->> 'ha', v ->> 'o', v ->> 'd', v ->> 'at'
                 FROM (SELECT value AS v FROM jsonb_each($2)) WHERE true ",
                lead_upsert!()
            ), tenant, &rows).await
        }

        /// One `lead_history` row per insight: the score its message left.
        async fn insert_history(conn: &mut Conn, tenant: TenantId, scored: &[(&Insight, &Lead)]) -> Result<(), StoreError> {
            let rows: Vec<serde_json::Value> = scored
                .iter()
                .map(|(i, l)| serde_json::json!({
                    "c": hex(i.conversation_id.0), "m": hex(i.message_id.0), "s": l.score.score,
                    "t": l.score.temperature.as_str(), "at": i.at.0,
                }))
                .collect();
            execute_rows(conn,
                "INSERT INTO lead_history (tenant_id, conversation_id, message_id, score, temperature, at)
                 SELECT $1, unhex(v ->> 'c'), unhex(v ->> 'm'), v ->> 's', v ->> 't', v ->> 'at'
                 FROM (SELECT value AS v FROM jsonb_each($2)) WHERE true
                 ON CONFLICT (conversation_id, message_id) DO NOTHING",
                tenant, &rows).await
        }

        /// Runs `sql` for `tenant` ($1) over `rows`, sent as one JSON array ($2).
        async fn execute_rows(conn: &mut Conn, sql: &'static str, tenant: TenantId, rows: &[serde_json::Value]) -> Result<(), StoreError> {
            sqlx::query(sql)
                .bind(tenant.0)
                .bind(to_json(&rows))
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            Ok(())
        }
    };
}

pub(crate) use pipeline_io;
