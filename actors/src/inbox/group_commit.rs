//! Group commit for ingest: concurrent customer messages share a transaction, across
//! tenants.
//!
//! A transaction has a fixed cost (the stream row locks, the commit and, on SQLite, the
//! fsync; on Postgres the planning and round trip of each statement) that one message
//! per transaction pays in full. Here callers queue their message and wait; one writer
//! stores whatever queued meanwhile, from every tenant (up to `ingest_batch`), in one
//! transaction, then answers each caller with its own result. At low load a batch is
//! one message, so nothing waits longer than before. With many tenants the batches stay
//! as large as with one: per-tenant writers made sixteen tenants' batches a sixteenth
//! of the size, and the fixed cost came back.
//!
//! Each tenant has its own bounded queue (`ingest_queue`): when it is full the caller
//! gets `StoreError::Busy` at once (503 with Retry-After; the provider retries), and a
//! tenant that floods fills only its own queue. The writer takes from the tenants'
//! queues in turn, one message from each until the batch is full, so one tenant's
//! backlog cannot hold the others back by more than its share of a batch; a tenant's
//! messages keep their order. Nothing already queued is lost. If a batch fails, its
//! messages are tried one by one, so one bad message fails alone. A tenant queue idle
//! for a minute is dropped; its next message opens a new one.
//!
//! The writer runs on a thread of its own. A batch is a few awaited statements in a
//! row; on a worker thread that also serves HTTP each await waited for the worker's
//! whole run queue.

use super::records::Inbound;
use super::store::{InboxStore, Recorded};
use crate::TenantId;
use crate::store::StoreError;
use dashmap::DashMap;
use futures_util::FutureExt;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};

/// A tenant queue with nothing in it for this long is dropped (and leaves the map).
const QUEUE_IDLE: Duration = Duration::from_secs(60);

struct Pending {
    inbound: Inbound,
    reply: oneshot::Sender<Result<Recorded, StoreError>>,
}

/// Messages queued for the writer and messages inside a batch being written, summed
/// over tenants: what `/metrics` shows of ingest (`inbox_ingest_waiting`,
/// `inbox_ingest_writing`).
#[derive(Debug, Default)]
pub struct IngestLoad {
    waiting: AtomicUsize,
    writing: AtomicUsize,
}

impl IngestLoad {
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub fn writing(&self) -> usize {
        self.writing.load(Ordering::Relaxed)
    }
}

/// What the callers share with the writer.
struct Shared {
    /// Each tenant's queue as its callers send to it, with the queue's number.
    queues: DashMap<TenantId, (mpsc::Sender<Pending>, u64)>,
    /// Queues the writer has not picked up yet.
    opened: std::sync::Mutex<Vec<Queue>>,
    /// Rung after every message queued.
    ready: Notify,
    load: IngestLoad,
}

/// One tenant's queue as the writer holds it.
struct Queue {
    tenant: TenantId,
    /// Tells this queue from a later one of the same tenant.
    number: u64,
    receiver: mpsc::Receiver<Pending>,
    last_used: Instant,
}

pub struct GroupCommit {
    shared: Arc<Shared>,
    queue: usize,
    next_number: AtomicU64,
    /// The writer's thread; `None` if it could not start, and the writer then runs on
    /// the caller's runtime.
    _thread: Option<WriterThread>,
}

struct WriterThread {
    runtime: tokio::runtime::Handle,
    /// Dropping it ends the thread, and the writer with it.
    _stop: oneshot::Sender<()>,
}

impl WriterThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("ingest-writer".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            runtime: handle,
            _stop: stop,
        })
    }
}

impl GroupCommit {
    pub fn new(store: Arc<dyn InboxStore>, queue: usize, batch: usize) -> Self {
        let shared = Arc::new(Shared {
            queues: DashMap::new(),
            opened: std::sync::Mutex::new(Vec::new()),
            ready: Notify::new(),
            load: IngestLoad::default(),
        });
        let writer = write(store, shared.clone(), batch.max(1));
        let thread = WriterThread::start()
            .inspect_err(|err| {
                tracing::warn!(error = %err, "no ingest writer thread; writing on the request threads");
            })
            .ok();
        match &thread {
            Some(thread) => drop(thread.runtime.spawn(writer)),
            None => drop(tokio::spawn(writer)),
        }
        Self {
            shared,
            queue: queue.max(1),
            next_number: AtomicU64::new(1),
            _thread: thread,
        }
    }

    pub fn load(&self) -> &IngestLoad {
        &self.shared.load
    }

    /// Stores `inbound` (with whatever else is queued) and returns once it committed.
    pub async fn ingest(&self, tenant: TenantId, inbound: Inbound) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let mut pending = Pending { inbound, reply };
        // A queue that the writer dropped while we held its sender hands the message
        // back: open a new one and queue it there.
        for _ in 0..2 {
            let (queue, number) = self.queue_of(tenant);
            // Counted before it is queued, so the writer never uncounts it first.
            self.shared.load.waiting.fetch_add(1, Ordering::Relaxed);
            let sent = queue.try_send(pending);
            if sent.is_err() {
                self.shared.load.waiting.fetch_sub(1, Ordering::Relaxed);
            }
            match sent {
                Ok(()) => {
                    self.shared.ready.notify_one();
                    return answer
                        .await
                        .map_err(|_| StoreError::Backend("the ingest writer stopped".into()))?;
                }
                Err(mpsc::error::TrySendError::Full(_)) => return Err(StoreError::Busy),
                Err(mpsc::error::TrySendError::Closed(back)) => {
                    self.shared
                        .queues
                        .remove_if(&tenant, |_, (_, n)| *n == number);
                    pending = back;
                }
            }
        }
        Err(StoreError::Busy)
    }

    fn queue_of(&self, tenant: TenantId) -> (mpsc::Sender<Pending>, u64) {
        self.shared
            .queues
            .entry(tenant)
            .or_insert_with(|| {
                let (sender, receiver) = mpsc::channel(self.queue);
                let number = self.next_number.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut opened) = self.shared.opened.lock() {
                    opened.push(Queue {
                        tenant,
                        number,
                        receiver,
                        last_used: Instant::now(),
                    });
                }
                (sender, number)
            })
            .clone()
    }
}

/// The writer: waits for messages, takes them from the tenants' queues in turn and
/// stores them a batch at a time.
async fn write(store: Arc<dyn InboxStore>, shared: Arc<Shared>, max: usize) {
    let mut queues: VecDeque<Queue> = VecDeque::new();
    let mut batch: Vec<(TenantId, Pending)> = Vec::with_capacity(max);
    loop {
        // A message queued while the last batch was written left a permit, so this
        // does not wait then; the timeout is for dropping idle queues.
        let _ = tokio::time::timeout(QUEUE_IDLE, shared.ready.notified()).await;
        loop {
            if let Ok(mut opened) = shared.opened.lock() {
                queues.extend(opened.drain(..));
            }
            take_in_turn(&mut queues, &mut batch, max);
            if batch.is_empty() {
                break;
            }
            commit_counted(store.as_ref(), &shared.load, std::mem::take(&mut batch)).await;
        }
        drop_idle(store.as_ref(), &shared, &mut queues).await;
    }
}

/// One message from each tenant's queue in turn until the batch is full or every
/// queue is empty.
fn take_in_turn(queues: &mut VecDeque<Queue>, batch: &mut Vec<(TenantId, Pending)>, max: usize) {
    let now = Instant::now();
    let mut empty_in_a_row = 0;
    while batch.len() < max && empty_in_a_row < queues.len() {
        let Some(mut queue) = queues.pop_front() else {
            break;
        };
        match queue.receiver.try_recv() {
            Ok(pending) => {
                batch.push((queue.tenant, pending));
                queue.last_used = now;
                empty_in_a_row = 0;
            }
            Err(_) => empty_in_a_row += 1,
        }
        queues.push_back(queue);
    }
}

/// Drops the queues idle for `QUEUE_IDLE`: out of the map first, then whatever raced
/// in before it closed is stored.
async fn drop_idle(store: &dyn InboxStore, shared: &Shared, queues: &mut VecDeque<Queue>) {
    let now = Instant::now();
    let mut kept = VecDeque::with_capacity(queues.len());
    for mut queue in queues.drain(..) {
        if now.duration_since(queue.last_used) < QUEUE_IDLE {
            kept.push_back(queue);
            continue;
        }
        shared
            .queues
            .remove_if(&queue.tenant, |_, (_, n)| *n == queue.number);
        queue.receiver.close();
        let mut late = Vec::new();
        while let Ok(pending) = queue.receiver.try_recv() {
            late.push((queue.tenant, pending));
        }
        if !late.is_empty() {
            commit_counted(store, &shared.load, late).await;
        }
    }
    *queues = kept;
}

/// Stores a batch, counted as writing meanwhile. A panic while storing it is caught:
/// its callers get an error (nothing of theirs was acknowledged, so their providers
/// deliver again) and the writer goes on with the next batch.
async fn commit_counted(
    store: &dyn InboxStore,
    load: &IngestLoad,
    batch: Vec<(TenantId, Pending)>,
) {
    let size = batch.len();
    load.waiting.fetch_sub(size, Ordering::Relaxed);
    load.writing.fetch_add(size, Ordering::Relaxed);
    if AssertUnwindSafe(commit(store, batch))
        .catch_unwind()
        .await
        .is_err()
    {
        tracing::error!(
            messages = size,
            "an ingest batch panicked; its callers got an error"
        );
    }
    load.writing.fetch_sub(size, Ordering::Relaxed);
}

async fn commit(store: &dyn InboxStore, batch: Vec<(TenantId, Pending)>) {
    let (items, replies): (Vec<(TenantId, Inbound)>, Vec<_>) = batch
        .into_iter()
        .map(|(tenant, p)| ((tenant, p.inbound), p.reply))
        .unzip();
    match store.ingest_batch(&items).await {
        Ok(recorded) => {
            for (reply, one) in replies.into_iter().zip(recorded) {
                // A caller that gave up waiting is no loss: the message is stored.
                let _ = reply.send(Ok(one));
            }
        }
        Err(err) if items.len() == 1 => {
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
        Err(_) => {
            for ((tenant, inbound), reply) in items.iter().zip(replies) {
                let _ = reply.send(store.ingest(*tenant, inbound).await);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbox::records::Identity;
    use crate::{ChannelKey, Direction, MessageKind, Millis};

    fn message(text: &str) -> Pending {
        let channel = ChannelKey::sandbox("demo").unwrap();
        Pending {
            inbound: Inbound {
                channel: channel.clone(),
                direction: Direction::Inbound,
                sender: Identity {
                    channel,
                    external_id: "ann".into(),
                },
                sender_name: "Ann".into(),
                sender_phone: None,
                sender_email: None,
                provider_id: None,
                kind: MessageKind::Text,
                body: Some(text.into()),
                attachment: None,
                received_at: Millis(1),
            },
            reply: oneshot::channel().0,
        }
    }

    fn queue(number: u64, texts: &[&str]) -> Queue {
        let (sender, receiver) = mpsc::channel(16);
        for text in texts {
            sender.try_send(message(text)).unwrap();
        }
        Queue {
            tenant: TenantId::new(),
            number,
            receiver,
            last_used: Instant::now(),
        }
    }

    fn bodies(batch: &[(TenantId, Pending)]) -> Vec<&str> {
        batch
            .iter()
            .map(|(_, p)| p.inbound.body.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn a_flooding_tenant_takes_only_its_turn_and_each_tenant_keeps_its_order() {
        let mut queues = VecDeque::from([
            queue(1, &["a1", "a2", "a3", "a4"]),
            queue(2, &["b1"]),
            queue(3, &[]),
            queue(4, &["d1", "d2"]),
        ]);
        let mut batch = Vec::new();
        take_in_turn(&mut queues, &mut batch, 5);
        assert_eq!(bodies(&batch), ["a1", "b1", "d1", "a2", "d2"]);

        batch.clear();
        take_in_turn(&mut queues, &mut batch, 5);
        assert_eq!(
            bodies(&batch),
            ["a3", "a4"],
            "the rest, then every queue is empty"
        );

        batch.clear();
        take_in_turn(&mut queues, &mut batch, 5);
        assert!(batch.is_empty());
        assert_eq!(queues.len(), 4, "empty queues stay until they are idle");
    }
}
