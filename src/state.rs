//! What every handler can reach: the store, the live inbox, configuration, token keys,
//! limits, metrics.

use crate::auth::access_token::AccessTokens;
use crate::auth::throttle::SignInThrottle;
use crate::broadcasts::sender::Announcer;
use crate::channels::directory::ChannelDirectory;
use crate::channels::gateway::Gateway;
use crate::channels::templates::TemplateSync;
use crate::config::Config;
use crate::http::client::ClientAddresses;
use crate::http::connections::Connections;
use crate::http::guarded::GuardedClient;
use crate::http::rate_limit::RateLimits;
use crate::telemetry::Metrics;
use std::sync::Arc;
use switchboard_actors::automation::engine::Automations;
use switchboard_actors::inbox::Inbox;
use switchboard_actors::jobs::runner::JobRunner;
use switchboard_actors::knowledge::embedding::Embeddings;
use switchboard_actors::llm::TenantModels;
use switchboard_actors::pipeline::pipelines::Pipelines;
use switchboard_actors::reply::replies::Replies;
use switchboard_actors::session::Sessions;
use switchboard_actors::store::Store;
use switchboard_actors::webhooks::fanout::Webhooks;

pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The live side: conversation and tenant actors, agent connections.
    pub inbox: Inbox,
    /// WhatsApp Web sessions this node runs.
    pub sessions: Sessions,
    /// The inbound pipeline's stages and this node's tenant workers.
    pub pipelines: Pipelines,
    /// The node's AI reply worker.
    pub replies: Replies,
    /// Tenants' language and embedding models.
    pub models: Arc<dyn TenantModels>,
    /// The node's worker that embeds knowledge-base passages.
    pub embeddings: Embeddings,
    /// The node's share of automation triggers.
    pub automations: Automations,
    /// The node's share of turning events into webhook deliveries.
    pub webhooks: Webhooks,
    /// What posts webhooks; endpoints' URLs are vetted with it.
    pub webhook_client: GuardedClient,
    /// The node's runner of durable jobs.
    pub jobs: Arc<JobRunner>,
    /// Which channel a webhook names, and every channel's credentials.
    pub channels: Arc<ChannelDirectory>,
    /// Replies leaving for connected channels: delivery workers, the Graph API client.
    pub gateway: Arc<Gateway>,
    /// WhatsApp message templates, synced from each channel's business account.
    pub templates: TemplateSync,
    /// Sends broadcasts' totals to admins as reports and replies move them.
    pub broadcasts: Announcer,
    pub config: Config,
    pub tokens: AccessTokens,
    pub limits: RateLimits,
    /// Open connections and their cap.
    pub connections: Connections,
    /// Client addresses behind the configured proxies.
    pub client_addresses: ClientAddresses,
    /// Failed sign-ins per account.
    pub sign_in_throttle: SignInThrottle,
    pub metrics: Metrics,
    /// The internal listener's port when `/metrics` has one (`metrics.listen`).
    pub metrics_port: Option<u16>,
    /// Verified against when a sign-in names no known account; see `password::verify`.
    pub password_decoy: String,
}
