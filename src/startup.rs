//! Building and running one Switchboard node. No global state: a test process can run
//! several `Application`s side by side.

use crate::ai;
use crate::api;
use crate::auth::throttle::SignInThrottle;
use crate::auth::{access_token::AccessTokens, password};
use crate::bootstrap::{self, BootstrapError, FirstOwner};
use crate::config::{
    Config, ConfigError, DatabaseLocation, JobsConfig, PipelineConfig, SqliteSynchronous,
    WebhooksConfig,
};
use crate::error::ApiError;
use crate::http::body_deadline::body_deadline;
use crate::http::client::ClientAddresses;
use crate::http::connections::{Connections, refuse_over_cap};
use crate::http::extract_errors::{json_config, path_config};
use crate::http::guarded::{FetchPolicy, GuardedClient};
use crate::http::observe::observe;
use crate::http::rate_limit::{PRUNE_INTERVAL, RateLimits};
use crate::outbound_webhooks::sender::{RESPONSE_KEPT_BYTES, Sender, SenderSettings};
use crate::state::AppState;
use crate::store::{PostgresStore, SqliteStore};
use crate::telemetry::Metrics;
use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;

use crate::automation_calls::{self, GuardedCaller};
use crate::broadcasts::sender::{Announcer, BROADCAST_JOB, BroadcastSender};
use crate::bus::redis::RedisBus;
use crate::channels::clients::SessionRoute;
use crate::channels::credentials::Sealer;
use crate::channels::directory::{ChannelDirectory, INBOUND_NOTES_EVERY};
use crate::channels::gateway::Gateway;
use crate::channels::meta::graph::Graph;
use crate::channels::templates::{TEMPLATE_SYNC_JOB, TemplateSync};
use crate::channels::{Router, sandbox::Sandbox};
use crate::whatsapp_web;
use std::time::Duration;
use switchboard_actors::Millis;
use switchboard_actors::automation::engine::{AutomationSettings, Automations, Starter};
use switchboard_actors::automation::schedule::Ticks;
use switchboard_actors::automation::steps::{Steps, Timers};
use switchboard_actors::automation::{STEP_JOB, TICK_JOB, TIMER_JOB};
use switchboard_actors::contacts::import_job::{IMPORT_JOB, ImportRunner};
use switchboard_actors::inbox::Inbox;
use switchboard_actors::inbox::bus::LocalBus;
use switchboard_actors::inbox::bus::NodeId;
use switchboard_actors::inbox::outbound::Delivery;
use switchboard_actors::inbox::outbound::Outbound;
use switchboard_actors::inbox::settings::InboxSettings;
use switchboard_actors::jobs::runner::{JobRunner, RunnerSettings};
use switchboard_actors::knowledge::embedding::{EmbeddingSettings, Embeddings};
use switchboard_actors::llm::TenantModels;
use switchboard_actors::pipeline::pipelines::{PipelineSettings, Pipelines};
use switchboard_actors::pipeline::stages::StageSettings;
use switchboard_actors::reply::replies::{Replies, RepliesSettings};
use switchboard_actors::session::Sessions;
use switchboard_actors::session::driver::SessionDriver;
use switchboard_actors::store::Store;
use switchboard_actors::webhooks::fanout::{FanoutSettings, Replays, Webhooks};
use switchboard_actors::webhooks::{DELIVERY_JOB, REPLAY_JOB};

/// How long a browser may cache a CORS preflight answer.
const CORS_MAX_AGE_SECS: usize = 3600;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot read or write {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
}

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    server: Server,
    state: web::Data<AppState>,
    first_owner: Option<FirstOwner>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with(config, None).await
    }

    /// `build`, with WhatsApp Web sessions driven by `driver` instead of the
    /// production one (tests plug a fake WhatsApp in here).
    pub async fn build_with(
        config: Config,
        driver: Option<Arc<dyn SessionDriver>>,
    ) -> Result<Self, StartError> {
        let data_dir = &config.server.data_dir;
        crate::files::private_dir(data_dir).map_err(|source| StartError::Io {
            what: data_dir.display().to_string(),
            source,
        })?;
        let store = open_store(&config).await?;
        let jwt_secret = if config.auth.jwt_secret.is_set() {
            config.auth.jwt_secret.expose().to_owned()
        } else {
            let path = config.server.data_dir.join("jwt-secret");
            crate::secrets::load_or_create(&path).map_err(|source| StartError::Io {
                what: path.display().to_string(),
                source,
            })?
        };
        let first_owner = bootstrap::first_start(store.as_ref(), &config.bootstrap).await?;
        let password_decoy = password::decoy()
            .await
            .map_err(|err: ApiError| BootstrapError::Failed(err.message))?;
        let listeners = Listeners::bind(&config)?;
        let metrics = Metrics::new()?;
        let gateway = build_gateway(&config, store.clone(), metrics.clone())?;
        let node = NodeId(uuid::Uuid::now_v7());
        let (inbox, bus) = build_inbox(&config, node, store.clone(), gateway.clone(), &metrics)?;
        let driver = match driver {
            Some(driver) => driver,
            None => whatsapp_web::production_driver(),
        };
        let sessions = Sessions::new(
            store.clone(),
            inbox.clone(),
            driver,
            whatsapp_web::sealed_keys(store.clone(), gateway.directory().sealer().clone()),
            node,
            whatsapp_web::settings(&config.whatsapp_web),
        );
        // In a cluster, a session's commands reach the node that runs it over the bus.
        if let Some(bus) = bus {
            sessions.attach_relay(bus.clone());
            bus.serve_sessions(gateway.clone());
        }
        gateway.attach_sessions(SessionRoute {
            sessions: sessions.clone(),
            send_rate_per_second: config.whatsapp_web.send_rate_per_second,
            files: reply_file_client(&config)?,
        });
        let models: Arc<dyn TenantModels> =
            Arc::new(ai_models(&config, store.clone(), &gateway, &metrics)?);
        let pipelines = Pipelines::new(
            store.clone(),
            inbox.clone(),
            node,
            pipeline_settings(&config.pipeline),
            models.clone(),
            Arc::new(metrics.clone()),
        );
        let replies = Replies::new(
            store.clone(),
            inbox.clone(),
            node,
            replies_settings(&config),
            models.clone(),
            Arc::new(metrics.clone()),
        );
        let embeddings = Embeddings::new(
            store.clone(),
            models.clone(),
            node,
            embedding_settings(&config),
        );
        let starter = Arc::new(Starter::new(
            store.clone(),
            automation_settings(&config),
            Arc::new(metrics.clone()),
        ));
        let automations = Automations::new(starter.clone(), node);
        let caller = GuardedCaller(guarded_client(
            &config,
            "automation webhook",
            Vec::new(),
            automation_calls::ANSWER_MAX_BYTES,
        )?);
        let steps = Steps::new(
            store.clone(),
            inbox.clone(),
            Arc::new(caller),
            replies.clone(),
            config.automations.step_attempts,
        );
        let webhook_client = webhook_client(&config)?;
        let webhooks = Webhooks::new(store.clone(), node, fanout_settings(&config));
        let sender = Sender::new(
            store.clone(),
            inbox.clone(),
            webhook_client.clone(),
            gateway.directory().sealer().clone(),
            sender_settings(&config.webhooks),
            metrics.clone(),
        );
        let delivery_attempts = config.webhooks.attempts();
        let templates = TemplateSync::new(
            store.clone(),
            gateway.clone(),
            (config.channels.template_sync_hours > 0)
                .then(|| Duration::from_secs(config.channels.template_sync_hours * 3600)),
        );
        let broadcasts = Announcer::new(store.clone(), inbox.clone());
        let jobs = Arc::new(
            JobRunner::new(
                store.clone(),
                node,
                runner_settings(&config.jobs),
                Arc::new(metrics.clone()),
            )
            .handle(STEP_JOB, Arc::new(steps))
            .handle(TIMER_JOB, Arc::new(Timers::new(starter.clone())))
            .handle(TICK_JOB, Arc::new(Ticks::new(starter)))
            .handle(DELIVERY_JOB, Arc::new(sender))
            .handle(
                REPLAY_JOB,
                Arc::new(Replays::new(store.clone(), delivery_attempts)),
            )
            .handle(
                IMPORT_JOB,
                Arc::new(ImportRunner::new(store.clone(), inbox.clone())),
            )
            .handle(TEMPLATE_SYNC_JOB, Arc::new(templates.clone()))
            .handle(
                BROADCAST_JOB,
                Arc::new(BroadcastSender::new(
                    store.clone(),
                    inbox.clone(),
                    gateway.clone(),
                    broadcasts.clone(),
                    config.channels.clone(),
                    metrics.clone(),
                    Duration::from_secs(config.jobs.timeout_secs),
                )),
            ),
        );
        let state = web::Data::new(AppState {
            inbox,
            sessions,
            pipelines,
            replies,
            models,
            embeddings,
            automations,
            webhooks,
            webhook_client,
            jobs,
            channels: gateway.directory().clone(),
            gateway,
            templates,
            broadcasts,
            tokens: AccessTokens::new(jwt_secret.as_bytes(), &config.auth),
            limits: RateLimits::new(&config.rate_limit),
            connections: Connections::new(config.server.max_connections),
            client_addresses: ClientAddresses::new(
                &config.server.trusted_proxies,
                config.server.client_ip_header,
            )?,
            sign_in_throttle: SignInThrottle::new(
                config.rate_limit.sign_in_failures_per_account,
                Duration::from_secs(config.rate_limit.sign_in_lockout_max_secs),
            ),
            metrics,
            metrics_port: listeners.metrics.as_ref().map(|(_, port)| *port),
            store,
            password_decoy,
            config,
        });
        let (port, metrics_port) = (listeners.public.1, state.metrics_port);
        let server = serve(state.clone(), listeners)?;
        Ok(Self {
            port,
            metrics_port,
            server,
            state,
            first_owner,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the internal metrics listener, when `metrics.listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The owner created because the database was empty, if this start created one.
    pub fn first_owner(&self) -> Option<&FirstOwner> {
        self.first_owner.as_ref()
    }

    /// Stops the server (gracefully with `stop(true)`), as SIGTERM does.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let state = self.state.clone();
        recover_replies(&state).await;
        let prune = async move {
            let mut tick = actix_rt::time::interval(PRUNE_INTERVAL);
            let retention = Duration::from_secs(
                state
                    .config
                    .inbox
                    .stream_retention_hours
                    .saturating_mul(3600),
            );
            loop {
                tick.tick().await;
                state.limits.prune();
                state.sign_in_throttle.prune(std::time::Instant::now());
                let before = Millis(
                    Millis::now()
                        .0
                        .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX)),
                );
                if let Err(err) = state.store.prune_events(before).await {
                    tracing::warn!(error = %err, "cannot prune old stream events");
                }
                let kept_days = state.config.webhooks.log_retention_days;
                let before = Millis::now().0.saturating_sub(
                    i64::try_from(kept_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX),
                );
                if let Err(err) = state.store.prune_deliveries(Millis(before)).await {
                    tracing::warn!(error = %err, "cannot prune old webhook deliveries");
                }
            }
        };
        let channels = self.state.channels.clone();
        let inbound_notes = async move {
            let mut tick = actix_rt::time::interval(INBOUND_NOTES_EVERY);
            loop {
                tick.tick().await;
                channels.flush_inbound_notes().await;
            }
        };
        let sessions = self.state.sessions.clone();
        let pipelines = self.state.pipelines.clone();
        let pipeline_on = self.state.config.pipeline.enabled;
        let replies = self.state.replies.clone();
        let embeddings = self.state.embeddings.clone();
        let jobs = self.state.jobs.clone();
        let automations = self.state.automations.clone();
        let webhooks = self.state.webhooks.clone();
        // Replies follow the pipeline's insights: without the pipeline there are none.
        let pipeline = async {
            if pipeline_on {
                tokio::join!(pipelines.clone().run(), replies.clone().run());
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            result = self.server => result,
            () = prune => Ok(()),
            () = inbound_notes => Ok(()),
            () = sessions.clone().keep_leases() => Ok(()),
            () = pipeline => Ok(()),
            () = embeddings.clone().run() => Ok(()),
            () = jobs.clone().run() => Ok(()),
            () = automations.clone().run() => Ok(()),
            () = webhooks.clone().run() => Ok(()),
        };
        // A clean stop hands every session and tenant pipeline over at once: clients
        // shut down, leases released.
        sessions.shutdown().await;
        pipelines.shutdown().await;
        replies.shutdown().await;
        embeddings.shutdown().await;
        automations.shutdown().await;
        webhooks.shutdown().await;
        jobs.shutdown().await;
        result
    }
}

/// The trigger worker follows the pipeline's lease, pace and batch.
fn automation_settings(config: &Config) -> AutomationSettings {
    let (pipeline, automations) = (&config.pipeline, &config.automations);
    AutomationSettings {
        lease_ttl: Duration::from_secs(pipeline.lease_secs),
        poll_every: Duration::from_millis(pipeline.poll_ms),
        batch: pipeline.batch,
        tenants_per_round: pipeline.tenants_per_round,
        max_depth: automations.max_depth,
        max_runs_per_hour: automations.max_runs_per_hour,
        step_attempts: automations.step_attempts,
    }
}

/// The webhook fan-out follows the pipeline's lease, pace and batch.
fn fanout_settings(config: &Config) -> FanoutSettings {
    let pipeline = &config.pipeline;
    FanoutSettings {
        lease_ttl: Duration::from_secs(pipeline.lease_secs),
        poll_every: Duration::from_millis(pipeline.poll_ms),
        batch: pipeline.batch,
        tenants_per_round: pipeline.tenants_per_round,
        attempts: config.webhooks.attempts(),
    }
}

fn sender_settings(config: &WebhooksConfig) -> SenderSettings {
    SenderSettings {
        schedule: config
            .retry_schedule_secs
            .iter()
            .map(|secs| Duration::from_secs(*secs))
            .collect(),
        max_retry_after: Duration::from_secs(config.max_retry_after_secs),
        timeout: Duration::from_secs(config.timeout_secs),
        disable_after: Duration::from_secs(config.disable_after_secs),
        endpoint_concurrency: config.endpoint_concurrency,
    }
}

/// The guarded client that posts outbound webhooks: public https hosts (unless
/// `fetch` allows more), no redirect followed, `webhooks.timeout_secs` per attempt.
fn webhook_client(config: &Config) -> Result<GuardedClient, StartError> {
    GuardedClient::new(FetchPolicy {
        allow_http: config.fetch.allow_plain_http,
        allow_private: config.fetch.allow_private_addresses,
        hosts: Vec::new(),
        max_bytes: RESPONSE_KEPT_BYTES,
        timeout: Duration::from_secs(config.webhooks.timeout_secs),
        follow_redirects: false,
    })
    .map_err(|err| {
        StartError::Config(ConfigError::Invalid(format!(
            "cannot build the webhook client: {err}"
        )))
    })
}

/// The reply worker follows the pipeline's lease, pace and batch.
fn replies_settings(config: &Config) -> RepliesSettings {
    let pipeline = &config.pipeline;
    RepliesSettings {
        lease_ttl: Duration::from_secs(pipeline.lease_secs),
        poll_every: Duration::from_millis(pipeline.poll_ms),
        batch: pipeline.batch,
        tenants_per_round: pipeline.tenants_per_round,
        concurrency: config.ai.reply_concurrency,
    }
}

fn pipeline_settings(config: &PipelineConfig) -> PipelineSettings {
    PipelineSettings {
        lease_ttl: Duration::from_secs(config.lease_secs),
        poll_every: Duration::from_millis(config.poll_ms),
        batch: config.batch,
        tenants_per_round: config.tenants_per_round,
        nice: config.nice,
        stages: StageSettings {
            deadline: Duration::from_millis(config.stage_timeout_ms),
            model_deadline: Duration::from_millis(config.model_timeout_ms),
            mailbox: config.stage_mailbox,
        },
    }
}

fn runner_settings(config: &JobsConfig) -> RunnerSettings {
    RunnerSettings {
        concurrency: config.concurrency,
        poll_every: Duration::from_millis(config.poll_ms),
        timeout: Duration::from_secs(config.timeout_secs),
        retry_base: Duration::from_millis(config.retry_base_ms),
        retry_max: Duration::from_secs(config.retry_max_secs),
    }
}

/// Knowledge embeddings follow the pipeline's lease and pace.
fn embedding_settings(config: &Config) -> EmbeddingSettings {
    EmbeddingSettings {
        lease_ttl: Duration::from_secs(config.pipeline.lease_secs),
        poll_every: Duration::from_millis(config.pipeline.poll_ms),
        tenants_per_round: config.pipeline.tenants_per_round,
        batch: EMBEDDING_BATCH,
        retry_after: EMBEDDING_RETRY_AFTER,
    }
}

/// Passages sent to the embedding model per request: a few hundred KiB of vectors.
const EMBEDDING_BATCH: u32 = 16;

/// How long a tenant whose embedding model failed waits before it is tried again.
const EMBEDDING_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Most stalled replies queued again at one start; the rest wait for the next start
/// (and are listed by their `pending` status meanwhile).
const RECOVER_LIMIT: u32 = 10_000;

/// Queues again the replies a stopped node had taken but not sent, so a restart does
/// not leave them pending for ever. Delivery is at least once: a reply whose send
/// succeeded just before the stop, unrecorded, goes out twice.
async fn recover_replies(state: &AppState) {
    let grace = Duration::from_secs(state.config.channels.recover_after_secs);
    let before = Millis(
        Millis::now()
            .0
            .saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX)),
    );
    match state.store.stalled_replies(before, RECOVER_LIMIT).await {
        Ok(stalled) => {
            if !stalled.is_empty() {
                tracing::info!(
                    replies = stalled.len(),
                    "queueing replies left pending by a stopped node"
                );
            }
            for (channel, message) in stalled {
                state.inbox.outbound().dispatch(Delivery {
                    tenant: message.tenant_id,
                    channel,
                    conversation: message.conversation_id,
                    message,
                });
            }
        }
        Err(err) => tracing::error!(error = %err, "cannot read replies left pending"),
    }
}

/// The channel gateway, with the credentials key from configuration or, on a single
/// node with none configured, one generated into the data directory.
fn build_gateway(
    config: &Config,
    store: Arc<dyn Store>,
    metrics: Metrics,
) -> Result<Arc<Gateway>, StartError> {
    let channels = &config.channels;
    let key = if channels.credentials_key.is_set() {
        channels.credentials_key.expose().to_owned()
    } else {
        let path = config.server.data_dir.join("channel-key");
        crate::secrets::load_or_create_with(&path, Sealer::generate_key).map_err(|source| {
            StartError::Io {
                what: path.display().to_string(),
                source,
            }
        })?
    };
    let sealer = Sealer::from_base64(&key).map_err(|err| {
        StartError::Config(ConfigError::Invalid(format!(
            "channels.credentials_key: {err}"
        )))
    })?;
    let media = media_client(config)?;
    let graph = Graph::new(
        &channels.graph_base_url,
        &channels.graph_version,
        Duration::from_millis(channels.request_timeout_ms),
        media,
    )
    .map_err(|err| {
        StartError::Config(ConfigError::Invalid(format!(
            "cannot build the Graph API client: {err}"
        )))
    })?;
    let directory = ChannelDirectory::new(store.clone(), metrics.clone(), sealer);
    Ok(Gateway::new(
        store,
        directory,
        metrics,
        graph,
        channels.clone(),
    ))
}

/// The guarded client that fetches the Graph API's media links.
fn media_client(config: &Config) -> Result<GuardedClient, StartError> {
    let channels = &config.channels;
    guarded_client(
        config,
        "media",
        channels.media_hosts.clone(),
        channels.media_max_bytes,
    )
}

/// The guarded client that fetches the files agents link in WhatsApp Web replies: any
/// public host, as any link an agent pastes may be.
fn reply_file_client(config: &Config) -> Result<GuardedClient, StartError> {
    guarded_client(
        config,
        "reply file",
        Vec::new(),
        config.whatsapp_web.reply_file_max_bytes,
    )
}

/// Tenants' language models, for the pipeline.
fn ai_models(
    config: &Config,
    store: Arc<dyn Store>,
    gateway: &Gateway,
    metrics: &Metrics,
) -> Result<ai::Models, StartError> {
    let local = config.ai.allow_local_models;
    let client = GuardedClient::new(FetchPolicy {
        allow_http: config.fetch.allow_plain_http || local,
        allow_private: config.fetch.allow_private_addresses || local,
        hosts: Vec::new(),
        max_bytes: AI_ANSWER_MAX_BYTES,
        // Each provider's own timeout is shorter; this only bounds a stray call.
        timeout: Duration::from_millis(ai::settings::MAX_TIMEOUT_MS),
        follow_redirects: true,
    })
    .map_err(|err| {
        StartError::Config(ConfigError::Invalid(format!(
            "cannot build the AI client: {err}"
        )))
    })?;
    let rule = ai::BreakerRule {
        failures: config.channels.breaker_failures,
        open_for: Duration::from_millis(config.channels.breaker_open_ms),
    };
    Ok(ai::Models::new(
        store,
        gateway.directory().sealer().clone(),
        client,
        rule,
        metrics.clone(),
        config.ai.max_monthly_tokens,
    ))
}

/// The largest answer read from a model provider: a chat completion with a short
/// JSON answer is a few KiB; a batch of embeddings (`EMBEDDING_BATCH` vectors of up to
/// 3,072 numbers as JSON text) under 2 MiB.
const AI_ANSWER_MAX_BYTES: usize = 4 * 1024 * 1024;

fn guarded_client(
    config: &Config,
    what: &str,
    hosts: Vec<String>,
    max_bytes: usize,
) -> Result<GuardedClient, StartError> {
    GuardedClient::new(FetchPolicy {
        allow_http: config.fetch.allow_plain_http,
        allow_private: config.fetch.allow_private_addresses,
        hosts,
        max_bytes,
        timeout: Duration::from_millis(config.channels.request_timeout_ms),
        follow_redirects: true,
    })
    .map_err(|err| {
        StartError::Config(ConfigError::Invalid(format!(
            "cannot build the {what} client: {err}"
        )))
    })
}

/// Beyond the work itself, what a relayed session command may take to cross the bus
/// and back.
const RELAY_MARGIN: Duration = Duration::from_secs(5);

/// The inbox, and the Redis bus when one is configured.
fn build_inbox(
    config: &Config,
    node: NodeId,
    store: Arc<dyn Store>,
    gateway: Arc<Gateway>,
    metrics: &Metrics,
) -> Result<(Inbox, Option<Arc<RedisBus>>), StartError> {
    let inbox = &config.inbox;
    let settings = InboxSettings {
        conversation_idle: Duration::from_secs(inbox.conversation_idle_secs),
        max_replay: i64::from(inbox.max_replay),
        catch_up_buffer: inbox.catch_up_buffer,
        tenant_mailbox: inbox.tenant_mailbox,
        conversation_mailbox: inbox.conversation_mailbox,
        ingest_queue: inbox.ingest_queue,
        ingest_batch: inbox.ingest_batch,
        presence_ttl: Duration::from_secs(config.bus.presence_ttl_secs),
        access_recheck: Duration::from_secs(config.websocket.access_recheck_secs),
        max_sockets_per_user: config.websocket.max_sockets_per_user,
        max_sockets_per_tenant: config.websocket.max_sockets_per_tenant,
        ..InboxSettings::default()
    };
    let sandbox = Sandbox::new(Duration::from_millis(config.sandbox.status_delay_ms));
    let router = |inbox| Router::new(inbox, sandbox, gateway) as Arc<dyn Outbound>;
    if !config.bus.redis_url.is_set() {
        return Ok((
            Inbox::new(store, settings, Arc::new(LocalBus), router),
            None,
        ));
    }
    let ttl = Duration::from_secs(config.bus.presence_ttl_secs);
    // A relayed reply is a fetch of its file and a send on the other node.
    let relay_timeout = Duration::from_secs(config.whatsapp_web.send_timeout_secs)
        + Duration::from_millis(config.channels.request_timeout_ms)
        + RELAY_MARGIN;
    let bus = RedisBus::start(
        config.bus.redis_url.expose(),
        node,
        ttl,
        relay_timeout,
        metrics.clone(),
    )
    .map_err(|err| StartError::Config(ConfigError::Invalid(format!("bus.redis_url: {err}"))))?;
    let inbox = Inbox::new(store, settings, bus.clone(), router);
    bus.subscribe(inbox.downgrade());
    Ok((inbox, Some(bus)))
}

pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let store: Arc<dyn Store> = match config.database_location()? {
        DatabaseLocation::Sqlite(path) => {
            let full = config.database.sqlite_synchronous == SqliteSynchronous::Full;
            Arc::new(SqliteStore::open(&path, config.database.max_connections, full).await?)
        }
        DatabaseLocation::Postgres(url) => {
            Arc::new(PostgresStore::connect(url.expose(), config.database.max_connections).await?)
        }
    };
    tracing::info!(backend = store.backend(), "store ready");
    Ok(store)
}

/// The public listener and, with `metrics.listen`, the internal one, with their ports.
struct Listeners {
    public: (TcpListener, u16),
    metrics: Option<(TcpListener, u16)>,
}

impl Listeners {
    fn bind(config: &Config) -> Result<Self, StartError> {
        let bind = |address: String| {
            let listener = TcpListener::bind(&address).map_err(|source| StartError::Io {
                what: format!("address {address}"),
                source,
            })?;
            let port = listener
                .local_addr()
                .map_err(|source| StartError::Io {
                    what: format!("the listener on {address}"),
                    source,
                })?
                .port();
            Ok::<_, StartError>((listener, port))
        };
        Ok(Self {
            public: bind(format!("{}:{}", config.server.host, config.server.port))?,
            metrics: (!config.metrics.listen.is_empty())
                .then(|| bind(config.metrics.listen.clone()))
                .transpose()?,
        })
    }
}

fn serve(state: web::Data<AppState>, listeners: Listeners) -> Result<Server, StartError> {
    let server_config = state.config.server.clone();
    warn_if_over_file_limit(server_config.max_connections);
    let origins = state.config.cors.allowed_origins.clone();
    let connections = state.connections.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(json_config(state.config.server.body_limit_bytes))
            .app_data(web::PayloadConfig::new(
                state.config.server.body_limit_bytes,
            ))
            .app_data(path_config())
            .configure(api::routes)
            .default_service(web::to(crate::web_ui::serve))
            .wrap(from_fn(body_deadline))
            .wrap(from_fn(crate::http::listeners::route_by_listener))
            .wrap(from_fn(refuse_over_cap))
            .wrap(cors(&origins))
            .wrap(from_fn(observe))
            .wrap(security_headers())
    })
    // Frames to agents are small writes; with Nagle on, each waits for the client's
    // delayed ACK (~40 ms on Linux) whenever an earlier one is unacknowledged.
    .tcp_nodelay(true)
    .on_connect(move |conn, data| connections.on_connect(conn, data))
    .client_request_timeout(Duration::from_secs(server_config.request_head_timeout_secs))
    .keep_alive(Duration::from_secs(server_config.keep_alive_secs))
    .listen(listeners.public.0)
    .map_err(|source| StartError::Io {
        what: "the listener".into(),
        source,
    })?;
    let server = match listeners.metrics {
        Some((listener, _)) => server.listen(listener).map_err(|source| StartError::Io {
            what: "the metrics listener".into(),
            source,
        })?,
        None => server,
    }
    .shutdown_timeout(server_config.shutdown_timeout_secs);
    let server = if server_config.workers > 0 {
        server.workers(server_config.workers)
    } else {
        server
    };
    Ok(server.run())
}

/// Each connection is a file descriptor: a cap above the process's limit would let
/// the limit, not the cap, refuse connections (health probes included), silently.
/// `main` raises the soft limit to the hard one first; this says when even that is not
/// enough.
fn warn_if_over_file_limit(max_connections: usize) {
    /// Descriptors kept for the database pool, Redis, files and the listener.
    const RESERVE: u64 = 256;
    let Ok((limit, _)) = rlimit::Resource::NOFILE.get() else {
        return;
    };
    if (max_connections as u64).saturating_add(RESERVE) > limit {
        tracing::warn!(
            max_connections,
            open_files_limit = limit,
            "server.max_connections is above the open-file limit (ulimit -n) less {RESERVE}; raise the limit or lower the cap"
        );
    }
}

/// Only the configured origins may call the API from a browser page; tokens travel in
/// the Authorization header, never in cookies, so no credentials mode is needed.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
        ])
        .max_age(CORS_MAX_AGE_SECS)
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .add((header::REFERRER_POLICY, "no-referrer"))
}
