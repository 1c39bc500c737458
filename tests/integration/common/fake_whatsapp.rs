//! A fake WhatsApp at the `SessionDriver` boundary, shared by every node of a test.
//! It behaves as WhatsApp does for a linked device: an unpaired client gets QR codes
//! (rotated by the test), a scan stores the device's credentials in the session's
//! keys and ends the connection with "restart required", a paired client connects;
//! the test drops connections, logs out, replaces or bans sessions, delivers
//! messages and receipts. It counts the clients of each session that are alive at
//! once, so a test can prove no session ever ran twice.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_actors::session::driver::{
    DriverClient, DriverError, DriverEvent, SessionDriver, SessionSpec, WaInbound, WaOutgoing,
    WaRead,
};
use switchboard_actors::session::keys::SessionKeys;
use switchboard_actors::{ChannelId, DeliveryStatus, MessageKind, Millis};
use tokio::sync::mpsc;

/// Where the fake keeps a linked device's credentials in the session's keys.
const DEVICE: (&str, &str) = ("device", "creds");
pub const QR_VALID_FOR: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Session {
    /// The newest live client: its number, events channel and the session's keys.
    current: Option<(u64, mpsc::Sender<DriverEvent>, Arc<dyn SessionKeys>)>,
    alive: usize,
    most_alive: usize,
    connects: u32,
    qr_shown: u32,
    fail_connects: u32,
    sent: Vec<WaOutgoing>,
    reads: Vec<WaRead>,
    logouts: u32,
}

#[derive(Default)]
struct World {
    sessions: HashMap<ChannelId, Session>,
    next_client: u64,
    next_id: u64,
}

#[derive(Clone, Default)]
pub struct FakeWhatsApp {
    world: Arc<Mutex<World>>,
}

impl FakeWhatsApp {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn driver(&self) -> Arc<dyn SessionDriver> {
        Arc::new(self.clone())
    }

    fn with<T>(&self, channel: ChannelId, f: impl FnOnce(&mut Session) -> T) -> T {
        let mut world = self.world.lock().unwrap();
        f(world.sessions.entry(channel).or_default())
    }

    /// Clients of the session built so far.
    pub fn connects(&self, channel: ChannelId) -> u32 {
        self.with(channel, |s| s.connects)
    }

    /// Clients of the session alive right now.
    pub fn alive(&self, channel: ChannelId) -> usize {
        self.with(channel, |s| s.alive)
    }

    /// Whether a client is connected that events can be sent from.
    pub fn connected(&self, channel: ChannelId) -> bool {
        self.with(channel, |s| s.current.is_some())
    }

    /// The most clients of the session ever alive at one time.
    pub fn most_alive(&self, channel: ChannelId) -> usize {
        self.with(channel, |s| s.most_alive)
    }

    pub fn sent(&self, channel: ChannelId) -> Vec<WaOutgoing> {
        self.with(channel, |s| s.sent.clone())
    }

    /// Read receipts the session sent, in order.
    pub fn reads(&self, channel: ChannelId) -> Vec<WaRead> {
        self.with(channel, |s| s.reads.clone())
    }

    pub fn logouts(&self, channel: ChannelId) -> u32 {
        self.with(channel, |s| s.logouts)
    }

    /// The next `n` connects fail as a network error would.
    pub fn fail_next_connects(&self, channel: ChannelId, n: u32) {
        self.with(channel, |s| s.fail_connects = n);
    }

    /// Sends an event from the newest live client; false when none is alive.
    pub async fn emit(&self, channel: ChannelId, event: DriverEvent) -> bool {
        let sender = self.with(channel, |s| s.current.as_ref().map(|(_, tx, _)| tx.clone()));
        match sender {
            Some(tx) => tx.send(event).await.is_ok(),
            None => false,
        }
    }

    /// WhatsApp issues the next QR code.
    pub async fn rotate_qr(&self, channel: ChannelId) -> bool {
        let n = self.with(channel, |s| {
            s.qr_shown += 1;
            s.qr_shown
        });
        self.emit(
            channel,
            DriverEvent::Qr {
                code: qr_code(n),
                valid_for: QR_VALID_FOR,
            },
        )
        .await
    }

    /// The phone scans the code: credentials are stored, WhatsApp says "paired",
    /// then closes the connection asking for a restart.
    pub async fn scan(&self, channel: ChannelId, phone: &str) {
        let keys = self
            .with(channel, |s| {
                s.current.as_ref().map(|(_, _, keys)| keys.clone())
            })
            .expect("a live client to scan with");
        keys.put(
            DEVICE.0,
            &[(DEVICE.1.to_owned(), phone.as_bytes().to_vec())],
        )
        .await
        .unwrap();
        assert!(
            self.emit(
                channel,
                DriverEvent::Paired {
                    phone: phone.to_owned(),
                    name: Some("Ada's phone".into()),
                },
            )
            .await
        );
        assert!(self.emit(channel, DriverEvent::RestartRequired).await);
    }

    /// The connection drops: nothing more arrives on it.
    pub async fn drop_connection(&self, channel: ChannelId) -> bool {
        let dropped = self
            .emit(
                channel,
                DriverEvent::Disconnected {
                    reason: "connection reset by peer".into(),
                },
            )
            .await;
        self.with(channel, |s| s.current = None);
        dropped
    }

    pub async fn deliver(&self, channel: ChannelId, message: WaInbound) -> bool {
        self.emit(channel, DriverEvent::Message(message)).await
    }

    pub async fn receipt(&self, channel: ChannelId, ids: Vec<String>, status: DeliveryStatus) {
        assert!(
            self.emit(channel, DriverEvent::Receipt { ids, status })
                .await
        );
    }
}

pub fn qr_code(n: u32) -> String {
    format!("2@fake-ref-{n},ZmFrZS1ub2lzZS1rZXk=,ZmFrZS1pZGVudGl0eQ==,ZmFrZS1hZHY=")
}

/// A 1:1 text message from `phone` (E.164) with WhatsApp id `id`.
pub fn text_from(phone: &str, id: &str, text: &str) -> WaInbound {
    WaInbound {
        id: id.to_owned(),
        chat: format!("{}@s.whatsapp.net", phone.trim_start_matches('+')),
        chat_name: Some("Grace".into()),
        phone: Some(phone.to_owned()),
        participant: None,
        from_me: false,
        kind: MessageKind::Text,
        body: Some(text.to_owned()),
        attachment: None,
        at: Millis::now(),
    }
}

#[async_trait]
impl SessionDriver for FakeWhatsApp {
    async fn connect(&self, spec: SessionSpec) -> Result<Arc<dyn DriverClient>, DriverError> {
        let paired = spec
            .keys
            .get(DEVICE.0, DEVICE.1)
            .await
            .map_err(|err| DriverError::Transient(err.to_string()))?;
        let (number, qr) = {
            let mut world = self.world.lock().unwrap();
            world.next_client += 1;
            let number = world.next_client;
            let session = world.sessions.entry(spec.channel).or_default();
            session.connects += 1;
            if session.fail_connects > 0 {
                session.fail_connects -= 1;
                return Err(DriverError::Transient("connection refused".into()));
            }
            session.alive += 1;
            session.most_alive = session.most_alive.max(session.alive);
            session.current = Some((number, spec.events.clone(), spec.keys.clone()));
            if paired.is_none() {
                session.qr_shown += 1;
            }
            (number, session.qr_shown)
        };
        let first = match paired {
            Some(phone) => DriverEvent::Connected {
                phone: String::from_utf8(phone).unwrap(),
                name: Some("Ada's phone".into()),
            },
            None => DriverEvent::Qr {
                code: qr_code(qr),
                valid_for: QR_VALID_FOR,
            },
        };
        let events = spec.events.clone();
        tokio::spawn(async move {
            let _ = events.send(first).await;
        });
        Ok(Arc::new(FakeClient {
            world: self.world.clone(),
            channel: spec.channel,
            number,
            shut: Mutex::new(false),
        }))
    }
}

struct FakeClient {
    world: Arc<Mutex<World>>,
    channel: ChannelId,
    number: u64,
    shut: Mutex<bool>,
}

impl FakeClient {
    fn end(&self) {
        let mut shut = self.shut.lock().unwrap();
        if *shut {
            return;
        }
        *shut = true;
        let mut world = self.world.lock().unwrap();
        if let Some(session) = world.sessions.get_mut(&self.channel) {
            session.alive -= 1;
            if session
                .current
                .as_ref()
                .is_some_and(|(n, _, _)| *n == self.number)
            {
                session.current = None;
            }
        }
    }
}

/// A killed node never shuts its clients down: the connection just goes away.
impl Drop for FakeClient {
    fn drop(&mut self) {
        self.end();
    }
}

#[async_trait]
impl DriverClient for FakeClient {
    async fn pairing_code(&self, phone: &str) -> Result<String, DriverError> {
        if phone.len() < 8 || !phone.chars().all(|c| c.is_ascii_digit()) {
            return Err(DriverError::Permanent(format!(
                "'{phone}' is not a number WhatsApp knows"
            )));
        }
        Ok("ABCD-EFGH".into())
    }

    async fn send(&self, message: &WaOutgoing) -> Result<String, DriverError> {
        if *self.shut.lock().unwrap() {
            return Err(DriverError::Transient("the client is shut down".into()));
        }
        let mut world = self.world.lock().unwrap();
        world.next_id += 1;
        let id = format!("3EB0FAKE{:08}", world.next_id);
        world
            .sessions
            .entry(self.channel)
            .or_default()
            .sent
            .push(message.clone());
        Ok(id)
    }

    async fn mark_read(&self, read: &WaRead) -> Result<(), DriverError> {
        if *self.shut.lock().unwrap() {
            return Err(DriverError::Transient("the client is shut down".into()));
        }
        let mut world = self.world.lock().unwrap();
        world
            .sessions
            .entry(self.channel)
            .or_default()
            .reads
            .push(read.clone());
        Ok(())
    }

    async fn logout(&self) -> Result<(), DriverError> {
        let mut world = self.world.lock().unwrap();
        world.sessions.entry(self.channel).or_default().logouts += 1;
        Ok(())
    }

    async fn shutdown(&self) {
        self.end();
    }
}
