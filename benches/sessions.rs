//! WhatsApp Web sessions at scale: the server's heap per idle session actor, the time
//! a restarted server takes to bring every session back, and the heap of one real
//! `whatsapp-rust` client as the adapter constructs it.
//!
//! `cargo bench --bench sessions` (env `SESSIONS`, default 1000; `RESTORE_CONCURRENCY`,
//! default the server's 8). Sessions run on an idle driver at the `SessionDriver`
//! boundary: each connects at once and then stays quiet, as a connected number with no
//! traffic does. A benchmark, not a test: it prints figures and asserts nothing.

use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::Application;
use switchboard::config::{Config, Secret};
use switchboard_actors::session::driver::{
    DriverClient, DriverError, DriverEvent, SessionDriver, SessionSpec, WaOutgoing, WaRead,
};
use switchboard_actors::session::keys::SessionKeys;
use switchboard_actors::store::StoreError;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const PASSWORD: &str = "bench-owner-password-1";

/// Connects at once, then says nothing more.
struct IdleDriver;

/// Holds its events channel open, as a live client does.
struct IdleClient {
    _events: tokio::sync::mpsc::Sender<DriverEvent>,
}

#[async_trait]
impl SessionDriver for IdleDriver {
    async fn connect(
        &self,
        spec: SessionSpec,
    ) -> std::result::Result<Arc<dyn DriverClient>, DriverError> {
        let phone = format!("+4915{:09}", spec.channel.0.as_u128() % 1_000_000_000);
        let _ = spec
            .events
            .send(DriverEvent::Connected { phone, name: None })
            .await;
        Ok(Arc::new(IdleClient {
            _events: spec.events,
        }))
    }
}

#[async_trait]
impl DriverClient for IdleClient {
    async fn pairing_code(&self, _: &str) -> std::result::Result<String, DriverError> {
        Err(DriverError::Permanent("connected already".into()))
    }
    async fn send(&self, _: &WaOutgoing) -> std::result::Result<String, DriverError> {
        Err(DriverError::Permanent(
            "the idle driver sends nothing".into(),
        ))
    }
    async fn mark_read(&self, _: &WaRead) -> std::result::Result<(), DriverError> {
        Err(DriverError::Permanent(
            "the idle driver sends nothing".into(),
        ))
    }
    async fn logout(&self) -> std::result::Result<(), DriverError> {
        Ok(())
    }
    async fn shutdown(&self) {}
}

/// Keys in memory, for constructing real clients without a database.
#[derive(Default)]
struct MemoryKeys(Mutex<BTreeMap<(String, String), Vec<u8>>>);

#[async_trait]
impl SessionKeys for MemoryKeys {
    async fn get(
        &self,
        namespace: &str,
        key: &str,
    ) -> std::result::Result<Option<Vec<u8>>, StoreError> {
        let keys = self
            .0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))?;
        Ok(keys.get(&(namespace.to_owned(), key.to_owned())).cloned())
    }
    async fn put(
        &self,
        namespace: &str,
        pairs: &[(String, Vec<u8>)],
    ) -> std::result::Result<(), StoreError> {
        let mut keys = self
            .0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))?;
        for (key, value) in pairs {
            keys.insert((namespace.to_owned(), key.clone()), value.clone());
        }
        Ok(())
    }
    async fn delete(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> std::result::Result<(), StoreError> {
        let mut stored = self
            .0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))?;
        for key in keys {
            stored.remove(&(namespace.to_owned(), key.clone()));
        }
        Ok(())
    }
    async fn list(
        &self,
        namespace: &str,
    ) -> std::result::Result<Vec<(String, Vec<u8>)>, StoreError> {
        let keys = self
            .0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))?;
        Ok(keys
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }
    async fn clear(&self) -> std::result::Result<(), StoreError> {
        self.0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))?
            .clear();
        Ok(())
    }
}

fn heap() -> Result<usize> {
    let unreadable = |err: tikv_jemalloc_ctl::Error| format!("jemalloc statistics: {err}");
    tikv_jemalloc_ctl::epoch::advance().map_err(unreadable)?;
    Ok(tikv_jemalloc_ctl::stats::allocated::read().map_err(unreadable)?)
}

fn config(data_dir: &std::path::Path, concurrency: usize) -> Config {
    let mut config = Config::default();
    config.server.port = 0;
    config.server.workers = 1;
    config.server.data_dir = data_dir.to_path_buf();
    config.auth.jwt_secret = Secret::new("bench-signing-secret-0123456789-abcdef");
    config.bootstrap.owner_email = "owner@example.com".into();
    config.bootstrap.owner_password = Secret::new(PASSWORD);
    config.rate_limit.per_ip_per_second = 100_000;
    config.rate_limit.per_ip_burst = 100_000;
    config.rate_limit.per_tenant_per_second = 100_000;
    config.rate_limit.per_tenant_burst = 100_000;
    config.log.level = "warn".into();
    config.whatsapp_web.connect_concurrency = concurrency;
    config
}

async fn connected(http: &reqwest::Client, base: &str) -> Result<usize> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("whatsapp_sessions{state=\"connected\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0) as usize)
}

async fn until_connected(http: &reqwest::Client, base: &str, n: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while connected(http, base).await? < n {
        if Instant::now() > deadline {
            return Err("sessions did not all connect within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn start(
    config: Config,
) -> Result<(
    String,
    actix_web::dev::ServerHandle,
    actix_rt::task::JoinHandle<std::io::Result<()>>,
)> {
    let app = Application::build_with(config, Some(Arc::new(IdleDriver))).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let running = actix_rt::spawn(app.run_until_stopped());
    Ok((base, handle, running))
}

async fn run() -> Result<()> {
    let n: usize = std::env::var("SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let concurrency: usize = std::env::var("RESTORE_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir()?;
    let http = reqwest::Client::new();
    let (base, handle, running) = start(config(dir.path(), concurrency)).await?;
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"tenant": "default", "email": "owner@example.com", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_owned();

    // Warm the paths a session takes once, so the baseline holds their one-off costs.
    let create = |name: String| {
        http.post(format!("{base}/api/v1/channels"))
            .bearer_auth(&token)
            .json(&json!({"kind": "whatsapp_web", "name": name}))
            .send()
    };
    create("warm-up".into()).await?.error_for_status()?;
    until_connected(&http, &base, 1).await?;
    let before = heap()?;
    let started = Instant::now();
    for i in 0..n {
        create(format!("number {i}")).await?.error_for_status()?;
    }
    until_connected(&http, &base, n + 1).await?;
    let created_in = started.elapsed();
    let after = heap()?;
    let per_session = after.saturating_sub(before) as f64 / n as f64;
    println!(
        "sessions: {n} idle session actors, connected in {:.2} s",
        created_in.as_secs_f64()
    );
    println!(
        "server heap per idle session actor: {:.1} KB ({} bytes before, {} after)",
        per_session / 1024.0,
        before,
        after
    );

    // Restore: a clean stop hands every session over; a new server brings them back.
    handle.stop(true).await;
    let _ = running.await;
    let (base, handle, running) = start(config(dir.path(), concurrency)).await?;
    let restarted = Instant::now();
    until_connected(&http, &base, n + 1).await?;
    println!(
        "restore after restart: {} sessions connected again in {:.2} s ({} clients built at a time)",
        n + 1,
        restarted.elapsed().as_secs_f64(),
        concurrency
    );
    handle.stop(true).await;
    let _ = running.await;

    // One real whatsapp-rust client, constructed (not connected: no network here).
    let clients = 20;
    let before = heap()?;
    let mut bots = Vec::new();
    for _ in 0..clients {
        let keys: Arc<dyn SessionKeys> = Arc::new(MemoryKeys::default());
        let backend = Arc::new(switchboard::whatsapp_web::wa::KeysBackend::new(keys));
        bots.push(
            whatsapp_rust::bot::Bot::builder()
                .with_backend_arc(backend)
                .build()
                .await?,
        );
    }
    let after = heap()?;
    println!(
        "whatsapp-rust client constructed (keys in memory, not connected): {:.1} KB each over {clients}",
        after.saturating_sub(before) as f64 / clients as f64 / 1024.0
    );
    drop(bots);
    Ok(())
}

fn main() -> Result<()> {
    actix_rt::System::new().block_on(run())
}
