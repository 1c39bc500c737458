//! Customer traffic: signed WhatsApp deliveries sent open loop (or closed loop to find
//! saturation), the ledger of what was sent and acknowledged, and the analysis that
//! turns agents' logs into latencies and correctness counters.

use crate::agent::{Agent, Log};
use crate::frames::{self, Marker};
use crate::latency::{Latencies, Summary};
use crate::setup::Tenant;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sends in flight beyond this are not made (and are counted as skipped): past it the
/// generator, not the server, would be what is measured.
const MAX_IN_FLIGHT: usize = 20_000;

/// How a run offers load.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Deliveries per second, open loop; 0 sends closed loop from `concurrency` clients
    /// (each sends its next delivery when the previous one is answered): saturation.
    pub rate: u64,
    pub concurrency: usize,
    pub duration: Duration,
}

impl Load {
    /// `rate` deliveries per second for `seconds`, open loop from one sender.
    pub fn open_loop(rate: u64, seconds: u64) -> Self {
        Self {
            rate,
            concurrency: 1,
            duration: Duration::from_secs(seconds),
        }
    }
}

/// One delivery as the ledger keeps it.
struct Sent {
    tenant: u32,
    intended_us: u64,
    /// When the request actually left (after any queueing in the generator).
    sent_us: u64,
    /// When the 200 came back; `None` for a failed delivery.
    acked_us: Option<u64>,
}

#[derive(Default)]
struct Book {
    sent: HashMap<u64, Sent>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

/// What was sent in one stretch of traffic.
pub struct Ledger {
    book: Book,
    acks: Latencies,
    health: Latencies,
    pub skipped: u64,
    pub elapsed: Duration,
}

impl Ledger {
    pub fn acked(&self) -> u64 {
        self.book.statuses.get(&200).copied().unwrap_or(0)
    }

    pub fn offered(&self) -> u64 {
        self.book.sent.len() as u64 + self.skipped
    }

    fn acked_per_tenant(&self) -> HashMap<u32, u64> {
        let mut per = HashMap::new();
        for sent in self.book.sent.values().filter(|s| s.acked_us.is_some()) {
            *per.entry(sent.tenant).or_default() += 1;
        }
        per
    }
}

/// Live counters for the progress line.
#[derive(Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub in_flight: AtomicUsize,
}

/// Sends customer messages to a set of tenants; keeps sequence numbers across stretches.
pub struct Driver {
    http: reqwest::Client,
    health_url: String,
    tenants: Vec<Tenant>,
    customers: u32,
    seqs: Arc<[AtomicU32]>,
    /// Words said before each message's marker, taken in turn (none: the marker alone).
    texts: &'static [&'static str],
    pub progress: Arc<Progress>,
}

impl Driver {
    /// Customers say `texts` in turn before each marker, as people write.
    pub fn say(&mut self, texts: &'static [&'static str]) {
        self.texts = texts;
    }

    /// `customers` distinct senders per tenant.
    pub fn new(http: reqwest::Client, base: &str, tenants: Vec<Tenant>, customers: u32) -> Self {
        let customers = customers.max(1);
        let senders = tenants.len() * customers as usize;
        Self {
            http,
            health_url: format!("{base}/health"),
            tenants,
            customers,
            seqs: (0..senders).map(|_| AtomicU32::new(0)).collect(),
            texts: &[],
            progress: Arc::new(Progress::default()),
        }
    }

    /// Sends for `load.duration` and waits for every answer.
    pub async fn drive(&self, load: Load) -> crate::Result<Ledger> {
        let book = Arc::new(Mutex::new(Book::default()));
        let acks = Arc::new(Mutex::new(Latencies::new()?));
        let health = Arc::new(Mutex::new(Latencies::new()?));
        let started = Instant::now();
        let skipped = if load.rate > 0 {
            self.open_loop(load, &book, &acks, &health).await?
        } else {
            self.closed_loop(load, &book, &acks).await?;
            0
        };
        let elapsed = started.elapsed();
        let take = |m: Arc<Mutex<Latencies>>| -> crate::Result<Latencies> {
            let mut guard = m.lock().map_err(|e| e.to_string())?;
            Ok(std::mem::replace(&mut *guard, Latencies::new()?))
        };
        let book = std::mem::take(&mut *book.lock().map_err(|e| e.to_string())?);
        Ok(Ledger {
            book,
            acks: take(acks)?,
            health: take(health)?,
            skipped,
            elapsed,
        })
    }

    async fn open_loop(
        &self,
        load: Load,
        book: &Arc<Mutex<Book>>,
        acks: &Arc<Mutex<Latencies>>,
        health: &Arc<Mutex<Latencies>>,
    ) -> crate::Result<u64> {
        let interval = Duration::from_secs_f64(1.0 / load.rate as f64);
        let total = (load.rate as f64 * load.duration.as_secs_f64()).round() as u64;
        let start = Instant::now() + Duration::from_millis(20);
        let mut tasks = Vec::with_capacity(total as usize);
        let mut skipped = 0;
        for n in 0..total {
            let intended = start + interval.mul_f64(n as f64);
            tokio::time::sleep_until(intended.into()).await;
            if self.progress.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                skipped += 1;
                continue;
            }
            let request = self.delivery(n, crate::clock::at_us(intended))?;
            tasks.push(tokio::spawn(send(
                request,
                book.clone(),
                acks.clone(),
                self.progress.clone(),
            )));
            if n % 10 == 0 {
                tasks.push(tokio::spawn(probe_health(
                    self.http.get(&self.health_url),
                    crate::clock::at_us(intended),
                    health.clone(),
                )));
            }
        }
        for task in tasks {
            task.await.map_err(|e| e.to_string())?;
        }
        Ok(skipped)
    }

    async fn closed_loop(
        &self,
        load: Load,
        book: &Arc<Mutex<Book>>,
        acks: &Arc<Mutex<Latencies>>,
    ) -> crate::Result<()> {
        let deadline = Instant::now() + load.duration;
        let next = Arc::new(AtomicU64::new(0));
        let workers = load.concurrency.max(1);
        let mut tasks = Vec::with_capacity(workers);
        for _ in 0..workers {
            let next = next.clone();
            let (book, acks) = (book.clone(), acks.clone());
            let progress = self.progress.clone();
            let this = self.clone_for_worker();
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let request = this.delivery(n, crate::clock::now_us())?;
                    send(request, book.clone(), acks.clone(), progress.clone()).await;
                }
                Ok::<_, String>(())
            }));
        }
        for task in tasks {
            task.await.map_err(|e| e.to_string())??;
        }
        Ok(())
    }

    fn clone_for_worker(&self) -> Self {
        Self {
            http: self.http.clone(),
            health_url: self.health_url.clone(),
            tenants: self.tenants.clone(),
            customers: self.customers,
            seqs: self.seqs.clone(),
            texts: self.texts,
            progress: self.progress.clone(),
        }
    }

    /// Delivery `n`: tenants take turns, and within a tenant its customers do.
    fn delivery(&self, n: u64, intended_us: u64) -> crate::Result<Outgoing> {
        let count = self.tenants.len().max(1) as u64;
        let tenant = self
            .tenants
            .get((n % count) as usize)
            .ok_or("no tenants to send to")?;
        let customer = ((n / count) % u64::from(self.customers)) as u32;
        let sender = tenant.index * self.customers + customer;
        let seq = self
            .seqs
            .get(sender as usize)
            .ok_or("sender out of range")?
            .fetch_add(1, Ordering::Relaxed);
        let marker = Marker {
            tenant: tenant.index,
            sender,
            seq,
            intended_us,
        };
        let said = match self.texts.len() {
            0 => marker.text(),
            n => format!("{} {}", self.texts[marker.seq as usize % n], marker.text()),
        };
        let body = whatsapp_delivery(&tenant.account, &marker, &said);
        let signature = sign(&tenant.app_secret, body.as_bytes())?;
        Ok(Outgoing {
            marker,
            request: self
                .http
                .post(&tenant.webhook_url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature)
                .body(body),
        })
    }
}

struct Outgoing {
    marker: Marker,
    request: reqwest::RequestBuilder,
}

async fn send(
    outgoing: Outgoing,
    book: Arc<Mutex<Book>>,
    acks: Arc<Mutex<Latencies>>,
    progress: Arc<Progress>,
) {
    progress.in_flight.fetch_add(1, Ordering::Relaxed);
    progress.sent.fetch_add(1, Ordering::Relaxed);
    let sent_us = crate::clock::now_us();
    let status = match outgoing.request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the body so the connection goes back to the pool.
            let _ = response.bytes().await;
            Some(status)
        }
        Err(_) => None,
    };
    let now = crate::clock::now_us();
    progress.in_flight.fetch_sub(1, Ordering::Relaxed);
    let marker = outgoing.marker;
    let acked_us = (status == Some(200)).then_some(now);
    if acked_us.is_some() {
        progress.acked.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut acks) = acks.lock() {
            acks.record_us(now.saturating_sub(marker.intended_us));
        }
    }
    if let Ok(mut book) = book.lock() {
        match status {
            Some(status) => *book.statuses.entry(status).or_default() += 1,
            None => book.transport_errors += 1,
        }
        book.sent.insert(
            marker.key(),
            Sent {
                tenant: marker.tenant,
                intended_us: marker.intended_us,
                sent_us,
                acked_us,
            },
        );
    }
}

/// The reference in the same run: `GET /health` on the same schedule.
async fn probe_health(
    request: reqwest::RequestBuilder,
    intended_us: u64,
    into: Arc<Mutex<Latencies>>,
) {
    if let Ok(response) = request.send().await {
        let _ = response.bytes().await;
        if let Ok(mut h) = into.lock() {
            h.record_us(crate::clock::now_us().saturating_sub(intended_us));
        }
    }
}

/// A WhatsApp Cloud API `messages` delivery for one customer message.
fn whatsapp_delivery(account: &str, marker: &Marker, text: &str) -> String {
    let from = format!("{}", 491_500_000_000_u64 + u64::from(marker.sender));
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "loadtest", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": account},
            "contacts": [{"profile": {"name": format!("Customer {}", marker.sender)}, "wa_id": from}],
            "messages": [{"from": from, "id": format!("wamid.lt.{account}.{}", marker.key()),
                          "timestamp": unix_seconds().to_string(), "type": "text",
                          "text": {"body": text}}]
        }}]}]
    })
    .to_string()
}

/// Meta stamps deliveries with Unix seconds; the server reads the 24-hour window from it.
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `X-Hub-Signature-256` for `body`.
pub fn sign(secret: &str, body: &[u8]) -> crate::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("sha256={hex}"))
}

/// Waits until every agent has every acknowledged message of its tenant, an agent
/// fails, or `timeout` passes.
pub async fn settle(agents: &[Agent], ledger: &Ledger, timeout: Duration) {
    let expected = ledger.acked_per_tenant();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let done = agents.iter().all(|a| {
            a.failure().is_some()
                || a.received() as u64 >= expected.get(&a.tenant).copied().unwrap_or(0)
        });
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lost, duplicated, reordered and misrouted deliveries; all must be 0.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Correctness {
    /// Deliveries owed: acknowledged messages times the agents of their tenant.
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// A message shown after one its sender sent only once it had been acknowledged,
    /// plus (on Switchboard) stream offsets that skip or go back.
    pub out_of_order: u64,
    pub wrong_tenant: u64,
    /// Agent sockets that failed or were closed by the server during the run.
    pub agent_failures: u64,
    /// Resumes answered with `reset` (their gap shows in `lost`).
    pub resets: u64,
    pub reconnects: u64,
    /// Agent frames the server answered with `error` (a refused reply also shows as lost).
    #[serde(default)]
    pub refused: u64,
    #[serde(default)]
    pub first_refusal: Option<String>,
}

impl Correctness {
    pub fn errors(&self) -> u64 {
        self.lost + self.duplicated + self.out_of_order + self.wrong_tenant + self.agent_failures
    }

    pub fn add(&mut self, other: &Correctness) {
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.wrong_tenant += other.wrong_tenant;
        self.agent_failures += other.agent_failures;
        self.resets += other.resets;
        self.reconnects += other.reconnects;
        self.refused += other.refused;
        if self.first_refusal.is_none() {
            self.first_refusal.clone_from(&other.first_refusal);
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{} of {} delivered: lost {}, duplicated {}, out of order {}, wrong tenant {}, failed sockets {} (reconnects {}, resets {}, frames refused {})",
            self.delivered,
            self.expected,
            self.lost,
            self.duplicated,
            self.out_of_order,
            self.wrong_tenant,
            self.agent_failures,
            self.reconnects,
            self.resets,
            self.refused
        )
    }
}

/// One stretch of traffic, analysed.
pub struct Outcome {
    pub offered: u64,
    pub acked: u64,
    pub skipped: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub elapsed: Duration,
    pub ack: Summary,
    pub health: Summary,
    /// Intended send to arrival, every delivery.
    pub e2e: Summary,
    /// The same per server node the agents were connected to.
    pub per_node: Vec<Summary>,
    /// Intended send to arrival at the last agent of the tenant, per message.
    pub last_recipient: Summary,
    pub correctness: Correctness,
    pub replies_sent: u64,
}

impl Outcome {
    pub fn acked_per_second(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }

    pub fn deliveries_per_second(&self) -> f64 {
        self.correctness.delivered as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

/// Turns the ledger and the agents' logs into an outcome.
pub fn analyze(ledger: &Ledger, agents: &[Agent], nodes: usize) -> crate::Result<Outcome> {
    let acked = ledger.acked_per_tenant();
    let mut per_tenant_agents: HashMap<u32, u64> = HashMap::new();
    for agent in agents {
        *per_tenant_agents.entry(agent.tenant).or_default() += 1;
    }
    let mut correctness = Correctness::default();
    let mut e2e = Latencies::new()?;
    let mut per_node = (0..nodes.max(1))
        .map(|_| Latencies::new())
        .collect::<crate::Result<Vec<_>>>()?;
    // Per message: agents that got it, and the latest arrival.
    let mut reach: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut replies_sent = 0;
    for agent in agents {
        let log = agent.take_log()?;
        let owed = acked.get(&agent.tenant).copied().unwrap_or(0);
        let got_acked = log
            .received
            .iter()
            .filter(|key| {
                ledger
                    .book
                    .sent
                    .get(key)
                    .is_some_and(|s| s.tenant == agent.tenant && s.acked_us.is_some())
            })
            .count() as u64;
        correctness.expected += owed;
        correctness.delivered += log.received.len() as u64;
        correctness.lost += owed.saturating_sub(got_acked);
        correctness.duplicated += log.duplicates;
        correctness.wrong_tenant += log.wrong_tenant;
        correctness.out_of_order += log.offset_breaks + reordered(&log, ledger);
        correctness.agent_failures += u64::from(log.failure.is_some());
        correctness.resets += log.resets;
        correctness.reconnects += log.reconnects;
        correctness.refused += log.refused;
        if correctness.first_refusal.is_none() {
            correctness.first_refusal = log.first_refusal;
        }
        replies_sent += log.replies_sent;
        e2e.add(&log.latencies)?;
        if let Some(node) = per_node.get_mut(agent.node) {
            node.add(&log.latencies)?;
        }
        for (key, arrival) in &log.arrivals {
            let entry = reach.entry(*key).or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(*arrival);
        }
    }
    let mut last_recipient = Latencies::new()?;
    for (key, (count, latest)) in reach {
        if let Some(sent) = ledger.book.sent.get(&key)
            && Some(&count) == per_tenant_agents.get(&sent.tenant)
        {
            last_recipient.record_us(latest.saturating_sub(sent.intended_us));
        }
    }
    Ok(Outcome {
        offered: ledger.offered(),
        acked: ledger.acked(),
        skipped: ledger.skipped,
        statuses: ledger.book.statuses.clone(),
        transport_errors: ledger.book.transport_errors,
        elapsed: ledger.elapsed,
        ack: ledger.acks.summary(),
        health: ledger.health.summary(),
        e2e: e2e.summary(),
        per_node: per_node.iter().map(Latencies::summary).collect(),
        last_recipient: last_recipient.summary(),
        correctness,
        replies_sent,
    })
}

/// Messages that arrived after one their sender sent only once they were acknowledged:
/// the order a customer can observe, whatever the generator had in flight at once.
fn reordered(log: &Log, ledger: &Ledger) -> u64 {
    let mut latest_send: HashMap<u32, u64> = HashMap::new();
    let mut count = 0;
    for (key, _) in &log.arrivals {
        let Some(sent) = ledger.book.sent.get(key) else {
            continue;
        };
        let sender = frames::sender_of(*key);
        let latest = latest_send.entry(sender).or_insert(0);
        if let Some(acked) = sent.acked_us
            && *latest > acked
        {
            count += 1;
        }
        *latest = (*latest).max(sent.sent_us);
    }
    count
}
