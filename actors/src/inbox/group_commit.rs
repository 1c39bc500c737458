//! Group commit for ingest: concurrent customer messages of one tenant share a
//! transaction.
//!
//! One tenant's writers are serialised anyway (its stream row), so one message per
//! transaction spends the tenant's whole write budget on per-transaction costs: the
//! stream row lock, the commit, and on SQLite the fsync. Here each tenant has one
//! writer task; callers queue their message and wait, and the writer stores whatever
//! queued meanwhile (up to `ingest_batch`) in one transaction, then answers each caller
//! with its own result. At low load a batch is one message, so nothing waits longer
//! than before.
//!
//! The queue is bounded (`ingest_queue` per tenant): when it is full the caller gets
//! `StoreError::Busy` at once (503 with Retry-After; the provider retries), and nothing
//! already queued is lost. If a batch fails, its messages are tried one by one, so one
//! bad message fails alone. A writer idle for a minute stops; the next message starts
//! a new one.
//!
//! The writers run on a thread of their own. A batch is a few hundred awaited
//! statements in a row; on a worker thread that also serves HTTP, each await waited for
//! the worker's whole run queue, and a batch of 57 took 70–170 ms on Postgres.

use super::records::Inbound;
use super::store::{InboxStore, Recorded};
use crate::TenantId;
use crate::store::StoreError;
use dashmap::DashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A writer with nothing to do for this long stops (and leaves the map).
const WRITER_IDLE: Duration = Duration::from_secs(60);

struct Pending {
    inbound: Inbound,
    reply: oneshot::Sender<Result<Recorded, StoreError>>,
}

/// Messages queued for a writer and messages inside a batch being written, summed
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

pub struct GroupCommit {
    store: Arc<dyn InboxStore>,
    writers: Arc<DashMap<TenantId, mpsc::Sender<Pending>>>,
    load: Arc<IngestLoad>,
    queue: usize,
    batch: usize,
    /// The writers' thread; `None` if it could not start, and writers then run on the
    /// caller's runtime.
    thread: Option<WriterThread>,
}

struct WriterThread {
    runtime: tokio::runtime::Handle,
    /// Dropping it ends the thread.
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
        let thread = WriterThread::start()
            .inspect_err(|err| {
                tracing::warn!(error = %err, "no ingest writer thread; writing on the request threads");
            })
            .ok();
        Self {
            store,
            writers: Arc::default(),
            load: Arc::default(),
            queue: queue.max(1),
            batch: batch.max(1),
            thread,
        }
    }

    pub fn load(&self) -> &IngestLoad {
        &self.load
    }

    /// Stores `inbound` (with whatever else of the tenant is queued) and returns once it
    /// committed.
    pub async fn ingest(&self, tenant: TenantId, inbound: Inbound) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let mut pending = Pending { inbound, reply };
        // A writer that stopped while we held its sender hands the message back: start
        // a new one and queue it there.
        for _ in 0..2 {
            let writer = self.writer(tenant);
            // Counted before it is queued, so the writer never uncounts it first.
            self.load.waiting.fetch_add(1, Ordering::Relaxed);
            let sent = writer.try_send(pending);
            if sent.is_err() {
                self.load.waiting.fetch_sub(1, Ordering::Relaxed);
            }
            match sent {
                Ok(()) => {
                    return answer
                        .await
                        .map_err(|_| StoreError::Backend("the ingest writer stopped".into()))?;
                }
                Err(mpsc::error::TrySendError::Full(_)) => return Err(StoreError::Busy),
                Err(mpsc::error::TrySendError::Closed(back)) => {
                    self.writers
                        .remove_if(&tenant, |_, current| current.same_channel(&writer));
                    pending = back;
                }
            }
        }
        Err(StoreError::Busy)
    }

    fn writer(&self, tenant: TenantId) -> mpsc::Sender<Pending> {
        self.writers
            .entry(tenant)
            .or_insert_with(|| {
                let (sender, queue) = mpsc::channel(self.queue);
                let writer = write(
                    Writer {
                        store: self.store.clone(),
                        tenant,
                        max: self.batch,
                        writers: self.writers.clone(),
                        me: sender.clone(),
                        load: self.load.clone(),
                    },
                    queue,
                );
                match &self.thread {
                    Some(thread) => drop(thread.runtime.spawn(writer)),
                    None => drop(tokio::spawn(writer)),
                }
                sender
            })
            .clone()
    }
}

/// One tenant's writer task.
struct Writer {
    store: Arc<dyn InboxStore>,
    tenant: TenantId,
    max: usize,
    writers: Arc<DashMap<TenantId, mpsc::Sender<Pending>>>,
    me: mpsc::Sender<Pending>,
    load: Arc<IngestLoad>,
}

async fn write(writer: Writer, mut queue: mpsc::Receiver<Pending>) {
    let Writer {
        store,
        tenant,
        max,
        writers,
        me,
        load,
    } = writer;
    let mut batch = Vec::with_capacity(max);
    let commit_counted = |batch: Vec<Pending>| {
        let (store, load) = (store.clone(), load.clone());
        async move {
            let size = batch.len();
            load.waiting.fetch_sub(size, Ordering::Relaxed);
            load.writing.fetch_add(size, Ordering::Relaxed);
            commit(store.as_ref(), tenant, batch).await;
            load.writing.fetch_sub(size, Ordering::Relaxed);
        }
    };
    loop {
        match tokio::time::timeout(WRITER_IDLE, queue.recv_many(&mut batch, max)).await {
            Ok(0) => return,
            Ok(_) => commit_counted(std::mem::take(&mut batch)).await,
            Err(_) => {
                // Leave the map first, then take what raced in before stopping.
                writers.remove_if(&tenant, |_, current| current.same_channel(&me));
                drop(me);
                queue.close();
                while queue.recv_many(&mut batch, max).await > 0 {
                    commit_counted(std::mem::take(&mut batch)).await;
                }
                return;
            }
        }
    }
}

async fn commit(store: &dyn InboxStore, tenant: TenantId, batch: Vec<Pending>) {
    let (inbound, replies): (Vec<Inbound>, Vec<_>) =
        batch.into_iter().map(|p| (p.inbound, p.reply)).unzip();
    match store.ingest_batch(tenant, &inbound).await {
        Ok(recorded) => {
            for (reply, one) in replies.into_iter().zip(recorded) {
                // A caller that gave up waiting is no loss: the message is stored.
                let _ = reply.send(Ok(one));
            }
        }
        Err(err) if inbound.len() == 1 => {
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
        Err(_) => {
            for (one, reply) in inbound.iter().zip(replies) {
                let _ = reply.send(store.ingest(tenant, one).await);
            }
        }
    }
}
