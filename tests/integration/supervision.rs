//! A tenant actor that crashes does not leave its sockets open and silent: they are
//! closed with 1012, a fresh actor takes over on reconnect, and the resume loses
//! nothing. The crash is injected at a port (a bus whose `signal` panics while armed),
//! the rest is the real inbox on a real SQLite store.

use crate::common;

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use switchboard_actors::inbox::Inbox;
use switchboard_actors::inbox::access::Grant;
use switchboard_actors::inbox::bus::{Bus, Present, Signal};
use switchboard_actors::inbox::outbound::{Delivery, Outbound};
use switchboard_actors::inbox::records::{Conversation, Identity, Inbound};
use switchboard_actors::inbox::session::{
    CloseCode, Member, SessionId, SocketFrame, Subscription, outbox,
};
use switchboard_actors::inbox::settings::InboxSettings;
use switchboard_actors::inbox::stream::StreamEvent;
use switchboard_actors::store::{Tenant, User};
use switchboard_actors::{
    ChannelKey, Direction, Email, MessageKind, Millis, RefreshFamilyId, Role, TenantId, UserId,
    UserStatus,
};
use tokio::sync::mpsc;

/// A bus to no other node, which panics on `signal` while armed: a bug in a handler.
#[derive(Default)]
struct CrashingBus {
    armed: AtomicBool,
}

#[async_trait::async_trait]
impl Bus for CrashingBus {
    fn publish(&self, _: TenantId, _: &[StreamEvent]) {}
    fn signal(&self, _: TenantId, _: Signal) {
        assert!(!self.armed.load(Ordering::SeqCst), "injected crash");
    }
    async fn present(&self, _: TenantId) -> Present {
        Vec::new()
    }
}

/// Sandbox conversations only here: nothing is sent anywhere.
struct NoChannels;

impl Outbound for NoChannels {
    fn dispatch(&self, _: Delivery) {}
    fn mark_read(&self, _: TenantId, _: &Conversation) {}
}

/// A socket as the tenant sees it: its member record and the frames it receives.
struct Socket {
    member: Member,
    frames: mpsc::Receiver<SocketFrame>,
}

impl Socket {
    fn new(user: UserId) -> Self {
        let (outbox, frames) = outbox(64);
        Socket {
            member: Member {
                session: SessionId::next(),
                user,
                sign_in: RefreshFamilyId::new(),
                grant: Grant::new(Role::Agent),
                outbox,
            },
            frames,
        }
    }

    /// The next frame of one of `types`.
    async fn next_of(&mut self, types: &[&str]) -> Value {
        loop {
            let frame = tokio::time::timeout(common::wait::DEADLINE, self.frames.recv())
                .await
                .expect("a frame within the wait")
                .expect("the outbox is open");
            let SocketFrame::Text(frame) = frame else {
                continue;
            };
            let frame: Value = serde_json::from_str(&frame).unwrap();
            if types.contains(&frame["type"].as_str().unwrap_or_default()) {
                return frame;
            }
        }
    }
}

fn customer_says(text: &str) -> Inbound {
    let channel = ChannelKey::sandbox("demo").unwrap();
    Inbound {
        channel: channel.clone(),
        direction: Direction::Inbound,
        sender: Identity {
            channel,
            external_id: "ada".into(),
        },
        sender_name: "Ada".into(),
        sender_phone: None,
        sender_email: None,
        provider_id: None,
        kind: MessageKind::Text,
        body: Some(text.into()),
        attachment: None,
        received_at: Millis::now(),
    }
}

async fn a_crashed_tenant_actor_closes_its_sockets_with_1012_and_a_resume_loses_nothing(
    backend: common::Backend,
) {
    let (store, _db) = common::open_store(backend).await;
    let now = Millis::now();
    let tenant = Tenant {
        id: TenantId::new(),
        slug: "acme".into(),
        name: "Acme".into(),
        created_at: now,
    };
    let user = |email: &str| User {
        tenant_id: tenant.id,
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        name: email.into(),
        role: Role::Agent,
        status: UserStatus::Active,
        password_hash: None,
        created_at: now,
        updated_at: now,
    };
    let (ada, bo) = (user("ada@acme.example"), user("bo@acme.example"));
    store.create_tenant(&tenant, &ada).await.unwrap();
    let bus = Arc::new(CrashingBus::default());
    let inbox = Inbox::new(store.clone(), InboxSettings::default(), bus.clone(), |_| {
        Arc::new(NoChannels) as Arc<dyn Outbound>
    });

    let mut first = Socket::new(ada.id);
    inbox.attach(tenant.id, first.member.clone()).await.unwrap();
    inbox
        .join(tenant.id, first.member.clone(), Subscription::Inbox, None)
        .await
        .unwrap();
    first.next_of(&["reset"]).await;
    inbox
        .ingest(tenant.id, &customer_says("before"))
        .await
        .unwrap();
    let before = first.next_of(&["message.new"]).await;
    assert_eq!(before["data"]["message"]["body"], "before");

    // Bo coming online makes the tenant actor signal, and the armed bus panics in
    // the middle of the handler.
    bus.armed.store(true, Ordering::SeqCst);
    let crasher = Socket::new(bo.id);
    inbox
        .attach(tenant.id, crasher.member.clone())
        .await
        .unwrap();
    assert!(
        inbox
            .join(tenant.id, crasher.member.clone(), Subscription::Inbox, None)
            .await
            .is_err()
    );
    let closed = tokio::time::timeout(common::wait::DEADLINE, first.member.outbox.closer.closed())
        .await
        .expect("the crashed actor's socket is closed");
    assert_eq!(closed, CloseCode::Restarting);
    assert_eq!(CloseCode::Restarting.code(), 1012);
    bus.armed.store(false, Ordering::SeqCst);

    // Meanwhile a customer writes; the socket comes back where it was.
    inbox
        .ingest(tenant.id, &customer_says("during"))
        .await
        .unwrap();
    let mut again = Socket::new(ada.id);
    inbox.attach(tenant.id, again.member.clone()).await.unwrap();
    let position = serde_json::from_value(serde_json::json!({
        "epoch": before["epoch"], "offset": before["offset"]
    }))
    .unwrap();
    inbox
        .join(
            tenant.id,
            again.member.clone(),
            Subscription::Inbox,
            Some(position),
        )
        .await
        .unwrap();
    let missed = again.next_of(&["message.new"]).await;
    assert_eq!(missed["data"]["message"]["body"], "during");
    assert_eq!(missed["offset"], before["offset"].as_i64().unwrap() + 1);
    let resumed = again.next_of(&["resumed", "reset"]).await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["replayed"], 1);
    inbox
        .ingest(tenant.id, &customer_says("after"))
        .await
        .unwrap();
    let live = again.next_of(&["message.new"]).await;
    assert_eq!(live["data"]["message"]["body"], "after");
}

on_both_backends!(a_crashed_tenant_actor_closes_its_sockets_with_1012_and_a_resume_loses_nothing,);
