//! Configuration: defaults in code, then an optional TOML file, then the environment.
//!
//! Environment keys are `SWITCHBOARD_<SECTION>__<KEY>` (double underscore between
//! section and key), plus the conventional `DATABASE_URL` and `REDIS_URL`. Unknown keys,
//! in the file or the environment, stop the server at start with a message naming
//! them: a typo must not silently fall back to a default.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const ENV_PREFIX: &str = "SWITCHBOARD_";
/// Read by the command line parser, not a configuration key.
const CONFIG_PATH_VAR: &str = "SWITCHBOARD_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// A value that must never reach a log line. `Debug` and `Serialize` print nothing of it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() {
            "[redacted]"
        } else {
            "[unset]"
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub bus: BusConfig,
    pub auth: AuthConfig,
    pub bootstrap: BootstrapConfig,
    pub cors: CorsConfig,
    pub rate_limit: RateLimitConfig,
    pub log: LogConfig,
    pub inbox: InboxConfig,
    pub websocket: WebSocketConfig,
    pub sandbox: SandboxConfig,
    pub channels: ChannelsConfig,
    pub whatsapp_web: WhatsAppWebConfig,
    pub pipeline: PipelineConfig,
    pub jobs: JobsConfig,
    pub automations: AutomationsConfig,
    pub webhooks: WebhooksConfig,
    pub ai: AiConfig,
    pub fetch: FetchConfig,
    pub metrics: MetricsConfig,
}

/// The node's runner of durable jobs (automations' steps and waits); see
/// `jobs::runner::RunnerSettings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs the node runs at the same time; due jobs beyond it wait in the store.
    pub concurrency: usize,
    /// How often an idle node looks for due jobs.
    pub poll_ms: u64,
    /// The longest one run may take before it fails and is retried.
    pub timeout_secs: u64,
    /// The first retry's delay after a failed run, doubled each failure (with
    /// jitter) up to `retry_max_secs`.
    pub retry_base_ms: u64,
    pub retry_max_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            poll_ms: 250,
            timeout_secs: 60,
            retry_base_ms: 10_000,
            retry_max_secs: 3_600,
        }
    }
}

/// Tenants' automation rules: their loop guard and how hard a step is tried. The
/// trigger worker follows the pipeline's lease, pace and batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutomationsConfig {
    /// Runs started by changes other runs made, at most this many levels deep; a
    /// deeper one is recorded as skipped.
    pub max_depth: u32,
    /// Runs one rule starts in one conversation within an hour, at most.
    pub max_runs_per_hour: u32,
    /// Attempts of one step before its job is dead (retryable over REST).
    pub step_attempts: u32,
    /// The shortest time a schedule rule may leave between two ticks.
    pub min_schedule_secs: u64,
}

impl Default for AutomationsConfig {
    fn default() -> Self {
        Self {
            max_depth: 3,
            max_runs_per_hour: 20,
            step_attempts: 5,
            min_schedule_secs: 60,
        }
    }
}

/// Outbound webhooks: how hard a delivery is tried, and the receivers' bounds. Their
/// URLs go through the guarded client: public `https` hosts only, unless `fetch`
/// allows plain http and private addresses (tests, local development).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// The wait before each attempt of a delivery, in seconds; the first is the
    /// first attempt's (0: at once), and its length is the attempts a delivery gets.
    pub retry_schedule_secs: Vec<u64>,
    /// The longest wait a receiver's `Retry-After` can ask for.
    pub max_retry_after_secs: u64,
    /// How long one attempt may take, connecting and answering.
    pub timeout_secs: u64,
    /// An endpoint whose attempts have failed without a success for this long is
    /// switched off, and admins are told (`webhook.disabled`).
    pub disable_after_secs: u64,
    /// Attempts this node makes to one endpoint at the same time; more wait their
    /// turn, so a slow receiver holds at most this many of the job runner's slots.
    pub endpoint_concurrency: usize,
    /// Endpoints a tenant may have.
    pub max_endpoints: usize,
    /// After a rotation, how long deliveries are signed with the old secret too.
    pub previous_secret_hours: u64,
    /// Deliveries (and their attempts) are kept this long, then pruned.
    pub log_retention_days: u64,
}

impl WebhooksConfig {
    /// The attempts a delivery gets: one per entry of the retry schedule.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.retry_schedule_secs.len()).unwrap_or(u32::MAX)
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            // Standard Webhooks' schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
            retry_schedule_secs: vec![0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000],
            max_retry_after_secs: 36_000,
            timeout_secs: 15,
            disable_after_secs: 5 * 24 * 3_600,
            endpoint_concurrency: 4,
            max_endpoints: 20,
            previous_secret_hours: 24,
            log_retention_days: 30,
        }
    }
}

/// Calls to the language-model providers tenants configure (`PUT /settings/ai`), and
/// the knowledge base their replies are grounded in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AiConfig {
    /// Let tenants' providers be on loopback, private addresses and plain `http`: a
    /// model server on the same host or network (Ollama, vLLM, LM Studio). Off, a
    /// provider must be a public `https` host, like any other URL from input.
    pub allow_local_models: bool,
    /// The largest knowledge-base document (its text, in bytes); larger ones are
    /// refused with `payload_too_large`. Requests are also held to
    /// `server.body_limit_bytes`.
    pub knowledge_document_max_bytes: usize,
    /// Documents a tenant's knowledge base holds at most; one more is refused with
    /// `limit_reached`.
    pub knowledge_max_documents: u32,
    /// Conversations of one tenant the AI answers at the same time (each waits for
    /// its provider); the tenant's other messages wait their turn.
    pub reply_concurrency: usize,
    /// The most tokens any tenant's models may use in a month (the operator's plan);
    /// a tenant's own budget can only be lower. 0: no cap.
    pub max_monthly_tokens: u64,
}

impl Default for AiConfig {
    fn default() -> Self {
        Self {
            allow_local_models: false,
            knowledge_document_max_bytes: 256 * 1024,
            knowledge_max_documents: 500,
            reply_concurrency: 4,
            max_monthly_tokens: 0,
        }
    }
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// An address (`127.0.0.1:9100`) for a listener of its own that serves only
    /// `/metrics`, `/health` and `/ready`; `/metrics` then leaves the public listener.
    /// Empty: `/metrics` is on the public listener.
    pub listen: String,
    /// When set, `/metrics` on the public listener needs `Authorization: Bearer <it>`.
    pub bearer_token: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Holds the SQLite file and generated secrets.
    pub data_dir: PathBuf,
    /// Largest request body accepted; larger ones get 413.
    pub body_limit_bytes: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Open connections at most; requests on connections beyond it get 503 (the
    /// probes and `/metrics` excepted). Keep it below the open-file limit.
    pub max_connections: usize,
    /// A request head must arrive within this, or the connection gets 408 and closes.
    pub request_head_timeout_secs: u64,
    /// A request body must arrive within this, or the request gets 408.
    pub body_read_timeout_secs: u64,
    /// An idle kept-alive connection closes after this.
    pub keep_alive_secs: u64,
    /// Addresses or CIDR ranges of the reverse proxies in front of the server. A
    /// request from one of them names its client in `client_ip_header`: the client is
    /// the rightmost address there that is not a trusted proxy. Empty: the socket peer.
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies set.
    pub client_ip_header: ClientIpHeader,
    /// Accept example and easily guessed secrets (`auth.jwt_secret`,
    /// `channels.credentials_key`, `bootstrap.owner_password`). Local development only.
    pub dev_mode: bool,
}

/// Where trusted proxies name the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIpHeader {
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…`.
    Forwarded,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            data_dir: PathBuf::from("./data"),
            body_limit_bytes: 1024 * 1024,
            shutdown_timeout_secs: 30,
            workers: 0,
            max_connections: 10_000,
            request_head_timeout_secs: 5,
            body_read_timeout_secs: 10,
            keep_alive_secs: 5,
            trusted_proxies: Vec::new(),
            client_ip_header: ClientIpHeader::XForwardedFor,
            dev_mode: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// An acknowledged write survives power loss.
    Full,
    /// An acknowledged write survives a crash of the process, not of the machine.
    Normal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Empty: SQLite at `<data_dir>/switchboard.db`. Otherwise `sqlite://PATH` or
    /// `postgres://…`.
    pub url: Secret,
    pub max_connections: u32,
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::default(),
            max_connections: 10,
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// Empty: the in-process bus (one node).
    pub redis_url: Secret,
    /// How long another node's word that a user is online holds without a repeat;
    /// so a dead node's users go offline elsewhere after at most this.
    pub presence_ttl_secs: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            redis_url: Secret::default(),
            presence_ttl_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 signing key, at least 32 bytes. Empty: generated once and kept in
    /// `<data_dir>/jwt-secret`; several nodes must share one, so set it for a cluster.
    pub jwt_secret: Secret,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub invite_ttl_secs: u64,
    /// Whether anyone may create a new tenant with `POST /api/v1/auth/register`.
    pub registration_open: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::default(),
            issuer: "switchboard".into(),
            audience: "switchboard-api".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            invite_ttl_secs: 7 * 24 * 3600,
            registration_open: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapConfig {
    /// Create a first tenant and owner when the database has no tenant.
    pub enabled: bool,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub owner_email: String,
    /// Empty: a random password, printed once at first start.
    pub owner_password: Secret,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tenant_name: "Default".into(),
            tenant_slug: "default".into(),
            owner_email: "owner@switchboard.local".into(),
            owner_password: Secret::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins (scheme://host[:port]) whose pages may call the API from a browser.
    /// Pages served by Switchboard itself are same-origin and need no entry.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained API requests per second from one client address, and the burst above it.
    pub per_ip_per_second: u32,
    pub per_ip_burst: u32,
    /// Sustained API requests per second for one tenant (all its users and keys).
    pub per_tenant_per_second: u32,
    pub per_tenant_burst: u32,
    /// Sign-in, registration, refresh and invitation attempts per minute from one
    /// address: the guard against password guessing.
    pub auth_per_ip_per_minute: u32,
    /// Failed sign-ins in a row to one account (from any address) before each further
    /// attempt waits: 1 s, doubling up to `sign_in_lockout_max_secs`. The same for
    /// accounts that do not exist, so the wait reveals nothing.
    pub sign_in_failures_per_account: u32,
    pub sign_in_lockout_max_secs: u64,
    /// Provider webhooks per second from one address, and the burst above it.
    pub webhooks_per_ip_per_second: u32,
    pub webhooks_per_ip_burst: u32,
    /// WebSocket upgrades per minute from one address.
    pub socket_upgrades_per_ip_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_ip_per_second: 50,
            per_ip_burst: 100,
            per_tenant_per_second: 500,
            per_tenant_burst: 1000,
            auth_per_ip_per_minute: 20,
            sign_in_failures_per_account: 5,
            sign_in_lockout_max_secs: 900,
            webhooks_per_ip_per_second: 200,
            webhooks_per_ip_burst: 1_000,
            socket_upgrades_per_ip_per_minute: 120,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboxConfig {
    /// A conversation with no activity for this long leaves memory (it stays stored).
    pub conversation_idle_secs: u64,
    /// Missed events replayed on reconnect; a client further behind gets `reset`.
    pub max_replay: u32,
    /// How long stream events are kept for resuming clients.
    pub stream_retention_hours: u64,
    /// Live events held for one connection while it replays.
    pub catch_up_buffer: usize,
    /// Mailbox bounds of the tenant and conversation actors.
    pub tenant_mailbox: usize,
    pub conversation_mailbox: usize,
    /// Customer messages of one tenant queued for the ingest writer (full: 503 busy),
    /// and how many (of any tenants) share one transaction.
    pub ingest_queue: usize,
    pub ingest_batch: usize,
    /// Most contacts one contact search request reads to apply its filter; past it
    /// the page ends early with a cursor to go on from.
    pub contact_filter_scan: usize,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            conversation_idle_secs: 300,
            max_replay: 10_000,
            stream_retention_hours: 168,
            catch_up_buffer: 4096,
            tenant_mailbox: 4096,
            conversation_mailbox: 256,
            ingest_queue: 4096,
            ingest_batch: 256,
            contact_filter_scan: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// The server pings this often; a client silent for `heartbeat_timeout_secs` is
    /// closed with 4009.
    pub heartbeat_interval_secs: u64,
    pub heartbeat_timeout_secs: u64,
    /// A socket opened without a token must send `auth` within this time (4001).
    pub auth_timeout_secs: u64,
    /// Largest frame a client may send (1009 beyond it).
    pub max_frame_bytes: usize,
    /// Frames queued for one client before it counts as a slow consumer (4008).
    pub outbox_capacity: usize,
    /// Client frames per second on one connection (text and binary), and the burst
    /// above it.
    pub frames_per_second: u32,
    pub frames_burst: u32,
    /// Open sockets per user and per tenant on one node; one more is closed with 4029.
    pub max_sockets_per_user: usize,
    pub max_sockets_per_tenant: usize,
    /// How often open sockets' access (role, status, sign-in) is read from the store,
    /// in case a change on another node did not arrive over the bus.
    pub access_recheck_secs: u64,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_secs: 15,
            heartbeat_timeout_secs: 45,
            auth_timeout_secs: 3,
            max_frame_bytes: 64 * 1024,
            outbox_capacity: 1024,
            frames_per_second: 20,
            frames_burst: 40,
            max_sockets_per_user: 20,
            max_sockets_per_tenant: 5_000,
            access_recheck_secs: 10,
        }
    }
}

/// WhatsApp Web sessions (`whatsapp_web` channels); see `session::SessionSettings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhatsAppWebConfig {
    /// A session's lease: renewed every fifth of it by its node; another node takes
    /// the session over once it expires (so within this after a node dies). A node
    /// that cannot reach the database stops its sessions after half of it.
    pub lease_secs: u64,
    /// Reconnect pauses double from this up to `reconnect_max_secs`, jittered.
    pub reconnect_base_ms: u64,
    pub reconnect_max_secs: u64,
    /// Connected this long, the next drop starts again from the first pause.
    pub stable_after_secs: u64,
    /// QR codes shown per login before the session stops (`stopped`).
    pub max_qr_codes: u32,
    /// QR codes reach admins at most once per this interval.
    pub qr_min_interval_ms: u64,
    /// Sessions connecting at once on a node (a restart restores them this many at
    /// a time).
    pub connect_concurrency: usize,
    pub connect_timeout_secs: u64,
    pub send_timeout_secs: u64,
    /// Replies per second per session.
    pub send_rate_per_second: u32,
    /// WhatsApp's media CDN, tried in order for a customer's photo, voice note or
    /// file (fetched and decrypted when an agent first opens it).
    pub media_urls: Vec<String>,
    /// The largest file a media reply's link may point to: the server fetches it
    /// whole and uploads it through the session.
    pub reply_file_max_bytes: usize,
}

impl Default for WhatsAppWebConfig {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            reconnect_base_ms: 2_000,
            reconnect_max_secs: 300,
            stable_after_secs: 120,
            max_qr_codes: 6,
            qr_min_interval_ms: 1_000,
            connect_concurrency: 8,
            connect_timeout_secs: 30,
            send_timeout_secs: 30,
            send_rate_per_second: 5,
            media_urls: [
                "https://mmg.whatsapp.net",
                "https://mmg-fallback.whatsapp.net",
            ]
            .map(String::from)
            .to_vec(),
            // WhatsApp's own ceiling for photos, voice notes and videos.
            reply_file_max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The inbound pipeline (guardrail, understanding, sentiment, lead score, handoff);
/// see `pipeline::pipelines::PipelineSettings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Off, no message is analysed, scored or handed off (the stream carries only
    /// what people and channels do).
    pub enabled: bool,
    /// A node works a tenant's pipeline under a lease of this long, renewed every
    /// fifth of it while it works; another node takes it over once it runs out.
    pub lease_secs: u64,
    /// How often a node looks for tenants with messages to process.
    pub poll_ms: u64,
    /// Stream events read at a time; a batch's insights are written in one transaction.
    pub batch: u32,
    /// Tenants looked at per round.
    pub tenants_per_round: u32,
    /// Each stage's deadline per message; a stage that misses it is skipped (its
    /// fallback used) and restarted.
    pub stage_timeout_ms: u64,
    /// The model stage's deadline per message, across every provider it tries; when
    /// it runs out the rules' understanding stands.
    pub model_timeout_ms: u64,
    /// Messages waiting per stage.
    pub stage_mailbox: usize,
    /// The nice value of the pipeline's analysis thread (Linux, 0 to 19): analysis
    /// yields the CPU to the threads that take webhooks and serve sockets. 0 leaves
    /// it as it is.
    pub nice: i32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            lease_secs: 30,
            poll_ms: 50,
            batch: 200,
            tenants_per_round: 256,
            stage_timeout_ms: 2_000,
            model_timeout_ms: 30_000,
            stage_mailbox: 256,
            nice: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Pause before each simulated delivery status (sent, delivered, read).
    pub status_delay_ms: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            status_delay_ms: 400,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// Hours between two syncs of a WhatsApp channel's message templates (after the
    /// first, when its `business_account_id` is set); 0: only on demand.
    pub template_sync_hours: u64,
    /// Base64 of 32 random bytes: the AES-256-GCM key for channel credentials. Empty:
    /// generated once into `<data_dir>/channel-key`; several nodes must share one.
    pub credentials_key: Secret,
    /// Where the Graph API is; tests point it at a local fake.
    pub graph_base_url: String,
    pub graph_version: String,
    /// One Graph API call, connecting included.
    pub request_timeout_ms: u64,
    /// Sends per second per channel (WhatsApp's default throughput is 80).
    pub send_rate_per_second: u32,
    /// A broadcast's provider calls under way at once (never more than its rate a
    /// second). The rate limiter sets the pace; this lets it be kept while each
    /// call waits hundreds of milliseconds for the provider.
    pub broadcast_in_flight: usize,
    /// Replies waiting per channel; when full, a reply fails at once into the dead
    /// letters instead of waiting unbounded.
    pub queue_capacity: usize,
    /// Tries per reply on timeouts, 5xx and 429 before it becomes a dead letter.
    pub max_attempts: u32,
    /// First pause between tries; doubled each time (with jitter) up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Failures in a row that open a channel's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit rests before one probe.
    pub breaker_open_ms: u64,
    /// At start, replies still pending that were written longer ago than this are
    /// queued again: the node that took them stopped before sending. Keep it above
    /// the longest outage a running node waits out, or two nodes may both send one.
    pub recover_after_secs: u64,
    /// Hosts customer media is fetched from (each with its subdomains): where Meta
    /// serves WhatsApp, Messenger and Instagram media. A media link to any other host
    /// is refused.
    pub media_hosts: Vec<String>,
    /// Largest media file fetched.
    pub media_max_bytes: usize,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        Self {
            template_sync_hours: 6,
            credentials_key: Secret::default(),
            graph_base_url: "https://graph.facebook.com".into(),
            graph_version: "v21.0".into(),
            request_timeout_ms: 10_000,
            send_rate_per_second: 80,
            broadcast_in_flight: 64,
            queue_capacity: 1_000,
            max_attempts: 8,
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            breaker_failures: 5,
            breaker_open_ms: 30_000,
            recover_after_secs: 600,
            media_hosts: ["fbcdn.net", "fbsbx.com", "cdninstagram.com", "whatsapp.net"]
                .map(String::from)
                .to_vec(),
            media_max_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Rules for fetching URLs that came from outside (media links today). The defaults
/// are the production rules; tests and local development relax them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Also fetch from loopback, private, link-local and other non-public addresses.
    /// Only for tests and local development: it opens the server to SSRF.
    pub allow_private_addresses: bool,
    /// Also fetch over plain `http`. Only for tests and local development.
    pub allow_plain_http: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `switchboard=debug,sqlx=warn`; `RUST_LOG`
    /// wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Json,
        }
    }
}

/// Where the store lives, derived from `database.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    Sqlite(PathBuf),
    Postgres(Secret),
}

impl Config {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like `load`, with the environment passed in (tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|err| ConfigError::Syntax {
                    path: path.to_owned(),
                    message: err.message().to_owned(),
                })?
            }
            None => toml::Table::new(),
        };
        let schema = toml::Table::try_from(Config::default()).map_err(|err| {
            ConfigError::Invalid(format!("default configuration does not serialise: {err}"))
        })?;
        for (var, value) in env {
            if let Some(path) = env_key_path(&var) {
                overlay(&mut table, &schema, &var, &path, &value)?;
            }
        }
        let config = Config::deserialize(toml::Value::Table(table)).map_err(|err| {
            let source = file.map_or_else(
                || "environment".to_owned(),
                |p| format!("{} or environment", p.display()),
            );
            ConfigError::Invalid(format!("{err} (in {source})"))
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_owned()));
        if self.auth.jwt_secret.is_set() && self.auth.jwt_secret.expose().len() < 32 {
            return invalid("auth.jwt_secret must be at least 32 bytes");
        }
        if !self.server.dev_mode {
            self.check_secrets()?;
        }
        if self.auth.access_token_ttl_secs == 0 || self.auth.refresh_token_ttl_secs == 0 {
            return invalid("auth token lifetimes must be positive");
        }
        let limits = &self.rate_limit;
        if [
            limits.per_ip_per_second,
            limits.per_ip_burst,
            limits.per_tenant_per_second,
            limits.per_tenant_burst,
            limits.auth_per_ip_per_minute,
            limits.sign_in_failures_per_account,
            limits.webhooks_per_ip_per_second,
            limits.webhooks_per_ip_burst,
            limits.socket_upgrades_per_ip_per_minute,
        ]
        .contains(&0)
        {
            return invalid("rate_limit values must be positive");
        }
        let sessions = &self.whatsapp_web;
        if sessions.lease_secs < 3
            || sessions.connect_concurrency == 0
            || sessions.max_qr_codes == 0
            || sessions.send_rate_per_second == 0
        {
            return invalid(
                "whatsapp_web.lease_secs must be at least 3; connect_concurrency, max_qr_codes and send_rate_per_second positive",
            );
        }
        if self.ai.knowledge_document_max_bytes == 0 || self.ai.knowledge_max_documents == 0 {
            return invalid(
                "ai.knowledge_document_max_bytes and knowledge_max_documents must be positive",
            );
        }
        let jobs = &self.jobs;
        if [
            jobs.poll_ms,
            jobs.timeout_secs,
            jobs.retry_base_ms,
            jobs.retry_max_secs,
        ]
        .contains(&0)
            || jobs.concurrency == 0
        {
            return invalid(
                "jobs.concurrency, poll_ms, timeout_secs, retry_base_ms and retry_max_secs must be positive",
            );
        }
        let automations = &self.automations;
        if automations.max_runs_per_hour == 0
            || automations.step_attempts == 0
            || automations.min_schedule_secs == 0
        {
            return invalid(
                "automations.max_runs_per_hour, step_attempts and min_schedule_secs must be positive",
            );
        }
        let webhooks = &self.webhooks;
        if webhooks.retry_schedule_secs.is_empty()
            || webhooks.retry_schedule_secs.len() > 20
            || webhooks.timeout_secs == 0
            || webhooks.timeout_secs >= jobs.timeout_secs
            || webhooks.endpoint_concurrency == 0
            || webhooks.max_endpoints == 0
            || webhooks.log_retention_days == 0
        {
            return invalid(
                "webhooks.retry_schedule_secs must have 1 to 20 entries; timeout_secs positive and below jobs.timeout_secs; endpoint_concurrency, max_endpoints and log_retention_days positive",
            );
        }
        let pipeline = &self.pipeline;
        if pipeline.lease_secs < 3
            || [
                pipeline.poll_ms,
                pipeline.stage_timeout_ms,
                pipeline.model_timeout_ms,
            ]
            .contains(&0)
            || pipeline.batch == 0
            || pipeline.tenants_per_round == 0
            || pipeline.stage_mailbox == 0
            || !(0..=19).contains(&pipeline.nice)
        {
            return invalid(
                "pipeline.lease_secs must be at least 3; poll_ms, batch, tenants_per_round, stage_timeout_ms, model_timeout_ms and stage_mailbox positive; nice 0 to 19",
            );
        }
        crate::http::client::ClientAddresses::new(
            &self.server.trusted_proxies,
            self.server.client_ip_header,
        )?;
        let server = &self.server;
        if [
            server.body_limit_bytes,
            server.max_connections,
            usize::try_from(
                server
                    .request_head_timeout_secs
                    .min(server.body_read_timeout_secs),
            )
            .unwrap_or(1),
        ]
        .contains(&0)
        {
            return invalid(
                "server.body_limit_bytes, max_connections, request_head_timeout_secs and body_read_timeout_secs must be positive",
            );
        }
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return invalid("metrics.listen must be an address such as 127.0.0.1:9100");
        }
        let ws = &self.websocket;
        if ws.max_sockets_per_user == 0
            || ws.max_sockets_per_tenant == 0
            || ws.access_recheck_secs == 0
        {
            return invalid(
                "websocket.max_sockets_per_user, max_sockets_per_tenant and access_recheck_secs must be positive",
            );
        }
        if self.bus.presence_ttl_secs == 0 {
            return invalid("bus.presence_ttl_secs must be positive");
        }
        if self.inbox.ingest_queue == 0 || self.inbox.ingest_batch == 0 {
            return invalid("inbox.ingest_queue and inbox.ingest_batch must be positive");
        }
        let channels = &self.channels;
        if channels.send_rate_per_second == 0
            || channels.broadcast_in_flight == 0
            || channels.queue_capacity == 0
            || channels.max_attempts == 0
            || channels.request_timeout_ms == 0
        {
            return invalid(
                "channels.send_rate_per_second, broadcast_in_flight, queue_capacity, max_attempts and request_timeout_ms must be positive",
            );
        }
        self.database_location().map(|_| ())
    }

    /// Refuses example and easily guessed secrets: a server started with the values
    /// from `docker/example.env` would sign tokens anyone can forge.
    fn check_secrets(&self) -> Result<(), ConfigError> {
        use crate::auth::strength::{example_problem, key_problem, secret_problem};
        use base64::Engine;
        let refuse = |key: &str, problem: String| {
            Err(ConfigError::Invalid(format!(
                "{key} {problem} (server.dev_mode = true accepts it, for local development only)"
            )))
        };
        if self.auth.jwt_secret.is_set()
            && let Some(problem) = secret_problem(self.auth.jwt_secret.expose())
        {
            return refuse("auth.jwt_secret", problem);
        }
        let key = self.channels.credentials_key.expose();
        if self.channels.credentials_key.is_set() {
            let decoded = base64::engine::general_purpose::STANDARD.decode(key.trim());
            if let Some(problem) =
                example_problem(key).or_else(|| decoded.ok().and_then(|bytes| key_problem(&bytes)))
            {
                return refuse("channels.credentials_key", problem);
            }
        }
        if self.bootstrap.owner_password.is_set()
            && let Some(problem) = example_problem(self.bootstrap.owner_password.expose())
        {
            return refuse("bootstrap.owner_password", problem);
        }
        Ok(())
    }

    pub fn database_location(&self) -> Result<DatabaseLocation, ConfigError> {
        let url = self.database.url.expose();
        if url.is_empty() {
            return Ok(DatabaseLocation::Sqlite(
                self.server.data_dir.join("switchboard.db"),
            ));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseLocation::Postgres(self.database.url.clone()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(DatabaseLocation::Sqlite(PathBuf::from(path)));
        }
        Err(ConfigError::Invalid(
            "database.url must start with sqlite:// or postgres://".into(),
        ))
    }
}

/// `SWITCHBOARD_SERVER__PORT` -> `["server", "port"]`; other variables are not ours.
fn env_key_path(var: &str) -> Option<Vec<String>> {
    match var {
        "DATABASE_URL" => Some(vec!["database".into(), "url".into()]),
        "REDIS_URL" => Some(vec!["bus".into(), "redis_url".into()]),
        CONFIG_PATH_VAR => None,
        _ => var
            .strip_prefix(ENV_PREFIX)
            .map(|rest| rest.split("__").map(str::to_lowercase).collect()),
    }
}

/// Sets `path` in `table` from an environment string, typed like the default value at
/// the same place (so `"8080"` becomes a port and `"12345"` stays a password).
fn overlay(
    table: &mut toml::Table,
    schema: &toml::Table,
    var: &str,
    path: &[String],
    raw: &str,
) -> Result<(), ConfigError> {
    let env_err = |message: String| ConfigError::Env {
        var: var.to_owned(),
        message,
    };
    let (key, sections) = path
        .split_last()
        .ok_or_else(|| env_err("names no key".into()))?;
    let mut schema_table = schema;
    let mut target = table;
    for section in sections {
        schema_table = schema_table
            .get(section)
            .and_then(toml::Value::as_table)
            .ok_or_else(|| env_err(format!("unknown configuration section `{section}`")))?;
        let entry = target
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        target = entry
            .as_table_mut()
            .ok_or_else(|| env_err(format!("`{section}` is not a section in the config file")))?;
    }
    let template = schema_table
        .get(key)
        .ok_or_else(|| env_err(format!("unknown configuration key `{}`", path.join("."))))?;
    let value = match template {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| env_err(format!("`{raw}` is not a whole number")))?,
        ),
        toml::Value::Float(_) => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| env_err(format!("`{raw}` is not a number")))?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(env_err(format!("`{raw}` is not true or false"))),
        }),
        // Comma-separated; numbers where the default list holds numbers.
        toml::Value::Array(defaults) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| match defaults.first() {
                    Some(toml::Value::Integer(_)) => item
                        .parse()
                        .map(toml::Value::Integer)
                        .map_err(|_| env_err(format!("`{item}` is not a whole number"))),
                    _ => Ok(toml::Value::String(item.to_owned())),
                })
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(_) => {
            return Err(env_err("names a section; set one of its keys".into()));
        }
        toml::Value::Datetime(_) => return Err(env_err("dates are not configurable".into())),
    };
    target.insert(key.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn with_nothing_configured_the_server_listens_on_loopback_8080_with_sqlite_under_data() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(
            (config.server.host.as_str(), config.server.port),
            ("127.0.0.1", 8080)
        );
        assert_eq!(
            config.database_location().unwrap(),
            DatabaseLocation::Sqlite(PathBuf::from("./data/switchboard.db"))
        );
        assert!(!config.bus.redis_url.is_set());
    }

    #[test]
    fn a_list_of_numbers_is_read_from_the_environment_as_numbers() {
        let config = Config::load_from(
            None,
            env(&[("SWITCHBOARD_WEBHOOKS__RETRY_SCHEDULE_SECS", "0, 5,300")]),
        )
        .unwrap();
        assert_eq!(config.webhooks.retry_schedule_secs, [0, 5, 300]);
        let err = Config::load_from(
            None,
            env(&[("SWITCHBOARD_WEBHOOKS__RETRY_SCHEDULE_SECS", "0,soon")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`soon` is not a whole number"), "{err}");
    }

    #[test]
    fn the_environment_overrides_the_file_which_overrides_the_defaults() {
        let file =
            write("[server]\nport = 9000\nhost = \"0.0.0.0\"\n[auth]\nregistration_open = false\n");
        let config = Config::load_from(
            Some(file.path()),
            env(&[
                ("SWITCHBOARD_SERVER__PORT", "9100"),
                ("DATABASE_URL", "postgres://u@localhost/db"),
                ("SWITCHBOARD_BOOTSTRAP__OWNER_PASSWORD", "12345"),
                (
                    "SWITCHBOARD_CORS__ALLOWED_ORIGINS",
                    "https://a.example, https://b.example",
                ),
                ("SWITCHBOARD_CONFIG", "ignored.toml"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.port, 9100);
        assert_eq!(config.server.host, "0.0.0.0");
        assert!(!config.auth.registration_open);
        assert_eq!(config.bootstrap.owner_password.expose(), "12345");
        assert_eq!(
            config.cors.allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert!(matches!(
            config.database_location().unwrap(),
            DatabaseLocation::Postgres(_)
        ));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_rejected_naming_the_key() {
        let file = write("[server]\nprot = 9000\n");
        let err = Config::load_from(Some(file.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn an_unknown_section_in_the_file_is_rejected_naming_it() {
        let file = write("[sever]\nport = 9000\n");
        let err = Config::load_from(Some(file.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sever"), "{err}");
    }

    #[test]
    fn an_unknown_environment_key_is_rejected_naming_the_variable() {
        let err = Config::load_from(None, env(&[("SWITCHBOARD_SERVER__PROT", "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SWITCHBOARD_SERVER__PROT") && err.contains("server.prot"),
            "{err}"
        );
        let err = Config::load_from(None, env(&[("SWITCHBOARD_NOPE__PORT", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SWITCHBOARD_NOPE__PORT"), "{err}");
    }

    #[test]
    fn a_mistyped_environment_value_is_rejected() {
        let err = Config::load_from(None, env(&[("SWITCHBOARD_SERVER__PORT", "eighty")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SWITCHBOARD_SERVER__PORT") && err.contains("eighty"),
            "{err}"
        );
    }

    #[test]
    fn pipeline_limits_out_of_range_are_refused_naming_them() {
        for (key, value) in [
            ("SWITCHBOARD_PIPELINE__NICE", "20"),
            ("SWITCHBOARD_PIPELINE__NICE", "-1"),
            ("SWITCHBOARD_PIPELINE__BATCH", "0"),
            ("SWITCHBOARD_PIPELINE__LEASE_SECS", "2"),
        ] {
            let err = Config::load_from(None, env(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("pipeline.lease_secs") && err.contains("nice 0 to 19"),
                "{key}={value}: {err}"
            );
        }
        let fine = Config::load_from(None, env(&[("SWITCHBOARD_PIPELINE__NICE", "0")])).unwrap();
        assert_eq!(fine.pipeline.nice, 0);
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let config = Config::load_from(
            None,
            env(&[
                (
                    "SWITCHBOARD_AUTH__JWT_SECRET",
                    "a-very-long-signing-secret-0123456789",
                ),
                ("DATABASE_URL", "postgres://user:hunter2@db/switchboard"),
                ("SWITCHBOARD_BOOTSTRAP__OWNER_PASSWORD", "correct horse"),
            ]),
        )
        .unwrap();
        let debug = format!("{config:?}");
        for secret in ["a-very-long-signing-secret", "hunter2", "correct horse"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn the_example_secrets_of_the_docs_are_refused_outside_dev_mode() {
        let example = [
            (
                "SWITCHBOARD_AUTH__JWT_SECRET",
                "change-me-to-at-least-32-random-bytes-please",
            ),
            (
                "SWITCHBOARD_CHANNELS__CREDENTIALS_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
            ("SWITCHBOARD_BOOTSTRAP__OWNER_PASSWORD", "change-me-too"),
        ];
        for (var, value) in example {
            let err = Config::load_from(None, env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("dev_mode"), "{var}: {err}");
        }
        let weak = Config::load_from(
            None,
            env(&[("SWITCHBOARD_AUTH__JWT_SECRET", &"a".repeat(40))]),
        )
        .unwrap_err()
        .to_string();
        assert!(weak.contains("too easy to guess"), "{weak}");
        let mut dev = env(&example);
        dev.push(("SWITCHBOARD_SERVER__DEV_MODE".into(), "true".into()));
        assert!(Config::load_from(None, dev).is_ok());
        assert!(
            Config::load_from(
                None,
                env(&[(
                    "SWITCHBOARD_AUTH__JWT_SECRET",
                    "kO3v9Qd7Zr1mW8xT2pL6yB4nC0sF5hJu"
                )])
            )
            .is_ok()
        );
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let err =
            Config::load_from(None, env(&[("SWITCHBOARD_AUTH__JWT_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("jwt_secret"));
    }
}
