//! Conformance of the inbox half of the store on both backends: gap-free `seq`,
//! commit-ordered stream offsets under concurrent writers (G3), idempotent ingest
//! (G2), forward-only statuses (G9) and tenant isolation (G6).

use crate::common;

use common::{Backend, TestDb};
use std::collections::HashSet;
use std::sync::Arc;
use switchboard_actors::inbox::records::{ConversationChange, Identity, Inbound, StatusReport};
use switchboard_actors::inbox::store::StatusUpdate;
use switchboard_actors::store::{Store, Tenant, User};
use switchboard_actors::{
    ChannelKey, ConversationStatus, DeliveryStatus, Direction, Email, MessageKind, Millis, Role,
    TenantId, UserId, UserStatus,
};

async fn open(backend: Backend) -> (Arc<dyn Store>, TestDb, TenantId) {
    let (store, db) = common::open_store(backend).await;
    let tenant = add_tenant(store.as_ref(), "t").await;
    (store, db, tenant)
}

async fn add_tenant(store: &dyn Store, slug: &str) -> TenantId {
    let tenant = Tenant {
        id: TenantId::new(),
        slug: slug.into(),
        name: slug.into(),
        created_at: Millis(1),
    };
    let owner = User {
        tenant_id: tenant.id,
        id: UserId::new(),
        email: Email::parse(&format!("o@{slug}.test")).unwrap(),
        name: "o".into(),
        role: Role::Owner,
        status: UserStatus::Active,
        password_hash: None,
        created_at: Millis(1),
        updated_at: Millis(1),
    };
    store.create_tenant(&tenant, &owner).await.unwrap();
    tenant.id
}

fn inbound(from: &str, text: &str, provider_id: Option<&str>) -> Inbound {
    let channel = ChannelKey::sandbox("demo").unwrap();
    Inbound {
        channel: channel.clone(),
        direction: Direction::Inbound,
        sender: Identity {
            channel,
            external_id: from.into(),
        },
        sender_name: from.into(),
        sender_phone: None,
        sender_email: None,
        provider_id: provider_id.map(str::to_owned),
        kind: MessageKind::Text,
        body: Some(text.into()),
        attachment: None,
        received_at: Millis::now(),
    }
}

async fn concurrent_writers_get_gap_free_seqs_and_commit_ordered_offsets(backend: Backend) {
    let (store, _db, tenant) = open(backend).await;
    let head = store.stream_head(tenant).await.unwrap();
    assert_eq!((head.last_offset, head.first_kept), (0, 1));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut offsets = Vec::new();
                for n in 0..25 {
                    let recorded = store
                        .ingest(
                            tenant,
                            &inbound(&format!("c{}", w % 3), &format!("{w}-{n}"), None),
                        )
                        .await
                        .unwrap();
                    offsets.push(recorded.events[0].offset);
                }
                offsets
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for writer in writers {
        let offsets = writer.await.unwrap();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "one writer's offsets rise"
        );
        seen.extend(offsets);
    }
    assert_eq!(
        seen,
        (1..=200).collect::<HashSet<i64>>(),
        "offsets 1..=200, no gap, no repeat"
    );

    let events = store.events_after(tenant, 0, 500).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.offset).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<_>>()
    );
    let mut per_conversation = std::collections::HashMap::<_, Vec<i64>>::new();
    for event in &events {
        let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        per_conversation
            .entry(event.conversation_id)
            .or_default()
            .push(data["message"]["seq"].as_i64().unwrap());
    }
    for seqs in per_conversation.values() {
        assert_eq!(
            *seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "seq gap-free and in offset order"
        );
    }
    assert_eq!(store.stream_head(tenant).await.unwrap().last_offset, 200);
}

async fn a_replayed_provider_id_is_stored_once_and_publishes_nothing(backend: Backend) {
    let (store, _db, tenant) = open(backend).await;
    let first = store
        .ingest(tenant, &inbound("ann", "hi", Some("p-1")))
        .await
        .unwrap();
    let again = store
        .ingest(tenant, &inbound("ann", "hi", Some("p-1")))
        .await
        .unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(first.message.id, again.message.id);
    assert!(again.events.is_empty());
    assert_eq!(store.stream_head(tenant).await.unwrap().last_offset, 1);
}

async fn statuses_merge_forward_whatever_order_they_arrive_in(backend: Backend) {
    let (store, _db, tenant) = open(backend).await;
    let recorded = store
        .ingest(tenant, &inbound("bob", "hi", None))
        .await
        .unwrap();
    let id = recorded.message.id;
    let mut applied = Vec::new();
    for status in [
        DeliveryStatus::Read,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ] {
        match store
            .advance_message_status(tenant, id, &StatusReport::new(status))
            .await
            .unwrap()
        {
            StatusUpdate::Advanced { message, .. } => applied.push(message.status),
            StatusUpdate::Stale(message) => assert_eq!(message.status, DeliveryStatus::Read),
            StatusUpdate::UnknownMessage => panic!("message is known"),
        }
    }
    assert_eq!(applied, [DeliveryStatus::Read]);
    assert_eq!(
        store.message(tenant, id).await.unwrap().unwrap().status,
        DeliveryStatus::Read
    );
    let other = add_tenant(store.as_ref(), "other").await;
    assert!(matches!(
        store
            .advance_message_status(other, id, &StatusReport::new(DeliveryStatus::Read))
            .await
            .unwrap(),
        StatusUpdate::UnknownMessage
    ));
}

async fn no_inbox_read_crosses_tenants(backend: Backend) {
    let (store, _db, tenant) = open(backend).await;
    let recorded = store
        .ingest(tenant, &inbound("cy", "hi", None))
        .await
        .unwrap();
    let other = add_tenant(store.as_ref(), "other").await;
    assert!(
        store
            .conversation(other, recorded.conversation.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .messages(other, recorded.conversation.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .contact(other, recorded.conversation.contact_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.events_after(other, 0, 10).await.unwrap().is_empty());
    assert!(
        store
            .search_contacts(other, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn pruned_events_move_the_first_kept_offset(backend: Backend) {
    let (store, _db, tenant) = open(backend).await;
    for n in 0..3 {
        store
            .ingest(tenant, &inbound("dee", &format!("{n}"), None))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .prune_events(Millis::now().plus(std::time::Duration::from_secs(1)))
            .await
            .unwrap(),
        3
    );
    let head = store.stream_head(tenant).await.unwrap();
    assert_eq!((head.last_offset, head.first_kept), (3, 4));
}

async fn one_batch_stores_new_senders_replays_and_closed_conversations_as_one_by_one_would(
    backend: Backend,
) {
    let (store, _db, tenant) = open(backend).await;
    let before = store
        .ingest(tenant, &inbound("old", "earlier", Some("p-old")))
        .await
        .unwrap();
    let closed = before.conversation.id;
    store
        .change_conversation(
            tenant,
            closed,
            &ConversationChange::Status {
                status: ConversationStatus::Closed,
                snoozed_until: None,
            },
            None,
            Millis::now(),
        )
        .await
        .unwrap()
        .unwrap();
    let head = store.stream_head(tenant).await.unwrap().last_offset;

    let mut echo = inbound("ann", "we are open at 9", Some("p-5"));
    echo.direction = Direction::Outbound;
    let batch = [
        inbound("ann", "first", Some("p-1")),
        inbound("ann", "second", Some("p-2")),
        inbound("old", "back again", Some("p-3")),
        inbound("old", "still me", Some("p-4")),
        inbound("ann", "first", Some("p-1")),
        inbound("old", "earlier", Some("p-old")),
        echo,
    ];
    let batch: Vec<_> = batch.into_iter().map(|inbound| (tenant, inbound)).collect();
    let recorded = store.ingest_batch(&batch).await.unwrap();

    let seqs: Vec<(bool, i64)> = recorded
        .iter()
        .map(|r| (r.duplicate, r.message.seq))
        .collect();
    assert_eq!(
        seqs,
        [
            (false, 1),
            (false, 2),
            (false, 1),
            (false, 2),
            (true, 1),
            (true, 1),
            (false, 3)
        ]
    );
    let ann = recorded[0].conversation.id;
    let back = recorded[2].conversation.id;
    assert_eq!(recorded[1].conversation.id, ann);
    assert_eq!(recorded[6].conversation.id, ann);
    assert_ne!(
        back, closed,
        "a closed conversation is followed by a new one"
    );
    assert_eq!(recorded[3].conversation.id, back);
    assert_eq!(recorded[4].message.id, recorded[0].message.id);
    assert_eq!(recorded[5].message.id, before.message.id);
    assert!(recorded[4].events.is_empty() && recorded[5].events.is_empty());
    assert_eq!(recorded[6].message.status, DeliveryStatus::Sent);
    assert_eq!(
        store
            .contact(tenant, recorded[0].conversation.contact_id)
            .await
            .unwrap()
            .unwrap()
            .identities
            .len(),
        1,
        "the new sender got one contact"
    );

    // Each event shows its conversation as that message left it.
    let offsets: Vec<i64> = recorded
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.offset))
        .collect();
    assert_eq!(offsets, (head + 1..=head + 5).collect::<Vec<_>>());
    let unread: Vec<i64> = recorded
        .iter()
        .filter(|r| !r.duplicate)
        .map(|r| {
            let data: serde_json::Value = serde_json::from_str(&r.events[0].data).unwrap();
            data["conversation"]["unread_count"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(unread, [1, 2, 1, 2, 2], "an echo is not unread");
    assert_eq!(store.events_after(tenant, head, 10).await.unwrap().len(), 5);

    let stored = store.conversation(tenant, ann).await.unwrap().unwrap();
    assert_eq!(stored, recorded[6].conversation);
    assert_eq!((stored.last_seq, stored.unread_count), (3, 2));
    let messages = store.messages(tenant, ann, None, 10).await.unwrap();
    assert_eq!(
        messages
            .iter()
            .map(|m| m.body.as_deref().unwrap())
            .collect::<Vec<_>>(),
        ["first", "second", "we are open at 9"]
    );
    let reopened = store.conversation(tenant, back).await.unwrap().unwrap();
    assert_eq!(
        (reopened.status, reopened.last_seq),
        (ConversationStatus::Open, 2)
    );
    assert_eq!(
        store
            .conversation(tenant, closed)
            .await
            .unwrap()
            .unwrap()
            .status,
        ConversationStatus::Closed
    );
}

async fn new_tenants_open_their_streams_at_once_on_a_one_connection_pool(backend: Backend) {
    let (store, _db) = common::open_store_with(backend, 1).await;
    let mut tenants = Vec::new();
    for slug in ["a", "b", "c"] {
        tenants.push(add_tenant(store.as_ref(), slug).await);
    }
    let heads =
        futures_util::future::join_all(tenants.iter().map(|tenant| store.stream_head(*tenant)))
            .await;
    for head in heads {
        let head = head.expect("a stream head, not a wait for a second connection");
        assert_eq!((head.last_offset, head.first_kept), (0, 1));
    }
}

async fn one_batch_of_two_tenants_keeps_their_streams_and_contacts_apart(backend: Backend) {
    let (store, _db, first) = open(backend).await;
    let second = add_tenant(store.as_ref(), "second").await;
    store
        .ingest(second, &inbound("ann", "earlier", Some("p-0")))
        .await
        .unwrap();
    let batch = [
        (first, inbound("ann", "one", Some("p-1"))),
        (second, inbound("ann", "two", Some("p-1"))),
        (first, inbound("ann", "three", Some("p-2"))),
        (second, inbound("ann", "earlier", Some("p-0"))),
    ];
    let recorded = store.ingest_batch(&batch).await.unwrap();

    let duplicates: Vec<bool> = recorded.iter().map(|r| r.duplicate).collect();
    assert_eq!(
        duplicates,
        [false, false, false, true],
        "a provider id is per tenant"
    );
    let offsets: Vec<Vec<i64>> = recorded
        .iter()
        .map(|r| r.events.iter().map(|e| e.offset).collect())
        .collect();
    assert_eq!(offsets, [vec![1], vec![2], vec![2], vec![]]);
    assert_ne!(
        recorded[0].conversation.contact_id, recorded[1].conversation.contact_id,
        "the same sender id is another contact in another tenant"
    );
    assert_eq!(recorded[0].conversation.id, recorded[2].conversation.id);
    assert_eq!((recorded[1].message.seq, recorded[2].message.seq), (2, 2));
    assert_eq!(store.stream_head(first).await.unwrap().last_offset, 2);
    assert_eq!(store.stream_head(second).await.unwrap().last_offset, 2);
    for (tenant, bodies) in [
        (first, vec!["one", "three"]),
        (second, vec!["earlier", "two"]),
    ] {
        let events = store.events_after(tenant, 0, 10).await.unwrap();
        let seen: Vec<String> = events
            .iter()
            .map(|e| {
                let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
                data["message"]["body"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(seen, bodies);
    }
}

on_both_backends!(
    one_batch_of_two_tenants_keeps_their_streams_and_contacts_apart,
    new_tenants_open_their_streams_at_once_on_a_one_connection_pool,
    one_batch_stores_new_senders_replays_and_closed_conversations_as_one_by_one_would,
    concurrent_writers_get_gap_free_seqs_and_commit_ordered_offsets,
    a_replayed_provider_id_is_stored_once_and_publishes_nothing,
    statuses_merge_forward_whatever_order_they_arrive_in,
    no_inbox_read_crosses_tenants,
    pruned_events_move_the_first_kept_offset,
);
