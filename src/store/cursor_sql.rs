//! A tenant's cursor in its stream, leased to one node at a time, as the pipeline
//! (`pipeline_cursors`) and the reply worker (`reply_cursors`) keep one each: the
//! statements to take, move and give it up, written once for any such table and
//! expanded inside each store's module (`$store` for its pools, the table's name, and
//! what a new cursor starts at).

macro_rules! leased_cursor {
    ($store:ty, $table:literal, $start:literal) => {
        /// Moves the tenant's cursor forward (never back) while the node holds it.
        const ADVANCE: &str = concat!(
            "UPDATE ", $table, "
             SET stream_offset = CASE WHEN stream_offset < $3 THEN $3 ELSE stream_offset END
             WHERE tenant_id = $1 AND owner_node = $2"
        );

        /// One statement: the cursor is created on first use, and taken only when
        /// free, lapsed or this node's already. The offset to go on after, if taken.
        async fn claim_cursor(
            pool: &sqlx::Pool<<$store as SqlBackend>::Db>,
            tenant: TenantId,
            node: NodeId,
            now: Millis,
            lease_until: Millis,
        ) -> Result<Option<i64>, StoreError> {
            let claimed: Option<(i64,)> = sqlx::query_as(concat!(
                "INSERT INTO ", $table, " (tenant_id, stream_offset, owner_node, lease_until)
                 VALUES ($1, ", $start, ", $2, $4)
                 ON CONFLICT (tenant_id) DO UPDATE SET owner_node = excluded.owner_node, lease_until = excluded.lease_until
                 WHERE ", $table, ".owner_node IS NULL OR ", $table, ".owner_node = $2
                    OR ", $table, ".lease_until IS NULL OR ", $table, ".lease_until < $3
                 RETURNING stream_offset"
            ))
            .bind(tenant.0)
            .bind(node.0)
            .bind(now.0)
            .bind(lease_until.0)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
            Ok(claimed.map(|(offset,)| offset))
        }

        /// False when the node does not hold the cursor.
        async fn advance_cursor(
            pool: &sqlx::Pool<<$store as SqlBackend>::Db>,
            tenant: TenantId,
            node: NodeId,
            offset: i64,
        ) -> Result<bool, StoreError> {
            let moved = sqlx::query(ADVANCE)
                .bind(tenant.0)
                .bind(node.0)
                .bind(offset)
                .execute(pool)
                .await
                .map_err(backend)?;
            Ok(moved.rows_affected() == 1)
        }

        async fn release_cursor(
            pool: &sqlx::Pool<<$store as SqlBackend>::Db>,
            tenant: TenantId,
            node: NodeId,
        ) -> Result<(), StoreError> {
            sqlx::query(concat!(
                "UPDATE ", $table, " SET owner_node = NULL, lease_until = NULL WHERE tenant_id = $1 AND owner_node = $2"
            ))
            .bind(tenant.0)
            .bind(node.0)
            .execute(pool)
            .await
            .map_err(backend)?;
            Ok(())
        }
    };
}

/// `cursor_to_head`, for the cursors that start at the stream's head (the work acts on
/// what happens once it is switched on), with the table's name.
macro_rules! head_cursor {
    ($store:ty, $table:literal) => {
        /// Moves the tenant's cursor to its stream's head, inside the transaction that
        /// switches the work on: it acts on what happens from then on.
        async fn cursor_to_head(
            conn: &mut <<$store as SqlBackend>::Db as sqlx::Database>::Connection,
            tenant: TenantId,
        ) -> Result<(), StoreError> {
            sqlx::query(concat!(
                "INSERT INTO ", $table, " (tenant_id, stream_offset)
                 VALUES ($1, COALESCE((SELECT last_offset FROM tenant_streams WHERE tenant_id = $1), 0))
                 ON CONFLICT (tenant_id) DO UPDATE SET stream_offset = excluded.stream_offset"
            ))
            .bind(tenant.0)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            Ok(())
        }

    };
}

pub(crate) use {head_cursor, leased_cursor};
