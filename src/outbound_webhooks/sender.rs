//! `Sender`: the `webhook.delivery` job. One run is one attempt: the delivery is
//! signed with the endpoint's secrets and posted through the guarded client (no
//! redirects followed, `webhooks.timeout_secs` at most), the attempt is recorded,
//! and the job is retried on the schedule (or the receiver's longer `Retry-After`)
//! while attempts are left. A 410 switches the endpoint off at once; so does a run of
//! failures that lasts `webhooks.disable_after_secs`, and admins are told by a
//! `webhook.disabled` event.

use super::{open_secret, signature};
use crate::audit;
use crate::channels::credentials::Sealer;
use crate::http::client::ClientInfo;
use crate::http::guarded::{Answer, FetchError, GuardedClient, retry_after};
use crate::telemetry::Metrics;
use async_trait::async_trait;
use dashmap::DashMap;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_actors::inbox::Inbox;
use switchboard_actors::jobs::Job;
use switchboard_actors::jobs::runner::{JobFailure, JobHandler};
use switchboard_actors::store::{AuditActor, Store, StoreError};
use switchboard_actors::webhooks::{
    Attempt, AttemptOutcome, Delivery, DeliveryState, Endpoint, next_delay, webhook_id,
};
use switchboard_actors::{DeliveryId, EndpointId, Millis, TenantId};
use tokio::sync::Semaphore;

/// The start of a receiver's answer kept in the delivery log.
pub const RESPONSE_KEPT_BYTES: usize = 1024;

/// How long an attempt that found its endpoint's share taken waits for another turn.
const BUSY_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// The wait before each attempt; its length is the attempts a delivery gets.
    pub schedule: Vec<Duration>,
    pub max_retry_after: Duration,
    pub timeout: Duration,
    pub disable_after: Duration,
    pub endpoint_concurrency: usize,
}

pub struct Sender {
    store: Arc<dyn Store>,
    inbox: Inbox,
    client: GuardedClient,
    sealer: Sealer,
    settings: SenderSettings,
    metrics: Metrics,
    /// Each endpoint's share of this node's attempts.
    shares: DashMap<EndpointId, Arc<Semaphore>>,
}

#[derive(Deserialize)]
struct Payload {
    delivery_id: DeliveryId,
}

/// What an attempt came to.
enum Reply {
    Delivered(Answer),
    /// The receiver answered, but not with a 2xx.
    Refused(Answer),
    /// No answer: a timeout, a connection that failed, an address the guard refused.
    NoAnswer(FetchError),
}

impl Sender {
    pub fn new(
        store: Arc<dyn Store>,
        inbox: Inbox,
        client: GuardedClient,
        sealer: Sealer,
        settings: SenderSettings,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            inbox,
            client,
            sealer,
            settings,
            metrics,
            shares: DashMap::new(),
        }
    }

    /// The keys to sign with: the current secret's, and the previous one's while
    /// a rotation lasts.
    async fn keys(&self, endpoint: &Endpoint, now: Millis) -> Result<Vec<Vec<u8>>, JobFailure> {
        let sealed = self
            .store
            .endpoint_secrets(endpoint.tenant_id, endpoint.id)
            .await
            .map_err(retry)?
            .ok_or_else(|| JobFailure::Permanent("the endpoint is gone".into()))?;
        let open = |sealed: &[u8]| {
            open_secret(&self.sealer, endpoint.id, sealed)
                .ok()
                .and_then(|secret| signature::secret_key(&secret))
                .ok_or_else(|| {
                    JobFailure::Permanent("the endpoint's secret cannot be opened".into())
                })
        };
        let mut keys = vec![open(&sealed.current)?];
        if let Some((previous, until)) = &sealed.previous
            && *until > now
        {
            keys.push(open(previous)?);
        }
        Ok(keys)
    }

    async fn post(&self, endpoint: &Endpoint, delivery: &Delivery, keys: &[Vec<u8>]) -> Reply {
        let id = webhook_id(delivery.id);
        let timestamp = Millis::now().0 / 1000;
        let body = delivery.payload.as_bytes();
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        put("webhook-id", id.clone());
        put("webhook-timestamp", timestamp.to_string());
        put(
            "webhook-signature",
            signature::signature_header(keys, &id, timestamp, body),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION"))),
        );
        let sent = self
            .client
            .post_raw(&endpoint.url, headers, body.to_vec(), RESPONSE_KEPT_BYTES);
        match tokio::time::timeout(self.settings.timeout, sent).await {
            Ok(Ok(answer)) if answer.status.is_success() => Reply::Delivered(answer),
            Ok(Ok(answer)) => Reply::Refused(answer),
            Ok(Err(err)) => Reply::NoAnswer(err),
            Err(_) => Reply::NoAnswer(FetchError::Timeout),
        }
    }

    /// Switches the endpoint off, tells admins (the event and the audit log).
    async fn disable(&self, endpoint: &Endpoint, reason: &str) -> Result<(), StoreError> {
        let tenant = endpoint.tenant_id;
        let Some(event) = self
            .store
            .disable_endpoint(tenant, endpoint.id, reason, Millis::now())
            .await?
        else {
            return Ok(());
        };
        tracing::warn!(%tenant, endpoint = %endpoint.id, reason, "a webhook endpoint was switched off");
        self.inbox.publish(tenant, vec![event]);
        let client = ClientInfo {
            ip: None,
            request_id: None,
        };
        let details = json!({ "url": endpoint.url, "reason": reason });
        audit::record(
            self.store.as_ref(),
            &client,
            audit::Event {
                tenant,
                actor: AuditActor::System,
                action: "webhook.disable",
                target: Some(("webhook_endpoint", endpoint.id.to_string())),
                details,
            },
        )
        .await;
        Ok(())
    }

    /// Counts a failed attempt against the endpoint: past `disable_after` without a
    /// success, it is switched off.
    async fn note_failure(&self, endpoint: &Endpoint, now: Millis) -> Result<(), StoreError> {
        let since = self
            .store
            .mark_failing(endpoint.tenant_id, endpoint.id, Some(now))
            .await?;
        let limit = i64::try_from(self.settings.disable_after.as_millis()).unwrap_or(i64::MAX);
        if let Some(since) = since
            && now.0.saturating_sub(since.0) >= limit
        {
            let reason = format!("every attempt has failed since {}", since.to_rfc3339());
            self.disable(endpoint, &reason).await?;
        }
        Ok(())
    }

    async fn fail(&self, tenant: TenantId, id: DeliveryId, why: &str) -> JobFailure {
        if let Err(err) = self
            .store
            .fail_delivery(tenant, id, why, Millis::now())
            .await
        {
            return retry(err);
        }
        JobFailure::Permanent(why.to_owned())
    }
}

fn retry(err: StoreError) -> JobFailure {
    JobFailure::Retry(err.to_string())
}

fn text_of(body: &[u8]) -> Option<String> {
    (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned())
}

#[async_trait]
impl JobHandler for Sender {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let Payload { delivery_id } = serde_json::from_value(job.payload.clone())
            .map_err(|err| JobFailure::Permanent(format!("not a delivery: {err}")))?;
        let tenant = job.tenant_id;
        let store = self.store.as_ref();
        let Some(delivery) = store.delivery(tenant, delivery_id).await.map_err(retry)? else {
            return Err(JobFailure::Permanent("the delivery is gone".into()));
        };
        if delivery.status == DeliveryState::Succeeded {
            return Ok(());
        }
        let Some(endpoint) = store
            .endpoint(tenant, delivery.endpoint_id)
            .await
            .map_err(retry)?
        else {
            return Err(JobFailure::Permanent("the endpoint is gone".into()));
        };
        if !endpoint.enabled {
            return Err(self
                .fail(tenant, delivery.id, "the endpoint is switched off")
                .await);
        }
        let share = self
            .shares
            .entry(endpoint.id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.settings.endpoint_concurrency)))
            .clone();
        let Ok(_turn) = share.try_acquire_owned() else {
            return Err(JobFailure::Busy(BUSY_WAIT));
        };
        let keys = self.keys(&endpoint, Millis::now()).await?;
        let number = store
            .begin_attempt(tenant, delivery.id, Millis::now())
            .await
            .map_err(retry)?;
        let made = self.attempt(&endpoint, &delivery, &keys, number).await;
        match made.failure {
            None => self.succeeded(&endpoint, &delivery, made.attempt).await,
            Some(failure) => {
                self.failed(&endpoint, &delivery, made.attempt, failure, job.attempts)
                    .await
            }
        }
    }
}

/// Why an attempt failed, and what that means for the next.
struct Failure {
    why: String,
    /// The wait the receiver asked for (`Retry-After`).
    asked_wait: Option<Duration>,
    /// 410 Gone: the endpoint is switched off.
    gone: bool,
    /// Waiting cannot help (a 410, an address the guard refuses): no retry.
    hopeless: bool,
}

/// One attempt as the log keeps it, and its failure if it failed.
struct Made {
    attempt: Attempt,
    failure: Option<Failure>,
}

impl Sender {
    /// Posts the delivery once and says what came of it.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        delivery: &Delivery,
        keys: &[Vec<u8>],
        number: u32,
    ) -> Made {
        let (at, started) = (Millis::now(), Instant::now());
        let reply = self.post(endpoint, delivery, keys).await;
        let latency = started.elapsed();
        let mut attempt = Attempt {
            attempt: number,
            at,
            response_status: None,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            response_body: None,
            error: None,
        };
        let failure = match reply {
            Reply::Delivered(answer) => {
                attempt.response_status = Some(answer.status.as_u16());
                attempt.response_body = text_of(&answer.body_head);
                None
            }
            Reply::Refused(answer) => {
                attempt.response_status = Some(answer.status.as_u16());
                attempt.response_body = text_of(&answer.body_head);
                let gone = answer.status == reqwest::StatusCode::GONE;
                Some(Failure {
                    why: format!("HTTP {}", answer.status),
                    asked_wait: retry_after(&answer.headers),
                    gone,
                    hopeless: gone,
                })
            }
            Reply::NoAnswer(err) => {
                attempt.error = Some(err.to_string());
                Some(Failure {
                    why: err.to_string(),
                    asked_wait: None,
                    gone: false,
                    hopeless: matches!(err, FetchError::Refused(_)),
                })
            }
        };
        let outcome = if failure.is_none() {
            "succeeded"
        } else {
            "failed"
        };
        self.metrics.webhook_attempt(outcome, latency.as_secs_f64());
        Made { attempt, failure }
    }

    async fn succeeded(
        &self,
        endpoint: &Endpoint,
        delivery: &Delivery,
        attempt: Attempt,
    ) -> Result<(), JobFailure> {
        let store = self.store.as_ref();
        let done = AttemptOutcome {
            attempt,
            status: DeliveryState::Succeeded,
            next_attempt_at: None,
        };
        store
            .record_attempt(delivery.tenant_id, delivery.id, &done)
            .await
            .map_err(retry)?;
        if endpoint.failing_since.is_some() {
            store
                .mark_failing(endpoint.tenant_id, endpoint.id, None)
                .await
                .map_err(retry)?;
        }
        Ok(())
    }

    /// Records the failed attempt, counts it against the endpoint, and says when the
    /// job goes again (after `attempts_made` of the schedule), if it does.
    async fn failed(
        &self,
        endpoint: &Endpoint,
        delivery: &Delivery,
        attempt: Attempt,
        failure: Failure,
        attempts_made: u32,
    ) -> Result<(), JobFailure> {
        let now = Millis::now();
        let delay = if failure.hopeless {
            None
        } else {
            let settings = &self.settings;
            next_delay(
                &settings.schedule,
                attempts_made,
                failure.asked_wait,
                settings.max_retry_after,
            )
        };
        let (status, next_attempt_at) = match delay {
            Some(delay) => (DeliveryState::Retrying, Some(now.plus(delay))),
            None => (DeliveryState::Failed, None),
        };
        let recorded = AttemptOutcome {
            attempt,
            status,
            next_attempt_at,
        };
        self.store
            .record_attempt(delivery.tenant_id, delivery.id, &recorded)
            .await
            .map_err(retry)?;
        if failure.gone {
            self.disable(endpoint, "the receiver answered 410 Gone")
                .await
                .map_err(retry)?;
        } else {
            self.note_failure(endpoint, now).await.map_err(retry)?;
        }
        match delay {
            Some(delay) => Err(JobFailure::RetryIn(failure.why, delay)),
            None => Err(JobFailure::Permanent(failure.why)),
        }
    }
}
