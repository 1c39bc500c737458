//! The session key store: sealed rows of (tenant, session, namespace, key), driven
//! through `whatsapp-rust`'s own storage traits on both backends.

use crate::common;

use crate::whatsapp_web::{connect_number, setup};
use common::Backend;
use std::sync::Arc;
use switchboard::channels::credentials::Sealer;
use switchboard::startup::open_store;
use switchboard::whatsapp_web::keys::SealedKeys;
use switchboard::whatsapp_web::wa::KeysBackend;
use switchboard_actors::ChannelId;
use switchboard_actors::session::keys::SessionKeys;
use switchboard_actors::store::Store;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::store::traits::{
    AppStateSyncKey, AppSyncStore, DeviceListRecord, DeviceStore, LidPnMappingEntry,
    MsgSecretEntry, MsgSecretStore, ProtocolStore, SignalStore, TcTokenEntry,
};
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;

/// Two sessions of one server, with the store and the server's own sealing key.
async fn two_sessions(
    backend: Backend,
) -> (
    crate::whatsapp_web::Setup,
    Arc<dyn Store>,
    Sealer,
    [ChannelId; 2],
) {
    let setup = setup(backend, |_| {}).await;
    let first = connect_number(&setup.app, &setup.token).await;
    let second = connect_number(&setup.app, &setup.token).await;
    let mut config = common::test_config(&setup.app.db);
    config.database.max_connections = 2;
    let store = open_store(&config).await.unwrap();
    let key = std::fs::read_to_string(setup.app.db.data_dir.path().join("channel-key")).unwrap();
    let sealer = Sealer::from_base64(&key).unwrap();
    (setup, store, sealer, [first, second])
}

async fn keys_of(
    store: &Arc<dyn Store>,
    sealer: &Sealer,
    channel: ChannelId,
) -> Arc<dyn SessionKeys> {
    let tenant = store
        .channel_by_id(channel)
        .await
        .unwrap()
        .unwrap()
        .tenant_id;
    Arc::new(SealedKeys::new(
        store.clone(),
        sealer.clone(),
        tenant,
        channel,
    ))
}

async fn the_crates_storage_traits_keep_every_record_sealed_per_session(backend: Backend) {
    let (_setup, store, sealer, [first, second]) = two_sessions(backend).await;
    let keys = keys_of(&store, &sealer, first).await;
    let other_keys = keys_of(&store, &sealer, second).await;
    let wa = KeysBackend::new(keys.clone());
    let other = KeysBackend::new(other_keys.clone());

    // Device: absent, created, saved, loaded.
    assert!(!wa.exists().await.unwrap());
    assert_eq!(wa.create().await.unwrap(), 1);
    assert!(wa.exists().await.unwrap());
    let mut device = wa.load().await.unwrap().unwrap();
    device.push_name = "Front desk".into();
    wa.save(&device).await.unwrap();
    assert_eq!(wa.load().await.unwrap().unwrap().push_name, "Front desk");
    assert!(
        !other.exists().await.unwrap(),
        "sessions do not share a device"
    );

    // Identities and Signal sessions.
    let identity = [7u8; 32];
    wa.put_identity("4915112345678.0", identity).await.unwrap();
    assert_eq!(
        wa.load_identity("4915112345678.0").await.unwrap(),
        Some(identity)
    );
    assert_eq!(other.load_identity("4915112345678.0").await.unwrap(), None);
    wa.put_session("4915112345678.0", b"ratchet-1")
        .await
        .unwrap();
    assert!(wa.has_session("4915112345678.0").await.unwrap());
    wa.put_sessions_batch(&[(
        Arc::from("4915112345678.0"),
        Bytes::from_static(b"ratchet-2"),
    )])
    .await
    .unwrap();
    assert_eq!(
        wa.get_session("4915112345678.0")
            .await
            .unwrap()
            .unwrap()
            .as_ref(),
        b"ratchet-2"
    );
    wa.delete_session("4915112345678.0").await.unwrap();
    assert!(!wa.has_session("4915112345678.0").await.unwrap());
    wa.delete_identity("4915112345678.0").await.unwrap();
    assert_eq!(wa.load_identity("4915112345678.0").await.unwrap(), None);

    // Prekeys: the highest id, the upload flag, removal that does not come back.
    wa.store_prekeys_batch(
        &[
            (3, Bytes::from_static(b"p3")),
            (12, Bytes::from_static(b"p12")),
        ],
        false,
    )
    .await
    .unwrap();
    wa.store_prekey(9, b"p9", true).await.unwrap();
    assert_eq!(wa.get_max_prekey_id().await.unwrap(), 12);
    assert_eq!(wa.load_prekey(12).await.unwrap().unwrap().as_ref(), b"p12");
    wa.remove_prekey(12).await.unwrap();
    wa.mark_prekeys_uploaded(&[3, 12]).await.unwrap();
    assert_eq!(wa.load_prekey(12).await.unwrap(), None);
    assert_eq!(wa.load_prekey(3).await.unwrap().unwrap().as_ref(), b"p3");
    assert_eq!(wa.get_max_prekey_id().await.unwrap(), 9);
    wa.store_signed_prekey(1, b"s1").await.unwrap();
    wa.store_signed_prekey(2, b"s2").await.unwrap();
    assert_eq!(
        wa.load_all_signed_prekeys().await.unwrap(),
        [(1, b"s1".to_vec()), (2, b"s2".to_vec())]
    );
    wa.remove_signed_prekey(1).await.unwrap();
    assert_eq!(wa.load_signed_prekey(1).await.unwrap(), None);
    wa.put_sender_key("120363@g.us:491511", b"sk")
        .await
        .unwrap();
    assert_eq!(
        wa.get_sender_key("120363@g.us:491511")
            .await
            .unwrap()
            .unwrap(),
        b"sk"
    );

    // App state: sync keys (the newest remembered), versions, mutation MACs.
    let sync_key = AppStateSyncKey {
        key_data: vec![1, 2, 3],
        fingerprint: vec![4],
        timestamp: 1_764_000_000,
    };
    wa.set_sync_key(b"key-a", sync_key.clone()).await.unwrap();
    assert_eq!(
        wa.get_sync_key(b"key-a").await.unwrap().unwrap().key_data,
        [1, 2, 3]
    );
    assert_eq!(
        wa.get_latest_sync_key_id().await.unwrap().unwrap(),
        b"key-a"
    );
    assert_eq!(wa.get_version("regular").await.unwrap().version, 0);
    let mut version = wa.get_version("regular").await.unwrap();
    version.version = 42;
    wa.set_version("regular", version).await.unwrap();
    assert_eq!(wa.get_version("regular").await.unwrap().version, 42);
    let macs = [
        AppStateMutationMAC {
            index_mac: vec![1; 32],
            value_mac: vec![9],
        },
        AppStateMutationMAC {
            index_mac: vec![2; 32],
            value_mac: vec![8],
        },
    ];
    wa.put_mutation_macs("regular", 42, &macs).await.unwrap();
    wa.put_mutation_macs("critical", 1, &macs[..1])
        .await
        .unwrap();
    assert_eq!(
        wa.get_mutation_mac("regular", &[2; 32])
            .await
            .unwrap()
            .unwrap(),
        [8]
    );
    wa.delete_mutation_macs("regular", &[vec![2; 32]])
        .await
        .unwrap();
    assert_eq!(
        wa.get_mutation_mac("regular", &[2; 32]).await.unwrap(),
        None
    );
    wa.clear_mutation_macs("regular").await.unwrap();
    assert_eq!(
        wa.get_mutation_mac("regular", &[1; 32]).await.unwrap(),
        None
    );
    assert_eq!(
        wa.get_mutation_mac("critical", &[1; 32])
            .await
            .unwrap()
            .unwrap(),
        [9]
    );

    // Protocol records.
    wa.set_sender_key_status("g1@g.us", &[("a:1", true), ("b:2", false)])
        .await
        .unwrap();
    let mut devices = wa.get_sender_key_devices("g1@g.us").await.unwrap();
    devices.sort();
    assert_eq!(
        devices,
        [("a:1".to_owned(), true), ("b:2".to_owned(), false)]
    );
    wa.delete_sender_key_device_rows(&["a:1"]).await.unwrap();
    assert_eq!(
        wa.get_sender_key_devices("g1@g.us").await.unwrap(),
        [("b:2".to_owned(), false)]
    );
    wa.clear_all_sender_key_devices().await.unwrap();
    assert!(
        wa.get_sender_key_devices("g1@g.us")
            .await
            .unwrap()
            .is_empty()
    );
    let mapping = LidPnMappingEntry {
        lid: "100000012345678".into(),
        phone_number: "4915112345678".into(),
        created_at: 1,
        updated_at: 2,
        learning_source: "usync".into(),
    };
    wa.put_lid_mapping(&mapping).await.unwrap();
    assert_eq!(
        wa.get_pn_mapping("4915112345678")
            .await
            .unwrap()
            .unwrap()
            .lid,
        "100000012345678"
    );
    assert_eq!(wa.get_all_lid_mappings().await.unwrap().len(), 1);
    wa.save_base_key("addr", "MSG1", b"base").await.unwrap();
    assert!(wa.has_same_base_key("addr", "MSG1", b"base").await.unwrap());
    assert!(
        !wa.has_same_base_key("addr", "MSG1", b"other")
            .await
            .unwrap()
    );
    wa.update_device_list(DeviceListRecord {
        user: "4915112345678".into(),
        devices: Vec::new(),
        timestamp: 5,
        phash: Some("2:abc".into()),
        raw_id: None,
    })
    .await
    .unwrap();
    assert_eq!(
        wa.get_devices("4915112345678")
            .await
            .unwrap()
            .unwrap()
            .timestamp,
        5
    );
    for (jid, at) in [("old@s.whatsapp.net", 10), ("new@s.whatsapp.net", 1_000)] {
        let token = TcTokenEntry {
            token: vec![1],
            token_timestamp: at,
            sender_timestamp: None,
        };
        wa.put_tc_token(jid, &token).await.unwrap();
    }
    assert_eq!(wa.delete_expired_tc_tokens(100, 100).await.unwrap(), 1);
    assert_eq!(
        wa.get_all_tc_token_jids().await.unwrap(),
        ["new@s.whatsapp.net"]
    );
    wa.store_sent_message("chat@s.whatsapp.net", "OUT1", b"payload")
        .await
        .unwrap();
    assert_eq!(
        wa.take_sent_message("chat@s.whatsapp.net", "OUT1")
            .await
            .unwrap()
            .unwrap(),
        b"payload"
    );
    assert_eq!(
        wa.take_sent_message("chat@s.whatsapp.net", "OUT1")
            .await
            .unwrap(),
        None
    );
    wa.store_pending_inbound("c", "s", "IN1", b"decrypted")
        .await
        .unwrap();
    assert_eq!(
        wa.get_pending_inbound("c", "s", "IN1")
            .await
            .unwrap()
            .unwrap(),
        b"decrypted"
    );
    wa.delete_pending_inbound("c", "s", "IN1").await.unwrap();
    assert_eq!(wa.get_pending_inbound("c", "s", "IN1").await.unwrap(), None);

    // Message secrets: an expiry of 0 never expires.
    let secret = |id: &str, expires_at| MsgSecretEntry {
        chat: Arc::from("c"),
        sender: Arc::from("s"),
        msg_id: Arc::from(id),
        secret: [3u8; 32],
        expires_at,
        message_ts: 77,
    };
    wa.put_msg_secrets(vec![secret("KEEP", 0), secret("OLD", 50)])
        .await
        .unwrap();
    assert_eq!(
        wa.get_msg_secret_with_ts("c", "s", "KEEP")
            .await
            .unwrap()
            .unwrap(),
        (vec![3u8; 32], 77)
    );
    assert_eq!(wa.delete_expired_msg_secrets(100).await.unwrap(), 1);
    assert_eq!(wa.get_msg_secret("c", "s", "OLD").await.unwrap(), None);

    // At rest every value is sealed: the identity key's bytes appear nowhere.
    wa.put_identity("probe", [0xAB; 32]).await.unwrap();
    let tenant = store.channel_by_id(first).await.unwrap().unwrap().tenant_id;
    let rows = store.session_keys(tenant, first, "identity").await.unwrap();
    let (_, sealed) = rows.iter().find(|(key, _)| key == "probe").unwrap();
    assert!(!sealed.windows(32).any(|w| w == [0xAB; 32]));
    // A sealed value moved to another row does not open.
    store
        .put_session_keys(
            tenant,
            first,
            "identity",
            &[("moved".into(), sealed.clone())],
        )
        .await
        .unwrap();
    assert!(keys.get("identity", "moved").await.is_err());

    // A logout clears this session only.
    other.put_identity("kept", identity).await.unwrap();
    keys.clear().await.unwrap();
    assert!(!wa.exists().await.unwrap());
    assert_eq!(wa.get_max_prekey_id().await.unwrap(), 0);
    assert_eq!(other.load_identity("kept").await.unwrap(), Some(identity));
}

on_both_backends!(the_crates_storage_traits_keep_every_record_sealed_per_session);
