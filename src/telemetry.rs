//! Logs and metrics.
//!
//! Metrics go to a Prometheus recorder owned by each `Application` rather than the
//! process-global one, so two nodes in one test process keep separate figures.

use crate::config::{LogConfig, LogFormat};
use metrics::{Recorder, counter, gauge, histogram, with_local_recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use std::sync::Arc;
use switchboard_actors::automation::engine::AutomationObserver;
use switchboard_actors::inbox::InboxStats;
use switchboard_actors::jobs::JobCounts;
use switchboard_actors::jobs::runner::JobObserver;
use switchboard_actors::llm::TokenUsage;
use switchboard_actors::pipeline::handoff::HandoffTrigger;
use switchboard_actors::pipeline::observe::PipelineObserver;
use switchboard_actors::pipeline::scoring::Temperature;
use switchboard_actors::reply::replies::ReplyObserver;
use switchboard_actors::reply::settings::ReplyMode;
use switchboard_actors::session::stats::SessionCounts;
use switchboard_actors::store::PoolStats;
use tracing_subscriber::EnvFilter;

/// Request latency buckets in seconds: fine below 10 ms, where a healthy API answers,
/// coarse up to the 10 s where a client has long given up.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the global log subscriber: JSON lines by default, level from `RUST_LOG`
/// or the configuration. Called once by `main`; tests keep the default no-op one.
pub fn init_logs(config: &LogConfig) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    if let Err(err) = result {
        eprintln!("logging was already initialised: {err}");
    }
}

#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
}

impl Metrics {
    pub fn new() -> Result<Self, metrics_exporter_prometheus::BuildError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full("bus_delivery_lag_seconds".into()),
                LATENCY_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full("pipeline_stage_duration_seconds".into()),
                LATENCY_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full("pipeline_lag_seconds".into()),
                LATENCY_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full("ai_reply_own_seconds".into()),
                LATENCY_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full("webhook_attempt_seconds".into()),
                LATENCY_BUCKETS,
            )?
            .build_recorder();
        let metrics = Self {
            recorder: Arc::new(recorder),
        };
        metrics.with(|| {
            metrics::describe_counter!(
                "http_requests_total",
                "HTTP requests by route, method and status"
            );
            metrics::describe_histogram!(
                "http_request_duration_seconds",
                metrics::Unit::Seconds,
                "HTTP request latency by route and method"
            );
            metrics::describe_gauge!("db_pool_connections", "Database pool connections by state");
            metrics::describe_gauge!(
                "jobs",
                "Durable jobs across the cluster by state (queued, running, dead)"
            );
            metrics::describe_gauge!(
                "job_lag_seconds",
                "How long the most overdue queued job has been due"
            );
            metrics::describe_counter!(
                "jobs_finished_total",
                "Job runs on this node by kind and outcome (done, retry, dead)"
            );
            metrics::describe_gauge!(
                "http_open_connections",
                "Open HTTP connections (sockets included), against server.max_connections"
            );
            metrics::describe_counter!(
                "bus_events_total",
                "Stream events over the Redis bus by outcome (published, received, dropped)"
            );
            metrics::describe_counter!(
                "bus_reconnects_total",
                "Times the bus subscriber reconnected to Redis"
            );
            metrics::describe_histogram!(
                "bus_delivery_lag_seconds",
                metrics::Unit::Seconds,
                "Cross-node delivery lag: commit on another node to arrival here"
            );
            metrics::describe_counter!(
                "webhooks_total",
                "Provider webhook deliveries by outcome (received, rejected, logged)"
            );
            metrics::describe_counter!(
                "channel_lookups_total",
                "Webhook channel lookups by source (cache, store, unknown_cache)"
            );
            metrics::describe_counter!(
                "outbound_messages_total",
                "Reply delivery attempts by channel type and outcome (sent, retried, failed)"
            );
            metrics::describe_histogram!(
                "pipeline_stage_duration_seconds",
                metrics::Unit::Seconds,
                "Pipeline stage time per message (mailbox wait included) by stage"
            );
            metrics::describe_counter!(
                "pipeline_stage_outcomes_total",
                "Pipeline stage answers by stage and outcome (ok, timed_out, panicked, busy, restarting)"
            );
            metrics::describe_gauge!(
                "pipeline_stage_in_flight",
                "Messages given to a pipeline stage and not answered yet, by stage"
            );
            metrics::describe_counter!(
                "ai_reply_cache_total",
                "Answer cache lookups by result (hit, miss)"
            );
            metrics::describe_counter!(
                "llm_budget_warnings_total",
                "Times a tenant's model usage passed the warning share of its monthly token budget"
            );
            metrics::describe_counter!(
                "ai_replies_total",
                "Customer messages the AI answered, by mode (suggest, auto) and outcome (sent, suggested, fallback, handoff)"
            );
            metrics::describe_histogram!(
                "ai_reply_own_seconds",
                metrics::Unit::Seconds,
                "Time a reply took in our own code: reading, prompt, checks and sending, the provider's time left out"
            );
            metrics::describe_histogram!(
                "pipeline_lag_seconds",
                metrics::Unit::Seconds,
                "Time from a customer message's commit to its insight's"
            );
            metrics::describe_counter!(
                "pipeline_messages_total",
                "Customer messages through the pipeline, by their conversation's temperature after it"
            );
            metrics::describe_counter!(
                "pipeline_handoffs_total",
                "Conversations handed to a person, by trigger"
            );
            metrics::describe_counter!(
                "webhook_attempts_total",
                "Attempts to deliver outbound webhooks, by outcome (succeeded, failed)"
            );
            metrics::describe_histogram!(
                "webhook_attempt_seconds",
                metrics::Unit::Seconds,
                "Time from sending an outbound webhook to its receiver's answer"
            );
            metrics::describe_gauge!("switchboard_build_info", "Always 1; labels name the build");
            metrics::describe_gauge!(
                "inbox_live_conversations",
                "Conversation actors in memory on this node"
            );
            metrics::describe_gauge!(
                "inbox_agent_connections",
                "Agent WebSocket connections subscribed on this node"
            );
            metrics::describe_gauge!(
                "inbox_ingest_waiting",
                "Customer messages queued for the ingest writer on this node"
            );
            metrics::describe_gauge!(
                "inbox_ingest_writing",
                "Customer messages in an ingest transaction under way on this node"
            );
            metrics::describe_gauge!(
                "process_heap_bytes",
                metrics::Unit::Bytes,
                "Heap the process holds: bytes allocated and not yet freed"
            );
            gauge!("switchboard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        });
        Ok(metrics)
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        with_local_recorder(&*self.recorder as &dyn Recorder, f)
    }

    /// `route` is the matched pattern (`/api/v1/users/{id}`), never the raw path, so
    /// the number of series stays bounded whatever clients request.
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.with(|| {
            let (method, route) = (method.to_owned(), route.to_owned());
            counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
                .increment(1);
            histogram!("http_request_duration_seconds", "method" => method, "route" => route).record(seconds);
        });
    }

    /// A provider webhook delivery: `received`, `rejected` (bad signature) or `logged`
    /// (kept in the webhook log, not usable).
    pub fn record_webhook(&self, provider: &'static str, outcome: &'static str) {
        self.with(|| {
            counter!("webhooks_total", "provider" => provider, "outcome" => outcome).increment(1);
        });
    }

    /// Where a webhook found its channel: `cache`, `store`, or `unknown_cache` (an id
    /// already known to name no channel, answered without a store read).
    pub fn record_channel_lookup(&self, source: &'static str) {
        self.with(|| counter!("channel_lookups_total", "source" => source).increment(1));
    }

    /// One reply's delivery attempt: `sent`, `retried` or `failed`.
    pub fn record_outbound(&self, kind: &'static str, outcome: &'static str) {
        self.with(|| {
            counter!("outbound_messages_total", "channel" => kind, "outcome" => outcome)
                .increment(1);
        });
    }

    /// Stream events over the bus: `published`, `received` or `dropped`.
    pub fn record_bus_events(&self, outcome: &'static str, count: usize) {
        self.with(|| {
            counter!("bus_events_total", "outcome" => outcome).increment(count as u64);
        });
    }

    /// One call to a language-model provider: `ok`, `timeout`, `unavailable` (5xx or
    /// unreachable), `rate_limited`, `refused` (the model declined), `rejected` (another
    /// 4xx), `invalid` (not the answer's wire format), `not_allowed` (the guarded client
    /// refused the address) or `circuit_open` (not tried).
    pub fn record_llm_call(&self, kind: &'static str, outcome: &'static str) {
        self.with(|| {
            counter!("llm_requests_total", "kind" => kind, "outcome" => outcome).increment(1);
        });
    }

    /// Tokens a provider said a call used, by provider kind and direction.
    pub fn record_llm_tokens(&self, kind: &'static str, usage: TokenUsage) {
        self.with(|| {
            counter!("llm_tokens_total", "kind" => kind, "direction" => "input")
                .increment(u64::from(usage.input));
            counter!("llm_tokens_total", "kind" => kind, "direction" => "output")
                .increment(u64::from(usage.output));
        });
    }

    pub fn record_llm_budget_warning(&self) {
        self.with(|| counter!("llm_budget_warnings_total").increment(1));
    }

    pub fn record_bus_reconnect(&self) {
        self.with(|| counter!("bus_reconnects_total").increment(1));
    }

    /// From an event's commit on another node to its arrival here.
    pub fn record_bus_lag(&self, millis: i64) {
        self.with(|| {
            histogram!("bus_delivery_lag_seconds").record(millis.max(0) as f64 / 1000.0);
        });
    }

    /// The Prometheus text exposition, with pool and inbox gauges read at scrape time.
    pub fn render(
        &self,
        pool: PoolStats,
        backend: &'static str,
        inbox: InboxStats,
        sessions: SessionCounts,
        open_connections: usize,
    ) -> String {
        self.with(|| {
            // Sessions are counted where they run: each node reports its own.
            for (state, count) in &sessions.by_state {
                gauge!("whatsapp_sessions", "state" => state.as_str()).set(*count as f64);
            }
            for (state, count) in &sessions.transitions {
                counter!("whatsapp_session_transitions_total", "state" => state.as_str())
                    .absolute(*count);
            }
            counter!("whatsapp_session_reconnects_total").absolute(sessions.reconnects);
            counter!("whatsapp_session_messages_total", "direction" => "in")
                .absolute(sessions.messages_in);
            counter!("whatsapp_session_messages_total", "direction" => "out")
                .absolute(sessions.messages_out);
            gauge!("http_open_connections").set(open_connections as f64);
            gauge!("inbox_live_conversations").set(inbox.live_conversations as f64);
            gauge!("inbox_agent_connections").set(inbox.agent_connections as f64);
            gauge!("inbox_ingest_waiting").set(inbox.ingest_waiting as f64);
            gauge!("inbox_ingest_writing").set(inbox.ingest_writing as f64);
            if let Some(bytes) = heap_bytes() {
                gauge!("process_heap_bytes").set(bytes as f64);
            }
            let active = pool.size.saturating_sub(pool.idle);
            gauge!("db_pool_connections", "state" => "idle", "backend" => backend)
                .set(f64::from(pool.idle));
            gauge!("db_pool_connections", "state" => "active", "backend" => backend)
                .set(f64::from(active));
        });
        let handle = self.recorder.handle();
        handle.run_upkeep();
        handle.render()
    }
}

/// The bytes the allocator has handed out and not yet had back: the heap the process
/// holds, without the allocator's own slack that resident memory also counts.
fn heap_bytes() -> Option<usize> {
    // jemalloc caches its statistics; a new epoch refreshes them.
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    tikv_jemalloc_ctl::stats::allocated::read().ok()
}

impl ReplyObserver for Metrics {
    fn replied(&self, mode: ReplyMode, outcome: &'static str, own_seconds: f64) {
        self.with(|| {
            counter!("ai_replies_total", "mode" => mode.as_str(), "outcome" => outcome)
                .increment(1);
            histogram!("ai_reply_own_seconds").record(own_seconds);
        });
    }

    fn cache_lookup(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.with(|| counter!("ai_reply_cache_total", "result" => result).increment(1));
    }
}

impl Metrics {
    /// An outbound webhook attempt ended `succeeded` or `failed` after `seconds`.
    pub fn webhook_attempt(&self, outcome: &'static str, seconds: f64) {
        self.with(|| {
            counter!("webhook_attempts_total", "outcome" => outcome).increment(1);
            histogram!("webhook_attempt_seconds").record(seconds);
        });
    }
}

impl AutomationObserver for Metrics {
    fn run(&self, outcome: &'static str) {
        self.with(|| counter!("automation_runs_total", "outcome" => outcome).increment(1));
    }
}

impl JobObserver for Metrics {
    fn finished(&self, kind: &str, outcome: &'static str, seconds: f64) {
        self.with(|| {
            counter!("jobs_finished_total", "kind" => kind.to_owned(), "outcome" => outcome)
                .increment(1);
            histogram!("job_run_seconds", "outcome" => outcome).record(seconds);
        });
    }

    fn counts(&self, counts: JobCounts) {
        self.with(|| {
            gauge!("jobs", "state" => "queued").set(counts.queued as f64);
            gauge!("jobs", "state" => "running").set(counts.running as f64);
            gauge!("jobs", "state" => "dead").set(counts.dead as f64);
            gauge!("job_lag_seconds").set(counts.lag_ms as f64 / 1_000.0);
        });
    }
}

impl PipelineObserver for Metrics {
    fn stage(&self, stage: &'static str, seconds: f64, outcome: &'static str) {
        self.with(|| {
            histogram!("pipeline_stage_duration_seconds", "stage" => stage).record(seconds);
            counter!("pipeline_stage_outcomes_total", "stage" => stage, "outcome" => outcome)
                .increment(1);
        });
    }

    fn in_flight(&self, stage: &'static str, delta: i64) {
        self.with(|| gauge!("pipeline_stage_in_flight", "stage" => stage).increment(delta as f64));
    }

    fn scored(&self, temperature: Temperature, lag_seconds: f64) {
        self.with(|| {
            histogram!("pipeline_lag_seconds").record(lag_seconds);
            counter!("pipeline_messages_total", "temperature" => temperature.as_str()).increment(1);
        });
    }

    fn handoff(&self, trigger: HandoffTrigger) {
        self.with(|| {
            counter!("pipeline_handoffs_total", "trigger" => trigger.as_str()).increment(1)
        });
    }
}
