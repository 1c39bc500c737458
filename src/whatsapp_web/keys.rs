//! A session's keys in the store's `session_keys` table, each value sealed with
//! AES-256-GCM under the server's credentials key and bound to its row (tenant,
//! session, namespace, key), so a value copied to another row does not open.

use crate::channels::credentials::Sealer;
use async_trait::async_trait;
use std::sync::Arc;
use switchboard_actors::session::keys::{SessionKeyRows, SessionKeys};
use switchboard_actors::store::{Store, StoreError};
use switchboard_actors::{ChannelId, TenantId};

pub struct SealedKeys {
    store: Arc<dyn Store>,
    sealer: Sealer,
    tenant: TenantId,
    session: ChannelId,
}

impl SealedKeys {
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Sealer,
        tenant: TenantId,
        session: ChannelId,
    ) -> Self {
        Self {
            store,
            sealer,
            tenant,
            session,
        }
    }

    fn context(&self, namespace: &str, key: &str) -> Vec<u8> {
        let mut context = Vec::with_capacity(34 + namespace.len() + key.len());
        context.extend_from_slice(self.tenant.0.as_bytes());
        context.extend_from_slice(self.session.0.as_bytes());
        // Lengths keep ("ab", "c") and ("a", "bc") apart.
        context.extend_from_slice(
            &u32::try_from(namespace.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        context.extend_from_slice(namespace.as_bytes());
        context.extend_from_slice(key.as_bytes());
        context
    }

    fn open(&self, namespace: &str, key: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.sealer
            .open_bytes(&self.context(namespace, key), sealed)
            .map_err(|err| StoreError::Backend(format!("session key {namespace}/{key}: {err}")))
    }

    fn rows(&self) -> &dyn SessionKeyRows {
        self.store.as_ref()
    }
}

#[async_trait]
impl SessionKeys for SealedKeys {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.rows()
            .session_key(self.tenant, self.session, namespace, key)
            .await?
            .map(|sealed| self.open(namespace, key, &sealed))
            .transpose()
    }

    async fn put(&self, namespace: &str, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let sealed = pairs
            .iter()
            .map(|(key, value)| {
                self.sealer
                    .seal_bytes(&self.context(namespace, key), value)
                    .map(|sealed| (key.clone(), sealed))
                    .map_err(|err| StoreError::Backend(err.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.rows()
            .put_session_keys(self.tenant, self.session, namespace, &sealed)
            .await
    }

    async fn delete(&self, namespace: &str, keys: &[String]) -> Result<(), StoreError> {
        self.rows()
            .delete_session_keys(self.tenant, self.session, namespace, keys)
            .await
    }

    async fn list(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.rows()
            .session_keys(self.tenant, self.session, namespace)
            .await?
            .into_iter()
            .map(|(key, sealed)| {
                let value = self.open(namespace, &key, &sealed)?;
                Ok((key, value))
            })
            .collect()
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.rows()
            .clear_session_keys(self.tenant, self.session)
            .await
    }
}
