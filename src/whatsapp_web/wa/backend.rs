//! The `whatsapp-rust` storage traits over one session's sealed keys
//! (`SessionKeys`): every kind of state is a namespace, every record a key in it, so
//! the whole session lives in the shared `session_keys` table and any node can take
//! it over. Values are the crate's own bytes where it hands bytes, JSON otherwise.

use std::collections::HashMap;
use std::sync::Arc;
use switchboard_actors::session::keys::SessionKeys;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::store::error::{Result, StoreError};
use whatsapp_rust::store::traits::{
    AppStateSyncKey, AppSyncStore, DeviceListRecord, DeviceStore, LidPnMappingEntry,
    MsgSecretEntry, MsgSecretStore, ProtocolStore, SignalStore, TcTokenEntry,
    merge_msg_secret_expiry, merge_msg_secret_message_ts,
};
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;
use whatsapp_rust::wacore::store::Device;

/// Namespaces: one per kind of record.
mod ns {
    pub const IDENTITY: &str = "identity";
    pub const SESSION: &str = "session";
    pub const PREKEY: &str = "prekey";
    pub const SIGNED_PREKEY: &str = "signed_prekey";
    pub const SENDER_KEY: &str = "sender_key";
    pub const SYNC_KEY: &str = "sync_key";
    pub const SYNC_LATEST: &str = "sync_latest";
    pub const VERSION: &str = "app_state_version";
    pub const MUTATION_MAC: &str = "mutation_mac";
    pub const SENDER_KEY_DEVICES: &str = "sender_key_devices";
    pub const LID: &str = "lid";
    pub const PN: &str = "pn";
    pub const BASE_KEY: &str = "base_key";
    pub const DEVICE_LIST: &str = "device_list";
    pub const GROUP_METADATA: &str = "group_metadata";
    pub const TC_TOKEN: &str = "tc_token";
    pub const SENT: &str = "sent_message";
    pub const MSG_SECRET: &str = "msg_secret";
    pub const PENDING_INBOUND: &str = "pending_inbound";
    pub const DEVICE: &str = "device";
}

/// The one key of single-record namespaces.
const ONLY: &str = "-";

pub struct KeysBackend {
    keys: Arc<dyn SessionKeys>,
}

impl KeysBackend {
    pub fn new(keys: Arc<dyn SessionKeys>) -> Self {
        Self { keys }
    }

    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.keys.get(namespace, key).await.map_err(database)
    }

    async fn put(&self, namespace: &str, key: &str, value: Vec<u8>) -> Result<()> {
        self.put_all(namespace, vec![(key.to_owned(), value)]).await
    }

    async fn put_all(&self, namespace: &str, pairs: Vec<(String, Vec<u8>)>) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.keys.put(namespace, &pairs).await.map_err(database)
    }

    async fn delete(&self, namespace: &str, keys: Vec<String>) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.keys.delete(namespace, &keys).await.map_err(database)
    }

    async fn list(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.keys.list(namespace).await.map_err(database)
    }

    /// Values stamped with the time they were stored (8 bytes, little-endian Unix
    /// seconds, then the payload): deletes those stamped before `cutoff`.
    async fn delete_stamped_before(&self, namespace: &str, cutoff: i64) -> Result<u32> {
        let expired: Vec<String> = self
            .list(namespace)
            .await?
            .into_iter()
            .filter(|(_, value)| {
                value
                    .get(..8)
                    .and_then(|at| <[u8; 8]>::try_from(at).ok())
                    .is_none_or(|at| i64::from_le_bytes(at) < cutoff)
            })
            .map(|(key, _)| key)
            .collect();
        let count = u32::try_from(expired.len()).unwrap_or(u32::MAX);
        self.delete(namespace, expired).await?;
        Ok(count)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<T>> {
        self.get(namespace, key)
            .await?
            .map(|bytes| from_json(&bytes))
            .transpose()
    }

    async fn put_json<T: serde::Serialize>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
    ) -> Result<()> {
        self.put(namespace, key, to_json(value)?).await
    }
}

fn database(err: switchboard_actors::store::StoreError) -> StoreError {
    StoreError::Database(Box::new(err))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|err| StoreError::Serialization(Box::new(err)))
}

fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Serialization(Box::new(err)))
}

/// Composite keys: the parts joined by a byte no JID or message id contains.
fn joined(parts: &[&str]) -> String {
    parts.join("\u{1f}")
}

/// Prekey ids as fixed-width text, so the namespace lists in id order.
fn prekey_key(id: u32) -> String {
    format!("{id:010}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_secs() -> i64 {
    switchboard_actors::Millis::now().0 / 1000
}

#[whatsapp_rust::async_trait]
impl SignalStore for KeysBackend {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> Result<()> {
        self.put(ns::IDENTITY, address, key.to_vec()).await
    }

    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> Result<()> {
        let pairs = identities
            .iter()
            .map(|(address, key)| (address.to_string(), key.to_vec()))
            .collect();
        self.put_all(ns::IDENTITY, pairs).await
    }

    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>> {
        match self.get(ns::IDENTITY, address).await? {
            Some(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
                .map(Some)
                .map_err(|_| {
                    StoreError::Validation(format!("identity of {address} is not 32 bytes"))
                }),
            None => Ok(None),
        }
    }

    async fn delete_identity(&self, address: &str) -> Result<()> {
        self.delete(ns::IDENTITY, vec![address.to_owned()]).await
    }

    async fn get_session(&self, address: &str) -> Result<Option<Bytes>> {
        Ok(self.get(ns::SESSION, address).await?.map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> Result<()> {
        self.put(ns::SESSION, address, session.to_vec()).await
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> Result<()> {
        let pairs = sessions
            .iter()
            .map(|(address, session)| (address.to_string(), session.to_vec()))
            .collect();
        self.put_all(ns::SESSION, pairs).await
    }

    async fn delete_session(&self, address: &str) -> Result<()> {
        self.delete(ns::SESSION, vec![address.to_owned()]).await
    }

    /// First byte: uploaded (1) or not (0); then the record.
    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> Result<()> {
        let mut value = vec![u8::from(uploaded)];
        value.extend_from_slice(record);
        self.put(ns::PREKEY, &prekey_key(id), value).await
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], uploaded: bool) -> Result<()> {
        let pairs = keys
            .iter()
            .map(|(id, record)| {
                let mut value = vec![u8::from(uploaded)];
                value.extend_from_slice(record);
                (prekey_key(*id), value)
            })
            .collect();
        self.put_all(ns::PREKEY, pairs).await
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<Bytes>> {
        Ok(self
            .get(ns::PREKEY, &prekey_key(id))
            .await?
            .filter(|value| !value.is_empty())
            .map(|value| Bytes::copy_from_slice(&value[1..])))
    }

    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> Result<()> {
        let mut pairs = Vec::new();
        for id in ids {
            // Only rows that still exist: a used prekey must not come back.
            if let Some(mut value) = self.get(ns::PREKEY, &prekey_key(*id)).await? {
                if let Some(flag) = value.first_mut() {
                    *flag = 1;
                }
                pairs.push((prekey_key(*id), value));
            }
        }
        self.put_all(ns::PREKEY, pairs).await
    }

    async fn remove_prekey(&self, id: u32) -> Result<()> {
        self.delete(ns::PREKEY, vec![prekey_key(id)]).await
    }

    async fn get_max_prekey_id(&self) -> Result<u32> {
        Ok(self
            .list(ns::PREKEY)
            .await?
            .iter()
            .filter_map(|(key, _)| key.parse::<u32>().ok())
            .max()
            .unwrap_or(0))
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> Result<()> {
        self.put(ns::SIGNED_PREKEY, &prekey_key(id), record.to_vec())
            .await
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>> {
        self.get(ns::SIGNED_PREKEY, &prekey_key(id)).await
    }

    async fn load_all_signed_prekeys(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        Ok(self
            .list(ns::SIGNED_PREKEY)
            .await?
            .into_iter()
            .filter_map(|(key, value)| Some((key.parse::<u32>().ok()?, value)))
            .collect())
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<()> {
        self.delete(ns::SIGNED_PREKEY, vec![prekey_key(id)]).await
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> Result<()> {
        self.put(ns::SENDER_KEY, address, record.to_vec()).await
    }

    async fn get_sender_key(&self, address: &str) -> Result<Option<Vec<u8>>> {
        self.get(ns::SENDER_KEY, address).await
    }

    async fn delete_sender_key(&self, address: &str) -> Result<()> {
        self.delete(ns::SENDER_KEY, vec![address.to_owned()]).await
    }
}

#[whatsapp_rust::async_trait]
impl AppSyncStore for KeysBackend {
    async fn get_sync_key(&self, key_id: &[u8]) -> Result<Option<AppStateSyncKey>> {
        self.get_json(ns::SYNC_KEY, &hex(key_id)).await
    }

    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> Result<()> {
        self.put_json(ns::SYNC_KEY, &hex(key_id), &key).await?;
        self.put(ns::SYNC_LATEST, ONLY, key_id.to_vec()).await
    }

    async fn get_version(&self, name: &str) -> Result<HashState> {
        Ok(self.get_json(ns::VERSION, name).await?.unwrap_or_default())
    }

    async fn set_version(&self, name: &str, state: HashState) -> Result<()> {
        self.put_json(ns::VERSION, name, &state).await
    }

    async fn put_mutation_macs(
        &self,
        name: &str,
        _version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> Result<()> {
        let pairs = mutations
            .iter()
            .map(|m| (joined(&[name, &hex(&m.index_mac)]), m.value_mac.clone()))
            .collect();
        self.put_all(ns::MUTATION_MAC, pairs).await
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(ns::MUTATION_MAC, &joined(&[name, &hex(index_mac)]))
            .await
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> Result<()> {
        let keys = index_macs
            .iter()
            .map(|index| joined(&[name, &hex(index)]))
            .collect();
        self.delete(ns::MUTATION_MAC, keys).await
    }

    async fn clear_mutation_macs(&self, name: &str) -> Result<()> {
        let prefix = joined(&[name, ""]);
        let keys = self
            .list(ns::MUTATION_MAC)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| key.starts_with(&prefix))
            .collect();
        self.delete(ns::MUTATION_MAC, keys).await
    }

    async fn get_latest_sync_key_id(&self) -> Result<Option<Vec<u8>>> {
        self.get(ns::SYNC_LATEST, ONLY).await
    }
}

#[whatsapp_rust::async_trait]
impl ProtocolStore for KeysBackend {
    async fn get_sender_key_devices(&self, group_jid: &str) -> Result<Vec<(String, bool)>> {
        Ok(self
            .get_json::<HashMap<String, bool>>(ns::SENDER_KEY_DEVICES, group_jid)
            .await?
            .unwrap_or_default()
            .into_iter()
            .collect())
    }

    async fn set_sender_key_status(&self, group_jid: &str, entries: &[(&str, bool)]) -> Result<()> {
        let mut devices: HashMap<String, bool> = self
            .get_json(ns::SENDER_KEY_DEVICES, group_jid)
            .await?
            .unwrap_or_default();
        for (device, has_key) in entries {
            devices.insert((*device).to_owned(), *has_key);
        }
        self.put_json(ns::SENDER_KEY_DEVICES, group_jid, &devices)
            .await
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> Result<()> {
        self.delete(ns::SENDER_KEY_DEVICES, vec![group_jid.to_owned()])
            .await
    }

    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> Result<()> {
        let mut changed = Vec::new();
        for (group, value) in self.list(ns::SENDER_KEY_DEVICES).await? {
            let mut devices: HashMap<String, bool> = from_json(&value)?;
            let before = devices.len();
            devices.retain(|device, _| !device_jids.contains(&device.as_str()));
            if devices.len() != before {
                changed.push((group, to_json(&devices)?));
            }
        }
        self.put_all(ns::SENDER_KEY_DEVICES, changed).await
    }

    async fn clear_all_sender_key_devices(&self) -> Result<()> {
        let keys = self
            .list(ns::SENDER_KEY_DEVICES)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        self.delete(ns::SENDER_KEY_DEVICES, keys).await
    }

    async fn get_lid_mapping(&self, lid: &str) -> Result<Option<LidPnMappingEntry>> {
        self.get_json(ns::LID, lid).await
    }

    async fn get_pn_mapping(&self, phone: &str) -> Result<Option<LidPnMappingEntry>> {
        match self.get(ns::PN, phone).await? {
            Some(lid) => self.get_json(ns::LID, &String::from_utf8_lossy(&lid)).await,
            None => Ok(None),
        }
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> Result<()> {
        self.put_json(ns::LID, &entry.lid, entry).await?;
        self.put(ns::PN, &entry.phone_number, entry.lid.as_bytes().to_vec())
            .await
    }

    async fn get_all_lid_mappings(&self) -> Result<Vec<LidPnMappingEntry>> {
        self.list(ns::LID)
            .await?
            .iter()
            .map(|(_, value)| from_json(value))
            .collect()
    }

    async fn save_base_key(&self, address: &str, message_id: &str, base_key: &[u8]) -> Result<()> {
        self.put(
            ns::BASE_KEY,
            &joined(&[address, message_id]),
            base_key.to_vec(),
        )
        .await
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> Result<bool> {
        Ok(self
            .get(ns::BASE_KEY, &joined(&[address, message_id]))
            .await?
            .is_some_and(|stored| stored == current_base_key))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> Result<()> {
        self.delete(ns::BASE_KEY, vec![joined(&[address, message_id])])
            .await
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> Result<()> {
        self.put_json(ns::DEVICE_LIST, &record.user.clone(), &record)
            .await
    }

    async fn get_devices(&self, user: &str) -> Result<Option<DeviceListRecord>> {
        self.get_json(ns::DEVICE_LIST, user).await
    }

    async fn delete_devices(&self, user: &str) -> Result<()> {
        self.delete(ns::DEVICE_LIST, vec![user.to_owned()]).await
    }

    async fn get_group_metadata(&self, group_jid: &str) -> Result<Option<Vec<u8>>> {
        self.get(ns::GROUP_METADATA, group_jid).await
    }

    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> Result<()> {
        self.put(ns::GROUP_METADATA, group_jid, blob.to_vec()).await
    }

    async fn delete_group_metadata(&self, group_jid: &str) -> Result<()> {
        self.delete(ns::GROUP_METADATA, vec![group_jid.to_owned()])
            .await
    }

    async fn get_tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        self.get_json(ns::TC_TOKEN, jid).await
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        self.put_json(ns::TC_TOKEN, jid, entry).await
    }

    async fn delete_tc_token(&self, jid: &str) -> Result<()> {
        self.delete(ns::TC_TOKEN, vec![jid.to_owned()]).await
    }

    async fn get_all_tc_token_jids(&self) -> Result<Vec<String>> {
        Ok(self
            .list(ns::TC_TOKEN)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    async fn delete_expired_tc_tokens(&self, token_cutoff: i64, sender_cutoff: i64) -> Result<u32> {
        let mut expired = Vec::new();
        for (jid, value) in self.list(ns::TC_TOKEN).await? {
            let entry: TcTokenEntry = from_json(&value)?;
            let token_live = !entry.token.is_empty() && entry.token_timestamp >= token_cutoff;
            let sender_live = entry.sender_timestamp.is_some_and(|ts| ts >= sender_cutoff);
            if !token_live && !sender_live {
                expired.push(jid);
            }
        }
        let count = u32::try_from(expired.len()).unwrap_or(u32::MAX);
        self.delete(ns::TC_TOKEN, expired).await?;
        Ok(count)
    }

    /// Stored with the time it was sent, for `delete_expired_sent_messages`.
    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
    ) -> Result<()> {
        let mut value = now_secs().to_le_bytes().to_vec();
        value.extend_from_slice(payload);
        self.put(ns::SENT, &joined(&[chat_jid, message_id]), value)
            .await
    }

    async fn take_sent_message(&self, chat_jid: &str, message_id: &str) -> Result<Option<Vec<u8>>> {
        let key = joined(&[chat_jid, message_id]);
        let Some(value) = self.get(ns::SENT, &key).await? else {
            return Ok(None);
        };
        self.delete(ns::SENT, vec![key]).await?;
        Ok(value.get(8..).map(<[u8]>::to_vec))
    }

    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.delete_stamped_before(ns::SENT, cutoff_timestamp).await
    }

    async fn store_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        message: &[u8],
    ) -> Result<()> {
        let mut value = now_secs().to_le_bytes().to_vec();
        value.extend_from_slice(message);
        self.put(ns::PENDING_INBOUND, &joined(&[chat, sender, id]), value)
            .await
    }

    async fn get_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .get(ns::PENDING_INBOUND, &joined(&[chat, sender, id]))
            .await?
            .and_then(|value| value.get(8..).map(<[u8]>::to_vec)))
    }

    async fn delete_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<()> {
        self.delete(ns::PENDING_INBOUND, vec![joined(&[chat, sender, id])])
            .await
    }

    async fn delete_expired_pending_inbound(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.delete_stamped_before(ns::PENDING_INBOUND, cutoff_timestamp)
            .await
    }
}

/// A message secret as stored: the secret, its deadline and its message's time.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredSecret {
    secret: Vec<u8>,
    expires_at: i64,
    message_ts: i64,
}

#[whatsapp_rust::async_trait]
impl MsgSecretStore for KeysBackend {
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> Result<usize> {
        let stored = entries.len();
        let mut pairs = Vec::with_capacity(stored);
        for entry in entries {
            let key = joined(&[&entry.chat, &entry.sender, &entry.msg_id]);
            let (expires_at, message_ts) =
                match self.get_json::<StoredSecret>(ns::MSG_SECRET, &key).await? {
                    Some(existing) => (
                        merge_msg_secret_expiry(existing.expires_at, entry.expires_at),
                        merge_msg_secret_message_ts(existing.message_ts, entry.message_ts),
                    ),
                    None => (entry.expires_at, entry.message_ts),
                };
            let value = StoredSecret {
                secret: entry.secret.to_vec(),
                expires_at,
                message_ts,
            };
            pairs.push((key, to_json(&value)?));
        }
        self.put_all(ns::MSG_SECRET, pairs).await?;
        Ok(stored)
    }

    async fn get_msg_secret(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .get_msg_secret_with_ts(chat, sender, msg_id)
            .await?
            .map(|(secret, _)| secret))
    }

    async fn get_msg_secret_with_ts(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>> {
        Ok(self
            .get_json::<StoredSecret>(ns::MSG_SECRET, &joined(&[chat, sender, msg_id]))
            .await?
            .map(|stored| (stored.secret, stored.message_ts)))
    }

    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> Result<u32> {
        let mut expired = Vec::new();
        for (key, value) in self.list(ns::MSG_SECRET).await? {
            let stored: StoredSecret = from_json(&value)?;
            if stored.expires_at != 0 && stored.expires_at <= cutoff_timestamp {
                expired.push(key);
            }
        }
        let count = u32::try_from(expired.len()).unwrap_or(u32::MAX);
        self.delete(ns::MSG_SECRET, expired).await?;
        Ok(count)
    }
}

#[whatsapp_rust::async_trait]
impl DeviceStore for KeysBackend {
    async fn save(&self, device: &Device) -> Result<()> {
        self.put_json(ns::DEVICE, ONLY, device).await
    }

    async fn load(&self) -> Result<Option<Device>> {
        self.get_json(ns::DEVICE, ONLY).await
    }

    async fn exists(&self) -> Result<bool> {
        Ok(self.get(ns::DEVICE, ONLY).await?.is_some())
    }

    /// One device per session: its id is always 1.
    async fn create(&self) -> Result<i32> {
        if !self.exists().await? {
            self.save(&Device::new()).await?;
        }
        Ok(1)
    }
}
