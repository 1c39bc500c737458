//! Syncing a WhatsApp Cloud API channel's message templates from its business
//! account (the channel's `business_account_id` setting), on demand and as a durable
//! job that schedules its next run every `channels.template_sync_hours`.

use super::gateway::Gateway;
use super::meta::graph::GraphError;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use switchboard_actors::channel::ChannelKind;
use switchboard_actors::channel::templates::{MAX_TEMPLATES, MessageTemplate};
use switchboard_actors::jobs::runner::{JobFailure, JobHandler};
use switchboard_actors::jobs::{Job, NewJob};
use switchboard_actors::store::{Store, StoreError};
use switchboard_actors::{ChannelId, Millis, TenantId};

/// The job kind; its payload names the channel.
pub const TEMPLATE_SYNC_JOB: &str = "whatsapp.templates";

/// The channel setting that names the WhatsApp Business Account.
pub const BUSINESS_ACCOUNT_SETTING: &str = "business_account_id";

/// Why a sync did not happen.
#[derive(Debug)]
pub enum SyncError {
    NoChannel,
    /// Not a Cloud API channel, or no business account set: nothing to sync.
    NotSyncable(&'static str),
    Credentials(String),
    Graph(GraphError),
    Store(StoreError),
}

impl From<StoreError> for SyncError {
    fn from(err: StoreError) -> Self {
        SyncError::Store(err)
    }
}

#[derive(Clone)]
pub struct TemplateSync {
    store: Arc<dyn Store>,
    gateway: Arc<Gateway>,
    /// How long after a sync the next one runs; `None`: only on demand.
    every: Option<Duration>,
}

impl TemplateSync {
    pub fn new(store: Arc<dyn Store>, gateway: Arc<Gateway>, every: Option<Duration>) -> Self {
        Self {
            store,
            gateway,
            every,
        }
    }

    /// Lists the channel's templates from WhatsApp and replaces what is kept.
    pub async fn sync(
        &self,
        tenant: TenantId,
        id: ChannelId,
    ) -> Result<Vec<MessageTemplate>, SyncError> {
        let channel = self
            .store
            .channel(tenant, id)
            .await?
            .ok_or(SyncError::NoChannel)?;
        if channel.kind != ChannelKind::WhatsApp {
            return Err(SyncError::NotSyncable(
                "only WhatsApp Cloud API channels have message templates",
            ));
        }
        let Some(account) = channel
            .settings
            .get(BUSINESS_ACCOUNT_SETTING)
            .and_then(|v| v.as_str())
        else {
            return Err(SyncError::NotSyncable(
                "set the channel's settings.business_account_id (the WhatsApp Business Account id) first",
            ));
        };
        let credentials = self
            .gateway
            .directory()
            .credentials(&channel)
            .map_err(SyncError::Credentials)?;
        let listed = self
            .gateway
            .providers()
            .graph()
            .templates(&credentials.access_token, account, MAX_TEMPLATES)
            .await
            .map_err(SyncError::Graph)?;
        let now = Millis::now();
        let mut templates: Vec<MessageTemplate> = listed
            .iter()
            .filter_map(|item| MessageTemplate::from_graph(tenant, id, item, now))
            .collect();
        templates.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
        templates.dedup_by(|a, b| a.name == b.name && a.language == b.language);
        self.store.replace_templates(tenant, id, &templates).await?;
        Ok(templates)
    }

    /// Queues a sync of the channel now (its settings were saved).
    pub async fn schedule_now(
        &self,
        tenant: TenantId,
        channel: ChannelId,
    ) -> Result<(), StoreError> {
        let now = Millis::now();
        self.add(
            tenant,
            channel,
            now,
            format!("{TEMPLATE_SYNC_JOB}:{channel}:saved:{}", now.0),
        )
        .await
    }

    /// Queues the scheduled sync after one that just ran. The key holds the period,
    /// so two schedules of one channel (settings saved twice) collapse into one.
    async fn schedule_next(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        every: Duration,
    ) -> Result<(), StoreError> {
        let period = every.as_millis().max(1) as i64;
        let next = Millis(Millis::now().0 + period);
        let key = format!("{TEMPLATE_SYNC_JOB}:{channel}:{}", next.0 / period);
        self.add(tenant, channel, next, key).await
    }

    async fn add(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        at: Millis,
        key: String,
    ) -> Result<(), StoreError> {
        let job = NewJob {
            tenant,
            kind: TEMPLATE_SYNC_JOB.to_owned(),
            payload: json!({ "channel_id": channel }),
            run_at: at,
            max_attempts: 8,
            idempotency_key: Some(key),
        };
        self.store.add_job(&job, Millis::now()).await?;
        Ok(())
    }
}

#[derive(Deserialize)]
struct Payload {
    channel_id: ChannelId,
}

#[async_trait]
impl JobHandler for TemplateSync {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let payload: Payload = serde_json::from_value(job.payload.clone())
            .map_err(|err| JobFailure::Permanent(format!("not a template sync job: {err}")))?;
        match self.sync(job.tenant_id, payload.channel_id).await {
            Ok(_) => {}
            // The channel is gone or changed kind: its schedule ends with it.
            Err(SyncError::NoChannel | SyncError::NotSyncable(_)) => return Ok(()),
            Err(SyncError::Graph(GraphError::Retryable { reason, .. })) => {
                return Err(JobFailure::Retry(reason));
            }
            Err(SyncError::Graph(GraphError::Permanent(reason)))
            | Err(SyncError::Credentials(reason)) => return Err(JobFailure::Permanent(reason)),
            Err(SyncError::Store(err)) => return Err(JobFailure::Retry(err.to_string())),
        }
        if let Some(every) = self.every {
            self.schedule_next(job.tenant_id, payload.channel_id, every)
                .await
                .map_err(|err| JobFailure::Retry(err.to_string()))?;
        }
        Ok(())
    }
}
