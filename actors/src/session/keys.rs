//! Where a session's keys live: one table of (tenant, session, namespace, key) →
//! value, sealed by the server, so any node can take a session over.

use crate::store::StoreError;
use crate::{ChannelId, TenantId};
use async_trait::async_trait;

/// One session's keys. Values are opaque bytes; the adapter seals them at rest.
#[async_trait]
pub trait SessionKeys: Send + Sync + 'static {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes every pair in one transaction.
    async fn put(&self, namespace: &str, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError>;
    async fn delete(&self, namespace: &str, keys: &[String]) -> Result<(), StoreError>;
    /// Every pair of the namespace, ordered by key.
    async fn list(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Removes every key of the session (a logout).
    async fn clear(&self) -> Result<(), StoreError>;
}

/// The raw rows, as the `Store` keeps them; `SessionKeys` adapters sit on this.
#[async_trait]
pub trait SessionKeyRows: Send + Sync + 'static {
    async fn session_key(
        &self,
        tenant: TenantId,
        session: ChannelId,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    async fn put_session_keys(
        &self,
        tenant: TenantId,
        session: ChannelId,
        namespace: &str,
        pairs: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError>;

    async fn delete_session_keys(
        &self,
        tenant: TenantId,
        session: ChannelId,
        namespace: &str,
        keys: &[String],
    ) -> Result<(), StoreError>;

    async fn session_keys(
        &self,
        tenant: TenantId,
        session: ChannelId,
        namespace: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    async fn clear_session_keys(
        &self,
        tenant: TenantId,
        session: ChannelId,
    ) -> Result<(), StoreError>;
}
