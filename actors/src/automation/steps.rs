//! Running a rule's steps as durable jobs: `automation.step` does one action of a run
//! and adds the next step's job (due later after a wait); `automation.timer` fires a
//! "no reply within" trigger when the reply did not come.
//!
//! A job runs at least once, so every step is safe to repeat: a message or note has
//! the client id `auto-<run>-<step>` (stored once per conversation), tags, status and
//! fields are set rather than toggled, the next step's job is keyed by run and step,
//! and a step recorded as done is not done again.

use super::conditions::{Patterns, contact_placeholder};
use super::engine::{Starter, applies, read_facts};
use super::happening::{Happening, Origin};
use super::rules::{Action, Trigger, TriggerKind};
use super::{Run, RunStatus, STEP_JOB, StepResult, StepStatus};
use crate::contacts::fields::{self, Presence};
use crate::inbox::records::{ContactChange, ConversationChange, Outgoing};
use crate::inbox::{Inbox, InboxError};
use crate::jobs::runner::{JobFailure, JobHandler};
use crate::jobs::{Job, NewJob};
use crate::pipeline::handoff::HandoffTrigger;
use crate::pipeline::queue::HandoffQueue;
use crate::pipeline::settings::TenantRules;
use crate::reply::replies::{AnswerNow, Replies};
use crate::store::{AuditActor, AuditEntry, Store, StoreError};
use crate::{
    AuditId, ClientMessageId, ConversationId, ConversationStatus, Direction, MessageId, Millis,
    RuleId, RunId, TenantId,
};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Why an HTTP call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    /// Unreachable, a timeout, a 5xx or 429: worth trying again.
    Retry(String),
    /// Refused by the guarded client, or a 4xx: trying again cannot help.
    Permanent(String),
}

/// The `webhook` action's way out: the server's guarded HTTP client.
#[async_trait]
pub trait HttpCaller: Send + Sync + 'static {
    /// POSTs `body` as JSON with an `Idempotency-Key` header; the answer's status.
    async fn post(
        &self,
        url: &str,
        idempotency_key: &str,
        body: &Value,
    ) -> Result<u16, CallFailure>;
}

/// The job of a run's step `step`, due at `run_at`.
pub fn step_job(
    tenant: TenantId,
    run: RunId,
    step: usize,
    run_at: Millis,
    attempts: u32,
) -> NewJob {
    NewJob {
        tenant,
        kind: STEP_JOB.to_owned(),
        payload: json!({ "run_id": run, "step": step }),
        run_at,
        max_attempts: attempts,
        idempotency_key: Some(format!("automation:{run}:{step}")),
    }
}

#[derive(Deserialize)]
struct StepPayload {
    run_id: RunId,
    step: usize,
}

/// What a step did, and when the next one is due.
struct Done {
    detail: Option<String>,
    next_at: Millis,
}

pub struct Steps {
    store: Arc<dyn Store>,
    inbox: Inbox,
    queue: HandoffQueue,
    http: Arc<dyn HttpCaller>,
    replies: Replies,
    attempts: u32,
}

impl Steps {
    pub fn new(
        store: Arc<dyn Store>,
        inbox: Inbox,
        http: Arc<dyn HttpCaller>,
        replies: Replies,
        attempts: u32,
    ) -> Self {
        Self {
            queue: HandoffQueue::new(store.clone(), inbox.clone()),
            store,
            inbox,
            http,
            replies,
            attempts,
        }
    }
}

fn store_failure(err: StoreError) -> JobFailure {
    JobFailure::Retry(err.to_string())
}

fn inbox_failure(err: InboxError) -> JobFailure {
    match err {
        InboxError::Busy | InboxError::Store(_) => JobFailure::Retry(err.to_string()),
        other => JobFailure::Permanent(other.to_string()),
    }
}

#[async_trait]
impl JobHandler for Steps {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let payload: StepPayload = serde_json::from_value(job.payload.clone())
            .map_err(|err| JobFailure::Permanent(format!("unreadable step: {err}")))?;
        let tenant = job.tenant_id;
        let Some(mut run) = self
            .store
            .run(tenant, payload.run_id)
            .await
            .map_err(store_failure)?
        else {
            return Err(JobFailure::Permanent("the run is gone".to_owned()));
        };
        let step = payload.step;
        let Some(action) = run.data.actions.get(step).cloned() else {
            return Ok(());
        };
        if let Some(done) = run
            .data
            .steps
            .get(step)
            .filter(|s| s.status == StepStatus::Done)
        {
            // Done before a crash kept its job from settling: make sure the next is there.
            let next_at = done
                .next_at
                .as_deref()
                .and_then(Millis::parse_rfc3339)
                .unwrap_or_else(Millis::now);
            return self.next(&mut run, step, next_at).await;
        }
        let rule = self
            .store
            .rule(tenant, run.rule_id)
            .await
            .map_err(store_failure)?;
        if let Some(why) = match rule {
            None => Some("the rule was deleted"),
            Some(rule) if !rule.enabled => Some("the rule was disabled"),
            Some(_) => None,
        } {
            run.status = RunStatus::Failed;
            run.data.reason = Some(format!("stopped before step {}: {why}", step + 1));
            return self.save(&mut run).await;
        }
        let started = Millis::now();
        let outcome = self.execute(&run, step, &action).await;
        let finished = Millis::now();
        let mut result = StepResult {
            index: step,
            action: action.name().to_owned(),
            status: StepStatus::Done,
            started_at: started.to_rfc3339(),
            finished_at: finished.to_rfc3339(),
            attempts: job.attempts,
            detail: None,
            error: None,
            next_at: None,
        };
        match outcome {
            Ok(done) => {
                result.detail = done.detail;
                result.next_at = (done.next_at > finished).then(|| done.next_at.to_rfc3339());
                record(&mut run, result);
                self.audit(&run, step, &action).await;
                self.next(&mut run, step, done.next_at).await
            }
            Err(failure) => {
                let why = failure.reason().to_owned();
                let last =
                    matches!(failure, JobFailure::Permanent(_)) || job.attempts >= job.max_attempts;
                result.status = if last {
                    StepStatus::Failed
                } else {
                    StepStatus::Retrying
                };
                result.error = Some(why.clone());
                record(&mut run, result);
                if last {
                    run.status = RunStatus::Failed;
                    run.data.reason = Some(format!(
                        "step {} ({}) failed: {why}; its job {} can be retried",
                        step + 1,
                        action.name(),
                        job.id
                    ));
                }
                self.save(&mut run).await?;
                Err(failure)
            }
        }
    }
}

/// Puts a step's result in its place in the run.
fn record(run: &mut Run, result: StepResult) {
    let index = result.index;
    if run.data.steps.len() <= index {
        run.data.steps.truncate(index);
        run.data.steps.push(result);
    } else {
        run.data.steps[index] = result;
    }
}

impl Steps {
    async fn save(&self, run: &mut Run) -> Result<(), JobFailure> {
        run.updated_at = Millis::now();
        let ended = self.store.save_run(run).await.map_err(store_failure)?;
        if let Some(event) = ended {
            self.inbox.publish(run.tenant_id, vec![event]);
        }
        Ok(())
    }

    /// After step `step`: the run is done, or its next step's job is due at `next_at`.
    async fn next(&self, run: &mut Run, step: usize, next_at: Millis) -> Result<(), JobFailure> {
        let now = Millis::now();
        if step + 1 >= run.data.actions.len() {
            run.status = RunStatus::Done;
            run.data.reason = None;
            return self.save(run).await;
        }
        run.status = if next_at.0 > now.0 {
            RunStatus::Waiting
        } else {
            RunStatus::Running
        };
        run.data.reason = None;
        // The run is saved first: a crash between the two finds the step done and adds
        // the job then.
        self.save(run).await?;
        let job = step_job(run.tenant_id, run.id, step + 1, next_at, self.attempts);
        self.store.add_job(&job, now).await.map_err(store_failure)?;
        Ok(())
    }

    /// The audit row of a step that acted, naming the rule and the run.
    async fn audit(&self, run: &Run, step: usize, action: &Action) {
        if matches!(action, Action::Wait { .. } | Action::WaitUntil { .. }) {
            return;
        }
        let entry = AuditEntry {
            tenant_id: run.tenant_id,
            id: AuditId::new(),
            at: Millis::now(),
            actor: AuditActor::System,
            action: format!("automation.{}", action.name()),
            target_type: run.conversation_id.map(|_| "conversation".to_owned()),
            target_id: run.conversation_id.map(|c| c.to_string()),
            ip: None,
            request_id: None,
            details: json!({
                "rule_id": run.rule_id,
                "rule_name": run.data.rule_name,
                "run_id": run.id,
                "step": step + 1,
            }),
        };
        if let Err(err) = self.store.append_audit(&entry).await {
            tracing::error!(error = %err, action = %entry.action, "audit row was not written");
        }
    }

    async fn execute(&self, run: &Run, step: usize, action: &Action) -> Result<Done, JobFailure> {
        let now = Millis::now();
        let done = |detail: Option<String>| Done {
            detail,
            next_at: now,
        };
        let tenant = run.tenant_id;
        let origin = Origin {
            rule_id: run.rule_id,
            run_id: run.id,
            depth: run.depth,
        };
        match action {
            Action::Wait { seconds } => {
                let next_at = now.plus(Duration::from_secs(*seconds));
                return Ok(Done {
                    detail: Some(format!("waits until {}", next_at.to_rfc3339())),
                    next_at,
                });
            }
            Action::WaitUntil {
                time,
                utc_offset_minutes,
            } => {
                let next_at = next_local_time(now, time, *utc_offset_minutes)
                    .ok_or_else(|| JobFailure::Permanent(format!("'{time}' is not a time")))?;
                return Ok(Done {
                    detail: Some(format!("waits until {}", next_at.to_rfc3339())),
                    next_at,
                });
            }
            Action::Webhook { url } => {
                let body = json!({
                    "type": "automation.webhook",
                    "rule_id": run.rule_id,
                    "rule_name": run.data.rule_name,
                    "run_id": run.id,
                    "step": step + 1,
                    "conversation_id": run.conversation_id,
                    "event": run.data.event,
                });
                let key = format!("{}:{}", run.id, step);
                let status = self
                    .http
                    .post(url, &key, &body)
                    .await
                    .map_err(|f| match f {
                        CallFailure::Retry(why) => JobFailure::Retry(why),
                        CallFailure::Permanent(why) => JobFailure::Permanent(why),
                    })?;
                return Ok(done(Some(format!("HTTP {status}"))));
            }
            _ => {}
        }
        let conversation = run
            .conversation_id
            .ok_or_else(|| JobFailure::Permanent("the run has no conversation".to_owned()))?;
        let change = |change: ConversationChange| async move {
            self.inbox
                .change_by_rule(tenant, conversation, change, origin)
                .await
                .map_err(inbox_failure)
        };
        match action {
            Action::SendMessage { text } | Action::AddNote { text } => {
                let direction = if matches!(action, Action::SendMessage { .. }) {
                    Direction::Outbound
                } else {
                    Direction::Note
                };
                let body = self.fill(run, conversation, text).await?;
                let message = Outgoing::text(direction, &body, None, None)
                    .map_err(|err| JobFailure::Permanent(err.0))?;
                self.send(run, step, conversation, message)
                    .await
                    .map(|d| done(Some(d)))
            }
            Action::SendTemplate { parameters, .. } => {
                let mut filled = Vec::with_capacity(parameters.len());
                for parameter in parameters {
                    filled.push(self.fill(run, conversation, parameter).await?);
                }
                let mut values = filled.into_iter();
                let message = action
                    .template(|_| values.next().unwrap_or_default())
                    .map_err(|err| JobFailure::Permanent(err.0))?;
                self.send(run, step, conversation, message)
                    .await
                    .map(|d| done(Some(d)))
            }
            Action::AddTag { tag } | Action::RemoveTag { tag } => {
                let present = matches!(action, Action::AddTag { .. });
                change(ConversationChange::Tag {
                    tag: tag.clone(),
                    present,
                })
                .await?;
                Ok(done(None))
            }
            Action::Assign { user_id } => {
                let assign = ConversationChange::Assign {
                    assignee: Some(*user_id),
                    by: None,
                };
                change(assign).await?;
                Ok(done(Some(format!("assigned to {user_id}"))))
            }
            Action::AssignRoundRobin => {
                let assignment = TenantRules::load(self.store.as_ref(), tenant)
                    .await
                    .map_err(store_failure)?
                    .assignment;
                let next = self
                    .queue
                    .next_agent(tenant, &assignment)
                    .await
                    .map_err(inbox_failure)?;
                match next {
                    Some(agent) => {
                        change(ConversationChange::Assign {
                            assignee: Some(agent),
                            by: None,
                        })
                        .await?;
                        Ok(done(Some(format!("assigned to {agent}"))))
                    }
                    None => Ok(done(Some(
                        "no agent online with room; left as it was".to_owned(),
                    ))),
                }
            }
            Action::Unassign => {
                change(ConversationChange::Assign {
                    assignee: None,
                    by: None,
                })
                .await?;
                Ok(done(None))
            }
            Action::SetStatus { status } => {
                change(ConversationChange::Status {
                    status: *status,
                    snoozed_until: None,
                })
                .await?;
                Ok(done(None))
            }
            Action::Snooze { minutes } => {
                let until = now.plus(Duration::from_secs(u64::from(*minutes) * 60));
                let snooze = ConversationChange::Status {
                    status: ConversationStatus::Snoozed,
                    snoozed_until: Some(until),
                };
                change(snooze).await?;
                Ok(done(Some(format!("snoozed until {}", until.to_rfc3339()))))
            }
            Action::SetPriority { priority } => {
                change(ConversationChange::Priority(*priority)).await?;
                Ok(done(None))
            }
            Action::SetContactField { field, value } => {
                self.set_field(tenant, conversation, field, value).await?;
                Ok(done(None))
            }
            Action::AiReply { mode } => {
                match self.replies.answer_now(tenant, conversation, *mode).await {
                    Ok(outcome) => Ok(done(Some(outcome.to_owned()))),
                    Err(AnswerNow::Pending) => {
                        Err(JobFailure::Retry(AnswerNow::Pending.to_string()))
                    }
                    Err(AnswerNow::Inbox(err)) => Err(inbox_failure(err)),
                }
            }
            Action::HandOff { reason } => {
                let assignment = TenantRules::load(self.store.as_ref(), tenant)
                    .await
                    .map_err(store_failure)?
                    .assignment;
                let detail = reason
                    .as_deref()
                    .unwrap_or(HandoffTrigger::Automation.describe());
                let why = format!("{detail} (rule \"{}\")", run.data.rule_name);
                self.queue
                    .bot_hands_over(
                        tenant,
                        conversation,
                        HandoffTrigger::Automation,
                        &why,
                        &assignment,
                    )
                    .await
                    .map_err(inbox_failure)?;
                Ok(done(None))
            }
            Action::Wait { .. } | Action::WaitUntil { .. } | Action::Webhook { .. } => {
                Ok(done(None))
            }
        }
    }

    /// Appends a run's message (or note) as the conversation's actor does an agent's,
    /// once however often the step runs: its client id is the run's and the step's.
    async fn send(
        &self,
        run: &Run,
        step: usize,
        conversation: ConversationId,
        mut message: Outgoing,
    ) -> Result<String, JobFailure> {
        let origin = Origin {
            rule_id: run.rule_id,
            run_id: run.id,
            depth: run.depth,
        };
        message.client_id = Some(
            ClientMessageId::parse(&format!("auto-{}-{step}", run.id.0.simple()))
                .map_err(|err| JobFailure::Permanent(err.0))?,
        );
        let mut attachment = message.attachment.take().unwrap_or_else(|| json!({}));
        attachment["automation"] = json!(origin);
        message.attachment = Some(attachment);
        let recorded = self
            .inbox
            .append(run.tenant_id, conversation, message)
            .await
            .map_err(inbox_failure)?;
        Ok(format!("message {}", recorded.message.id))
    }

    /// The text with the contact's and the message's placeholders filled in.
    async fn fill(
        &self,
        run: &Run,
        conversation: ConversationId,
        text: &str,
    ) -> Result<String, JobFailure> {
        if !text.contains("{{") {
            return Ok(text.to_owned());
        }
        let tenant = run.tenant_id;
        let found = self
            .store
            .conversation(tenant, conversation)
            .await
            .map_err(store_failure)?;
        let contact = match found {
            Some(c) => self
                .store
                .contact(tenant, c.contact_id)
                .await
                .map_err(store_failure)?,
            None => None,
        };
        let message_text = match run.data.event["message"]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
        {
            Some(id) => self
                .store
                .message(tenant, MessageId(id))
                .await
                .map_err(store_failure)?
                .and_then(|m| m.body),
            None => None,
        };
        Ok(fill_placeholders(text, |name| match name {
            "message.text" => message_text.clone(),
            other => contact_placeholder(contact.as_ref(), other),
        }))
    }

    async fn set_field(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        field: &str,
        value: &str,
    ) -> Result<(), JobFailure> {
        let found = self
            .store
            .conversation(tenant, conversation)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| JobFailure::Permanent("the conversation is gone".to_owned()))?;
        let contact = self
            .store
            .contact(tenant, found.contact_id)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| JobFailure::Permanent("the contact is gone".to_owned()))?;
        let mut change = ContactChange::default();
        if field == "name" {
            change.name = Some(value.to_owned());
        } else {
            let definitions = self.store.fields(tenant).await.map_err(store_failure)?;
            let mut set = Map::new();
            set.insert(field.to_owned(), Value::from(value));
            // A value the field's kind refuses will not fit on a later try either.
            let set = fields::apply(&definitions, set, &contact.custom_fields, Presence::AsGiven)
                .map_err(|refused| JobFailure::Permanent(refused.0))?;
            let mut fields = contact.custom_fields.clone();
            fields.extend(set);
            change.custom_fields = Some(fields);
        }
        let changed = self
            .store
            .update_contact(tenant, contact.id, &change, Millis::now())
            .await
            .map_err(store_failure)?
            .ok_or_else(|| JobFailure::Permanent("the contact is gone".to_owned()))?;
        self.inbox.publish(tenant, changed.events);
        Ok(())
    }
}

/// `{{name}}` placeholders replaced by `value(name)`; unknown or empty ones by nothing.
pub fn fill_placeholders(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        out.push_str(&value(after[..close].trim()).unwrap_or_default());
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// The next moment after `now` when the clock at `utc_offset_minutes` shows `time`.
pub fn next_local_time(now: Millis, time: &str, utc_offset_minutes: i32) -> Option<Millis> {
    const DAY_MS: i64 = 86_400_000;
    let (hours, minutes) = time.split_once(':')?;
    let minute: i64 = hours.parse::<i64>().ok()? * 60 + minutes.parse::<i64>().ok()?;
    let offset = i64::from(utc_offset_minutes) * 60_000;
    let local = now.0 + offset;
    let today = local - local.rem_euclid(DAY_MS) + minute * 60_000;
    let target = if today > local { today } else { today + DAY_MS };
    Some(Millis(target - offset))
}

/// `automation.timer`: a "no reply within N minutes" rule's check, due N minutes after
/// a message. It fires (starting a run keyed by the message) when the other side has
/// not written since, and the message was the one the wait was about: the first
/// customer message the team left unanswered, or the team's last message.
pub struct Timers {
    starter: Arc<Starter>,
}

impl Timers {
    pub fn new(starter: Arc<Starter>) -> Self {
        Self { starter }
    }
}

#[derive(Deserialize)]
struct TimerPayload {
    rule_id: RuleId,
    conversation_id: ConversationId,
    message_id: MessageId,
    seq: i64,
    happening: Value,
}

/// Messages read back to judge a timer.
const TIMER_PAGE: u32 = 200;

#[async_trait]
impl JobHandler for Timers {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let timer: TimerPayload = serde_json::from_value(job.payload.clone())
            .map_err(|err| JobFailure::Permanent(format!("unreadable timer: {err}")))?;
        let tenant = job.tenant_id;
        let store = self.starter.store.as_ref();
        let Some(rule) = store
            .rule(tenant, timer.rule_id)
            .await
            .map_err(store_failure)?
        else {
            return Ok(());
        };
        let customer_waits = match rule.definition.trigger {
            Trigger::NoAgentReply { .. } if rule.enabled => true,
            Trigger::NoCustomerReply { .. } if rule.enabled => false,
            _ => return Ok(()),
        };
        let messages = store
            .messages(tenant, timer.conversation_id, None, TIMER_PAGE)
            .await
            .map_err(store_failure)?;
        let direction_of = |m: &crate::inbox::records::Message| m.direction;
        let later = messages.iter().filter(|m| m.seq > timer.seq);
        let earlier = messages.iter().rev().filter(|m| m.seq < timer.seq);
        let (waiting, answering) = if customer_waits {
            (Direction::Inbound, Direction::Outbound)
        } else {
            (Direction::Outbound, Direction::Inbound)
        };
        let answered = later.clone().any(|m| direction_of(m) == answering);
        let first_of_its_turn = if customer_waits {
            // The wait started with the first customer message after the team's last.
            earlier
                .map(direction_of)
                .find(|d| *d != Direction::Note)
                .is_none_or(|d| d != waiting)
        } else {
            // The wait runs from the team's last message.
            !later.clone().any(|m| direction_of(m) == waiting)
        };
        if answered || !first_of_its_turn {
            return Ok(());
        }
        let mut happening: Happening =
            happening_from(&timer.happening, timer.conversation_id, timer.message_id)
                .ok_or_else(|| JobFailure::Permanent("unreadable timer event".to_owned()))?;
        happening.kind = if customer_waits {
            TriggerKind::NoAgentReply
        } else {
            TriggerKind::NoCustomerReply
        };
        happening.at = Millis::now();
        let facts = read_facts(store, tenant, &happening)
            .await
            .map_err(store_failure)?;
        let patterns = Patterns::of(std::slice::from_ref(&rule));
        if !applies(&rule, &happening, &facts, &patterns) {
            return Ok(());
        }
        self.starter
            .start(
                tenant,
                &rule,
                &happening,
                format!("timer:{}", timer.message_id),
            )
            .await
            .map_err(store_failure)
    }
}

/// A timer's happening back from its payload.
fn happening_from(
    value: &Value,
    conversation: ConversationId,
    message: MessageId,
) -> Option<Happening> {
    Some(Happening {
        kind: TriggerKind::NoAgentReply,
        offset: value["offset"].as_i64()?,
        at: Millis::now(),
        conversation_id: Some(conversation),
        channel: value["channel"].as_str().map(str::to_owned),
        message: serde_json::from_value(value["message"].clone()).ok(),
        analysed: false,
        detail: json!({ "message_id": message, "waited_since": value["at"] }),
        depth: u32::try_from(value["depth"].as_u64()?).ok()?,
        caused_by: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_left_empty() {
        let value = |name: &str| (name == "contact.first_name").then(|| "Ana".to_owned());
        assert_eq!(
            fill_placeholders("Hi {{ contact.first_name }}, about {{order}}: {{", value),
            "Hi Ana, about : {{"
        );
    }

    #[test]
    fn the_next_local_time_is_today_when_still_ahead_and_tomorrow_when_past() {
        // 2026-01-01T08:00:00Z
        let now = Millis(1_767_254_400_000);
        assert_eq!(
            next_local_time(now, "09:30", 0),
            Some(Millis(now.0 + 90 * 60_000))
        );
        assert_eq!(
            next_local_time(now, "07:00", 0),
            Some(Millis(now.0 + 23 * 3_600_000))
        );
        // 09:30 at UTC+2 is 07:30Z: passed, so tomorrow.
        assert_eq!(
            next_local_time(now, "09:30", 120),
            Some(Millis(now.0 + 23 * 3_600_000 + 30 * 60_000))
        );
    }
}
