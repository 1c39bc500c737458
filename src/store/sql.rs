//! The one implementation of the `Store` port, written once in the SQL both dialects
//! accept (`$N` placeholders, `RETURNING`, BIGINT milliseconds, UUID binds) and
//! instantiated for each backend by `impl_sql_store!`.
//!
//! Each backend struct provides `writer()` and `reader()` pools: SQLite has one writer
//! connection (it allows one writer at a time, so queuing in the pool beats retrying on
//! SQLITE_BUSY) and several readers; Postgres uses one pool for both.
//!
//! Changes that must see a consistent tenant (the last-owner rule) first touch the
//! tenant row, which serialises them per tenant on both dialects without `FOR UPDATE`
//! (which SQLite lacks).

macro_rules! impl_sql_store {
    ($store:ty, $backend:literal) => {
        use crate::store::rows::{
            actor_columns, backend, conflict_as, ApiKeyRow, AuditRow, RefreshStateRow, TenantRow, UserRow,
            UserSignInRow,
        };
        use async_trait::async_trait;
        use switchboard_actors::store::{
            ApiKey, AuditEntry, Invitation, NextRefreshToken, PoolStats, RefreshRotation, RefreshToken, Store,
            StoreError, Tenant, TokenHash, User, UserChange,
        };
        use switchboard_actors::{
            ApiKeyId, AuditId, Email, Millis, RefreshFamilyId, Scope, TenantId, UserId,
        };

        // Column lists as macros so every query stays a `&'static str` (sqlx refuses
        // SQL built at run time unless it is marked as audited).
        macro_rules! user_columns {
            () => {
                "tenant_id, id, email, name, role, status, password_hash, created_at, updated_at"
            };
        }
        macro_rules! api_key_columns {
            () => {
                "tenant_id, id, name, hint, scopes, created_by, created_at, expires_at, revoked_at"
            };
        }

        async fn insert_user<'c, E>(executor: E, user: &User, invitation: Option<&Invitation>) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'c, Database = <$store as SqlBackend>::Db>,
        {
            sqlx::query(
                "INSERT INTO users (tenant_id, id, email, name, role, status, password_hash,
                                    invite_token_hash, invite_expires_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(user.tenant_id.0)
            .bind(user.id.0)
            .bind(user.email.as_str())
            .bind(&user.name)
            .bind(user.role.as_str())
            .bind(user.status.as_str())
            .bind(user.password_hash.as_deref())
            .bind(invitation.map(|i| i.token_hash.0.to_vec()))
            .bind(invitation.map(|i| i.expires_at.0))
            .bind(user.created_at.0)
            .bind(user.updated_at.0)
            .execute(executor)
            .await
            .map_err(conflict_as("a user with this email"))?;
            Ok(())
        }

        async fn insert_tenant<'c, E>(executor: E, tenant: &Tenant) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'c, Database = <$store as SqlBackend>::Db>,
        {
            sqlx::query("INSERT INTO tenants (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(tenant.id.0)
                .bind(&tenant.slug)
                .bind(&tenant.name)
                .bind(tenant.created_at.0)
                .execute(executor)
                .await
                .map_err(conflict_as("a tenant with this slug"))?;
            Ok(())
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn pool_stats(&self) -> PoolStats {
                let (writer, reader) = (self.writer(), self.reader());
                let idle = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                if std::ptr::eq(writer, reader) {
                    PoolStats { size: writer.size(), idle: idle(writer.num_idle()) }
                } else {
                    PoolStats {
                        size: writer.size() + reader.size(),
                        idle: idle(writer.num_idle()).saturating_add(idle(reader.num_idle())),
                    }
                }
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(self.reader()).await.map_err(backend)?;
                Ok(())
            }

            async fn create_tenant(&self, tenant: &Tenant, owner: &User) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await.map_err(backend)?;
                insert_tenant(&mut *tx, tenant).await?;
                insert_user(&mut *tx, owner, None).await?;
                tx.commit().await.map_err(backend)
            }

            async fn create_first_tenant(&self, tenant: &Tenant, owner: &User) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await.map_err(backend)?;
                let inserted = sqlx::query(
                    "INSERT INTO tenants (id, slug, name, created_at)
                     SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM tenants)",
                )
                .bind(tenant.id.0)
                .bind(&tenant.slug)
                .bind(&tenant.name)
                .bind(tenant.created_at.0)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(done) if done.rows_affected() == 1 => {}
                    Ok(_) => return Ok(false),
                    // Another node inserted the same first tenant a moment earlier.
                    Err(err) if err.as_database_error().is_some_and(|db| db.is_unique_violation()) => {
                        return Ok(false);
                    }
                    Err(err) => return Err(backend(err)),
                }
                insert_user(&mut *tx, owner, None).await?;
                tx.commit().await.map_err(backend)?;
                Ok(true)
            }

            async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
                let row = sqlx::query_as::<_, TenantRow>("SELECT id, slug, name, created_at FROM tenants WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                Ok(row.map(Tenant::from))
            }

            async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
                let row =
                    sqlx::query_as::<_, TenantRow>("SELECT id, slug, name, created_at FROM tenants WHERE slug = $1")
                        .bind(slug)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                Ok(row.map(Tenant::from))
            }

            async fn user(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StoreError> {
                sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?
                    .map(User::try_from)
                    .transpose()
            }

            async fn user_with_sign_in(
                &self,
                tenant: TenantId,
                id: UserId,
                family: RefreshFamilyId,
            ) -> Result<Option<(User, bool)>, StoreError> {
                let row: Option<UserSignInRow> = sqlx::query_as(concat!(
                    "SELECT ", user_columns!(), ",
                     EXISTS (SELECT 1 FROM refresh_tokens r
                             WHERE r.tenant_id = users.tenant_id AND r.family_id = $3
                               AND r.user_id = users.id AND r.revoked_at IS NULL) AS signed_in
                     FROM users WHERE tenant_id = $1 AND id = $2"
                ))
                .bind(tenant.0)
                .bind(id.0)
                .bind(family.0)
                .fetch_optional(self.reader())
                .await
                .map_err(backend)?;
                row.map(|row| Ok((User::try_from(row.user)?, row.signed_in))).transpose()
            }

            async fn user_by_email(&self, tenant: TenantId, email: &Email) -> Result<Option<User>, StoreError> {
                sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 AND email = $2"))
                    .bind(tenant.0)
                    .bind(email.as_str())
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?
                    .map(User::try_from)
                    .transpose()
            }

            async fn users(&self, tenant: TenantId) -> Result<Vec<User>, StoreError> {
                sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 ORDER BY id"))
                    .bind(tenant.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(User::try_from)
                    .collect()
            }

            async fn create_user(&self, user: &User, invitation: Option<&Invitation>) -> Result<(), StoreError> {
                insert_user(self.writer(), user, invitation).await
            }

            async fn update_user(
                &self,
                tenant: TenantId,
                id: UserId,
                change: &UserChange,
                at: Millis,
            ) -> Result<Option<User>, StoreError> {
                let mut tx = self.begin_write().await.map_err(backend)?;
                sqlx::query("UPDATE tenants SET name = name WHERE id = $1")
                    .bind(tenant.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                let sql = concat!("UPDATE users SET name = COALESCE($3, name), role = COALESCE($4, role),
                                      status = COALESCE($5, status), updated_at = $6
                     WHERE tenant_id = $1 AND id = $2 RETURNING ", user_columns!(), "");
                let row = sqlx::query_as::<_, UserRow>(sql)
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(change.name.as_deref())
                    .bind(change.role.map(|r| r.as_str()))
                    .bind(change.status.map(|s| s.as_str()))
                    .bind(at.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                let Some(row) = row else { return Ok(None) };
                let (owners,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND role = 'owner' AND status = 'active'",
                )
                .bind(tenant.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                if owners == 0 {
                    return Err(StoreError::LastOwner);
                }
                tx.commit().await.map_err(backend)?;
                User::try_from(row).map(Some)
            }

            async fn accept_invitation(
                &self,
                tenant: TenantId,
                token: &TokenHash,
                password_hash: &str,
                now: Millis,
            ) -> Result<Option<User>, StoreError> {
                let sql = concat!("UPDATE users SET status = 'active', password_hash = $3, invite_token_hash = NULL,
                                      invite_expires_at = NULL, updated_at = $4
                     WHERE tenant_id = $1 AND invite_token_hash = $2 AND status = 'invited'
                       AND invite_expires_at > $4
                     RETURNING ", user_columns!(), "");
                sqlx::query_as::<_, UserRow>(sql)
                    .bind(tenant.0)
                    .bind(token.0.to_vec())
                    .bind(password_hash)
                    .bind(now.0)
                    .fetch_optional(self.writer())
                    .await
                    .map_err(backend)?
                    .map(User::try_from)
                    .transpose()
            }

            async fn set_password(
                &self,
                tenant: TenantId,
                user: UserId,
                password_hash: &str,
                at: Millis,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $3, updated_at = $4
                     WHERE tenant_id = $1 AND id = $2 AND status = 'active'",
                )
                .bind(tenant.0)
                .bind(user.0)
                .bind(password_hash)
                .bind(at.0)
                .execute(self.writer())
                .await
                .map_err(backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_refresh_token(&self, token: &RefreshToken, hash: &TokenHash) -> Result<(), StoreError> {
                insert_refresh(self.writer(), token, hash).await
            }

            async fn rotate_refresh_token(
                &self,
                tenant: TenantId,
                presented: &TokenHash,
                next: &NextRefreshToken,
                now: Millis,
            ) -> Result<RefreshRotation, StoreError> {
                let mut tx = self.begin_write().await.map_err(backend)?;
                let spent: Option<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET used_at = $3
                     WHERE tenant_id = $1 AND token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL
                       AND expires_at > $3
                     RETURNING user_id, family_id",
                )
                .bind(tenant.0)
                .bind(presented.0.to_vec())
                .bind(now.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                if let Some((user_id, family_id)) = spent {
                    let successor = RefreshToken {
                        tenant_id: tenant,
                        id: next.id,
                        user_id: UserId(user_id),
                        family_id: RefreshFamilyId(family_id),
                        created_at: now,
                        expires_at: next.expires_at,
                    };
                    insert_refresh(&mut *tx, &successor, &next.hash).await?;
                    tx.commit().await.map_err(backend)?;
                    return Ok(RefreshRotation::Rotated { user_id: successor.user_id, family_id: successor.family_id });
                }
                let state = sqlx::query_as::<_, RefreshStateRow>(
                    "SELECT user_id, family_id, used_at FROM refresh_tokens WHERE tenant_id = $1 AND token_hash = $2",
                )
                .bind(tenant.0)
                .bind(presented.0.to_vec())
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                match state {
                    Some(RefreshStateRow { user_id, family_id, used_at: Some(_) }) => {
                        revoke_family(&mut *tx, tenant, family_id, now).await?;
                        tx.commit().await.map_err(backend)?;
                        Ok(RefreshRotation::Reused { user_id: UserId(user_id), family_id: RefreshFamilyId(family_id) })
                    }
                    _ => Ok(RefreshRotation::Invalid),
                }
            }

            async fn revoke_refresh_family_of(
                &self,
                tenant: TenantId,
                presented: &TokenHash,
                now: Millis,
            ) -> Result<Option<RefreshFamilyId>, StoreError> {
                let mut tx = self.begin_write().await.map_err(backend)?;
                // A token already rotated still names its sign-in: a page that signs out
                // while its own refresh is in flight presents the one just spent, and the
                // successor it is about to receive must die with it.
                let family: Option<(uuid::Uuid,)> = sqlx::query_as(
                    "SELECT family_id FROM refresh_tokens
                     WHERE tenant_id = $1 AND token_hash = $2 AND revoked_at IS NULL AND expires_at > $3",
                )
                .bind(tenant.0)
                .bind(presented.0.to_vec())
                .bind(now.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                let Some((family_id,)) = family else { return Ok(None) };
                revoke_family(&mut *tx, tenant, family_id, now).await?;
                tx.commit().await.map_err(backend)?;
                Ok(Some(RefreshFamilyId(family_id)))
            }

            async fn revoke_user_refresh_tokens(&self, tenant: TenantId, user: UserId, now: Millis) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $3
                     WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
                )
                .bind(tenant.0)
                .bind(user.0)
                .bind(now.0)
                .execute(self.writer())
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn create_api_key(&self, key: &ApiKey, hash: &TokenHash) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO api_keys (tenant_id, id, name, hint, key_hash, scopes, created_by, created_at,
                                           expires_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(key.tenant_id.0)
                .bind(key.id.0)
                .bind(&key.name)
                .bind(&key.hint)
                .bind(hash.0.to_vec())
                .bind(Scope::join(&key.scopes))
                .bind(key.created_by.0)
                .bind(key.created_at.0)
                .bind(key.expires_at.map(|m| m.0))
                .bind(key.revoked_at.map(|m| m.0))
                .execute(self.writer())
                .await
                .map_err(conflict_as("an api key with this hash"))?;
                Ok(())
            }

            async fn api_key_by_hash(&self, tenant: TenantId, hash: &TokenHash) -> Result<Option<ApiKey>, StoreError> {
                let sql = concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE tenant_id = $1 AND key_hash = $2");
                sqlx::query_as::<_, ApiKeyRow>(sql)
                    .bind(tenant.0)
                    .bind(hash.0.to_vec())
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?
                    .map(ApiKey::try_from)
                    .transpose()
            }

            async fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StoreError> {
                let sql = concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC");
                sqlx::query_as::<_, ApiKeyRow>(sql)
                    .bind(tenant.0)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(ApiKey::try_from)
                    .collect()
            }

            async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId, now: Millis) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                )
                .bind(tenant.0)
                .bind(id.0)
                .bind(now.0)
                .execute(self.writer())
                .await
                .map_err(backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
                let (actor_kind, actor_id) = actor_columns(entry.actor);
                sqlx::query(
                    "INSERT INTO audit_log (tenant_id, id, at, actor_kind, actor_id, action, target_type, target_id,
                                            ip, request_id, details)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(entry.tenant_id.0)
                .bind(entry.id.0)
                .bind(entry.at.0)
                .bind(actor_kind)
                .bind(actor_id)
                .bind(&entry.action)
                .bind(entry.target_type.as_deref())
                .bind(entry.target_id.as_deref())
                .bind(entry.ip.as_deref())
                .bind(entry.request_id.as_deref())
                .bind(entry.details.to_string())
                .execute(self.writer())
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn audit_log(
                &self,
                tenant: TenantId,
                before: Option<AuditId>,
                limit: u32,
            ) -> Result<Vec<AuditEntry>, StoreError> {
                // No cursor means "before the largest possible id": the newest page.
                let before = before.map_or(uuid::Uuid::max(), |id| id.0);
                sqlx::query_as::<_, AuditRow>(
                    "SELECT tenant_id, id, at, actor_kind, actor_id, action, target_type, target_id, ip, request_id,
                            details
                     FROM audit_log WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                )
                .bind(tenant.0)
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await
                .map_err(backend)?
                .into_iter()
                .map(AuditEntry::try_from)
                .collect()
            }
        }

        async fn insert_refresh<'c, E>(executor: E, token: &RefreshToken, hash: &TokenHash) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'c, Database = <$store as SqlBackend>::Db>,
        {
            sqlx::query(
                "INSERT INTO refresh_tokens (tenant_id, id, user_id, family_id, token_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(token.tenant_id.0)
            .bind(token.id.0)
            .bind(token.user_id.0)
            .bind(token.family_id.0)
            .bind(hash.0.to_vec())
            .bind(token.created_at.0)
            .bind(token.expires_at.0)
            .execute(executor)
            .await
            .map_err(conflict_as("a refresh token with this hash"))?;
            Ok(())
        }

        async fn revoke_family<'c, E>(
            executor: E,
            tenant: TenantId,
            family: uuid::Uuid,
            now: Millis,
        ) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'c, Database = <$store as SqlBackend>::Db>,
        {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $3
                 WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL",
            )
            .bind(tenant.0)
            .bind(family)
            .bind(now.0)
            .execute(executor)
            .await
            .map_err(backend)?;
            Ok(())
        }
    };
}

pub(crate) use impl_sql_store;

/// What a backend struct provides to `impl_sql_store!`.
pub trait SqlBackend {
    type Db: sqlx::Database;
    fn writer(&self) -> &sqlx::Pool<Self::Db>;
    fn reader(&self) -> &sqlx::Pool<Self::Db>;
    /// Starts a transaction that will write.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
    /// Starts an ingest transaction: `begin_write`, on the connections kept for the
    /// ingest writers where the backend has them.
    fn begin_ingest(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send
    {
        self.begin_write()
    }
}
