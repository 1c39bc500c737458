//! `Automations`: the node's share of rule triggers. Like the pipeline it follows
//! each tenant's stream from a cursor of its own (`automation_cursors`), leased to one
//! node at a time; per event it finds the happenings, the enabled rules whose trigger
//! and conditions hold, and starts a run for each: a row unique per rule and trigger
//! key, and the first step's job, keyed by the run. An event processed twice (a crash
//! before the cursor moved, a lease lost) finds both there and starts nothing more.
//!
//! Timer triggers ("no reply within N minutes") add a timer job per message instead,
//! due N minutes later; `steps::timer` checks then whether the reply came.
//!
//! The loop guard: a run started by a change another run made is one level deeper,
//! and past `max_depth` it is recorded as skipped; a rule starts at most
//! `max_runs_per_hour` runs per conversation in an hour.

use super::conditions::{Facts, Patterns};
use super::happening::{Happening, happenings, temperature_change};
use super::rules::{Trigger, TriggerKind};
use super::{Rule, Run, RunData, RunStatus, TIMER_JOB};
use crate::inbox::bus::NodeId;
use crate::inbox::stream::StreamEvent;
use crate::jobs::NewJob;
use crate::store::{Store, StoreError};
use crate::tenant_workers::{
    LeasedCursor, StreamBatches, TenantWork, TenantWorkers, follow_stream,
};
use crate::{ConversationId, MessageId, Millis, RunId, TenantId};
use actix::prelude::*;
use async_trait::async_trait;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct AutomationSettings {
    pub lease_ttl: Duration,
    pub poll_every: Duration,
    /// Events read from the stream at a time.
    pub batch: u32,
    pub tenants_per_round: u32,
    /// Runs started by other runs' changes, at most this many levels deep.
    pub max_depth: u32,
    /// Runs one rule starts for one conversation in an hour, at most.
    pub max_runs_per_hour: u32,
    /// Attempts a step's job gets before it is dead.
    pub step_attempts: u32,
}

/// What the server counts of automations.
pub trait AutomationObserver: Send + Sync + 'static {
    /// A rule was judged to start (`started`) or kept from it by the loop guard
    /// (`skipped`).
    fn run(&self, outcome: &'static str);
}

/// What starts runs: the trigger worker, and timers when they fire.
pub struct Starter {
    pub(super) store: Arc<dyn Store>,
    pub(super) settings: AutomationSettings,
    observer: Arc<dyn AutomationObserver>,
}

impl Starter {
    pub fn new(
        store: Arc<dyn Store>,
        settings: AutomationSettings,
        observer: Arc<dyn AutomationObserver>,
    ) -> Self {
        Self {
            store,
            settings,
            observer,
        }
    }
}

pub struct Shared {
    starter: Arc<Starter>,
    store: Arc<dyn Store>,
    node: NodeId,
    settings: AutomationSettings,
}

#[async_trait]
impl TenantWork for Shared {
    const NAME: &'static str = "automations";

    async fn candidates(&self, now: Millis) -> Result<Vec<TenantId>, StoreError> {
        self.store
            .automation_candidates(self.node, now, self.settings.tenants_per_round)
            .await
    }

    async fn drain(&self, tenant: TenantId) -> Result<(), StoreError> {
        drain(self, tenant).await
    }

    async fn release(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.store.release_automations(tenant, self.node).await
    }
}

#[async_trait]
impl LeasedCursor for Shared {
    async fn claim(
        &self,
        tenant: TenantId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<i64>, StoreError> {
        self.store
            .claim_automations(tenant, self.node, now, lease_until)
            .await
    }

    async fn advance(&self, tenant: TenantId, offset: i64) -> Result<bool, StoreError> {
        self.store
            .advance_automations(tenant, self.node, offset)
            .await
    }
}

#[derive(Clone)]
pub struct Automations(Arc<TenantWorkers<Shared>>);

impl Automations {
    pub fn new(starter: Arc<Starter>, node: NodeId) -> Self {
        let shared = Shared {
            store: starter.store.clone(),
            settings: starter.settings.clone(),
            starter,
            node,
        };
        Self(Arc::new(TenantWorkers::new(
            Arc::new(shared),
            Arbiter::new().handle(),
        )))
    }

    /// Joins every schedule's chain of ticks, then looks for events to judge every
    /// `poll_every`, until dropped.
    pub async fn run(self) {
        let shared = self.0.work();
        if let Err(err) =
            super::schedule::schedule_all(shared.store.as_ref(), shared.settings.step_attempts)
                .await
        {
            tracing::warn!(error = %err, "cannot schedule the automations' next ticks");
        }
        self.0.run_every(self.0.work().settings.poll_every).await;
    }

    pub async fn shutdown(&self) {
        self.0.shutdown().await;
    }
}

async fn drain(shared: &Shared, tenant: TenantId) -> Result<(), StoreError> {
    let store = &shared.store;
    let rules: Vec<Rule> = store
        .rules(tenant)
        .await?
        .into_iter()
        .filter(|r| r.enabled)
        .collect();
    let patterns = Patterns::of(&rules);
    let wants_temperature = rules
        .iter()
        .any(|r| r.definition.trigger.kind() == TriggerKind::LeadTemperatureChanged);
    let judging = Judging {
        shared,
        tenant,
        rules: &rules,
        patterns: &patterns,
        wants_temperature,
    };
    let settings = &shared.settings;
    follow_stream(
        store.as_ref(),
        shared,
        tenant,
        settings.lease_ttl,
        settings.batch,
        &judging,
    )
    .await
}

/// One drain's rules, judged against each event of the tenant's stream.
struct Judging<'a> {
    shared: &'a Shared,
    tenant: TenantId,
    rules: &'a [Rule],
    patterns: &'a Patterns,
    wants_temperature: bool,
}

#[async_trait]
impl StreamBatches for Judging<'_> {
    async fn batch(&self, events: &[StreamEvent]) -> Result<(), StoreError> {
        let store = self.shared.store.as_ref();
        for event in events {
            let found = event_happenings(store, self.tenant, event, self.wants_temperature).await?;
            // One event's happenings are about one conversation and message.
            let mut facts = EventFacts::default();
            for happening in &found {
                judge(
                    self.shared,
                    self.tenant,
                    self.rules,
                    self.patterns,
                    happening,
                    &mut facts,
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// What `event` means to rules; with `temperature`, a lead's move to another
/// temperature too (read from the lead's history, which costs a query).
pub async fn event_happenings(
    store: &dyn Store,
    tenant: TenantId,
    event: &StreamEvent,
    temperature: bool,
) -> Result<Vec<Happening>, StoreError> {
    let (mut found, insights) = happenings(event);
    if let (Some(insights), true) = (insights, temperature) {
        let history = store
            .lead_history(tenant, insights.conversation_id, 50)
            .await?;
        // Newest first: the point after this message's is the one before it.
        let before = history
            .iter()
            .skip_while(|p| p.message_id != insights.message_id)
            .nth(1)
            .map(|p| p.temperature);
        found.extend(temperature_change(event, insights, before));
    }
    Ok(found)
}

/// Starts the runs (or timers) of the rules that `happening` triggers.
async fn judge(
    shared: &Shared,
    tenant: TenantId,
    rules: &[Rule],
    patterns: &Patterns,
    happening: &Happening,
    shared_facts: &mut EventFacts,
) -> Result<(), StoreError> {
    let mut facts: Option<Facts> = None;
    for rule in rules {
        let definition = &rule.definition;
        if definition.trigger.kind() != happening.kind {
            continue;
        }
        if let Trigger::NoAgentReply { minutes } | Trigger::NoCustomerReply { minutes } =
            definition.trigger
        {
            add_timer(&shared.starter, tenant, rule, happening, minutes).await?;
            continue;
        }
        if facts.is_none() {
            facts = Some(
                shared_facts
                    .of(shared.store.as_ref(), tenant, happening)
                    .await?,
            );
        }
        let Some(facts) = facts.as_ref() else {
            continue;
        };
        if applies(rule, happening, facts, patterns) {
            shared
                .starter
                .start(tenant, rule, happening, happening.offset.to_string())
                .await?;
        }
    }
    Ok(())
}

/// Whether a rule whose trigger kind matches applies: its trigger's filters, then its
/// conditions (a new contact is confirmed here, against the contact's creation).
pub fn applies(rule: &Rule, happening: &Happening, facts: &Facts, patterns: &Patterns) -> bool {
    let definition = &rule.definition;
    let analysed = definition
        .conditions
        .as_ref()
        .is_some_and(|c| c.needs_analysis());
    if !definition
        .trigger
        .admits(happening, analysed, facts.text.as_deref(), patterns)
    {
        return false;
    }
    if happening.kind == TriggerKind::ContactCreated {
        let new_contact = facts
            .contact
            .as_ref()
            .is_some_and(|c| c.created_at == happening.at);
        if !new_contact {
            return false;
        }
    }
    definition
        .conditions
        .as_ref()
        .is_none_or(|c| c.holds(happening, facts, patterns))
}

/// The conversation, its contact and lead, and the message's text and language.
pub async fn read_facts(
    store: &dyn Store,
    tenant: TenantId,
    happening: &Happening,
) -> Result<Facts, StoreError> {
    EventFacts::default().of(store, tenant, happening).await
}

/// What the happenings of one event share, read once for all of them: the
/// conversation with its contact and lead, and the message's text.
#[derive(Default)]
pub struct EventFacts {
    conversation: Option<Facts>,
    text: Option<(MessageId, Option<String>)>,
}

impl EventFacts {
    /// The facts `happening` is judged on.
    pub async fn of(
        &mut self,
        store: &dyn Store,
        tenant: TenantId,
        happening: &Happening,
    ) -> Result<Facts, StoreError> {
        let base = match &self.conversation {
            Some(base) => base,
            None => self
                .conversation
                .insert(conversation_facts(store, tenant, happening.conversation_id).await?),
        };
        let mut facts = Facts {
            conversation: base.conversation.clone(),
            contact: base.contact.clone(),
            temperature: base.temperature,
            text: None,
            language: None,
        };
        if let Some(message) = &happening.message {
            facts.language = message.language.clone();
            facts.text = match &message.text {
                Some(text) => Some(text.clone()),
                None => match &self.text {
                    Some((id, text)) if *id == message.id => text.clone(),
                    _ => {
                        let text = store
                            .message(tenant, message.id)
                            .await?
                            .and_then(|m| m.body);
                        self.text = Some((message.id, text.clone()));
                        text
                    }
                },
            };
        }
        Ok(facts)
    }
}

/// A conversation, its contact and its lead's temperature.
async fn conversation_facts(
    store: &dyn Store,
    tenant: TenantId,
    conversation: Option<ConversationId>,
) -> Result<Facts, StoreError> {
    let mut facts = Facts::default();
    if let Some(id) = conversation {
        facts.conversation = store.conversation(tenant, id).await?;
        facts.temperature = store
            .lead(tenant, id)
            .await?
            .map(|lead| lead.score.temperature);
    }
    if let Some(conversation) = &facts.conversation {
        facts.contact = store.contact(tenant, conversation.contact_id).await?;
    }
    Ok(facts)
}

/// A timer for a "no reply within" rule, due `minutes` after the message. A rule never
/// times its own messages (its follow-up would start it again).
async fn add_timer(
    shared: &Starter,
    tenant: TenantId,
    rule: &Rule,
    happening: &Happening,
    minutes: u32,
) -> Result<(), StoreError> {
    let (Some(message), Some(conversation)) = (&happening.message, happening.conversation_id)
    else {
        return Ok(());
    };
    if happening.caused_by == Some(rule.id) {
        return Ok(());
    }
    let job = NewJob {
        tenant,
        kind: TIMER_JOB.to_owned(),
        payload: json!({
            "rule_id": rule.id,
            "conversation_id": conversation,
            "message_id": message.id,
            "seq": happening.detail["seq"],
            "happening": happening,
        }),
        run_at: happening
            .at
            .plus(Duration::from_secs(u64::from(minutes) * 60)),
        max_attempts: shared.settings.step_attempts,
        idempotency_key: Some(format!("timer:{}:{}", rule.id, message.id)),
    };
    shared.store.add_job(&job, Millis::now()).await?;
    Ok(())
}

impl Starter {
    /// Starts a run of `rule` for `happening`, once per trigger key, or records it as
    /// skipped when the loop guard holds it back.
    pub async fn start(
        &self,
        tenant: TenantId,
        rule: &Rule,
        happening: &Happening,
        trigger_key: String,
    ) -> Result<(), StoreError> {
        let shared = self;
        let store = &shared.store;
        let now = Millis::now();
        let settings = &shared.settings;
        let mut reason = None;
        if happening.depth > settings.max_depth {
            reason = Some(format!(
                "loop guard: caused by a chain of {} rule runs (at most {})",
                happening.depth, settings.max_depth
            ));
        } else if let Some(conversation) = happening.conversation_id {
            let hour_ago = Millis(now.0 - 3_600_000);
            let recent = store
                .runs_since(tenant, rule.id, conversation, hour_ago)
                .await?;
            if recent >= u64::from(settings.max_runs_per_hour) {
                reason = Some(format!(
                    "loop guard: the rule ran {recent} times in this conversation in the last hour (at most {})",
                    settings.max_runs_per_hour
                ));
            }
        }
        let run = Run {
            id: RunId::new(),
            tenant_id: tenant,
            rule_id: rule.id,
            trigger_key,
            conversation_id: happening.conversation_id,
            depth: happening.depth,
            status: if reason.is_some() {
                RunStatus::Skipped
            } else {
                RunStatus::Running
            },
            data: RunData {
                rule_name: rule.definition.name.clone(),
                event: serde_json::to_value(happening).unwrap_or_default(),
                actions: rule.definition.actions.clone(),
                steps: Vec::new(),
                reason: reason.clone(),
            },
            created_at: now,
            updated_at: now,
        };
        let (id, _) = store.start_run(&run).await?;
        if reason.is_some() {
            shared.observer.run("skipped");
            return Ok(());
        }
        shared.observer.run("started");
        let first = super::steps::step_job(tenant, id, 0, now, settings.step_attempts);
        store.add_job(&first, now).await?;
        Ok(())
    }
}
