//! Automations: a tenant's rules (a trigger, conditions, actions) and their runs.
//!
//! `engine` follows each tenant's stream from a leased cursor like the pipeline: each
//! event becomes `Happening`s, each rule whose trigger and conditions hold starts a
//! run (one per rule and event, whatever replays), and the run's first step is a
//! durable job. `steps` runs one action per job and adds the next step's job (after
//! a wait, due later), so a run survives restarts and runs on one node at a time.
//! Actions go through the same paths as an agent's (the conversation actor, the
//! handoff queue), carry the run's `Origin` into their events, and are audited
//! naming the rule.

pub mod conditions;
pub mod engine;
pub mod happening;
pub mod rules;
pub mod schedule;
pub mod steps;

use crate::domain::text_enum::text_enum;
use crate::inbox::bus::NodeId;
use crate::inbox::stream::StreamEvent;
use crate::store::StoreError;
use crate::{ConversationId, Millis, RuleId, RunId, TenantId};
use async_trait::async_trait;
use rules::{Action, Definition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The job kinds automations add.
pub const STEP_JOB: &str = "automation.step";
pub const TIMER_JOB: &str = "automation.timer";
pub const TICK_JOB: &str = "automation.tick";

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: RuleId,
    pub tenant_id: TenantId,
    pub enabled: bool,
    pub definition: Definition,
    pub created_at: Millis,
    pub updated_at: Millis,
}

text_enum!(
    /// Where a run is.
    RunStatus, "a run status" {
        /// A step is due or running.
        Running => "running",
        /// The next step waits for its time.
        Waiting => "waiting",
        Done => "done",
        /// A step failed for good (or its job is dead, to be retried over REST), or
        /// the rule was disabled or deleted meanwhile.
        Failed => "failed",
        /// The loop guard kept it from starting.
        Skipped => "skipped",
    }
);

text_enum!(
    StepStatus, "a step status" {
        Done => "done",
        /// It failed and will be tried again.
        Retrying => "retrying",
        Failed => "failed",
    }
);

/// One step's result, as the run shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub index: usize,
    pub action: String,
    pub status: StepStatus,
    pub started_at: String,
    pub finished_at: String,
    /// Runs of the step so far (a retried step counts each).
    pub attempts: u32,
    /// What it did ("assigned to …", "waits until …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the next step is due, after a wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<String>,
}

/// What a run keeps besides its columns: its rule's name and actions as they were
/// when it started (an edit does not change a run under way), the event that
/// started it, and each step's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    pub rule_name: String,
    pub event: Value,
    pub actions: Vec<Action>,
    pub steps: Vec<StepResult>,
    /// Why it was skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: RunId,
    pub tenant_id: TenantId,
    pub rule_id: RuleId,
    /// What makes the run one of a kind for its rule: the event's offset, a timer's
    /// message.
    pub trigger_key: String,
    pub conversation_id: Option<ConversationId>,
    pub depth: u32,
    pub status: RunStatus,
    pub data: RunData,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Run {
    /// The run as REST and the `automation.run` event show it.
    pub fn view(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "rule_id": self.rule_id,
            "rule_name": self.data.rule_name,
            "status": self.status.as_str(),
            "trigger_key": self.trigger_key,
            "conversation_id": self.conversation_id,
            "depth": self.depth,
            "event": self.data.event,
            "actions": self.data.actions,
            "steps": self.data.steps,
            "reason": self.data.reason,
            "created_at": self.created_at.to_rfc3339(),
            "updated_at": self.updated_at.to_rfc3339(),
        })
    }

    /// Whether it has ended (`done` or `failed`): saving it so tells admins, and
    /// webhooks, with an `automation.run` event.
    pub fn ended(&self) -> bool {
        matches!(self.status, RunStatus::Done | RunStatus::Failed)
    }
}

#[async_trait]
pub trait AutomationStore: Send + Sync + 'static {
    /// Creates the rule, or (with `replace`) rewrites an existing one's definition and
    /// enabled flag; false when there was none to replace. When the tenant's first
    /// enabled rule appears, the trigger cursor moves to the stream's head: rules act
    /// on what happens from then on, never on old events.
    async fn save_rule(&self, rule: &Rule, replace: bool) -> Result<bool, StoreError>;

    async fn rule(&self, tenant: TenantId, id: RuleId) -> Result<Option<Rule>, StoreError>;

    /// The tenant's rules, oldest first.
    async fn rules(&self, tenant: TenantId) -> Result<Vec<Rule>, StoreError>;

    /// Every tenant's enabled rules whose trigger is of `kind` (schedules, at start).
    async fn enabled_rules_of_kind(&self, kind: &str) -> Result<Vec<Rule>, StoreError>;

    /// Removes a rule (its runs stay, and stop at their next step).
    async fn delete_rule(&self, tenant: TenantId, id: RuleId) -> Result<bool, StoreError>;

    /// Records a new run, unless its rule has one for the same trigger key: then the
    /// existing run's id, with false.
    async fn start_run(&self, run: &Run) -> Result<(RunId, bool), StoreError>;

    async fn run(&self, tenant: TenantId, id: RunId) -> Result<Option<Run>, StoreError>;

    /// A rule's runs, newest first, older than `before` when given.
    async fn runs(
        &self,
        tenant: TenantId,
        rule: RuleId,
        before: Option<RunId>,
        limit: u32,
    ) -> Result<Vec<Run>, StoreError>;

    /// Writes a run's status and data; when it has ended, appends its `automation.run`
    /// event in the same transaction and answers it, to be published.
    async fn save_run(&self, run: &Run) -> Result<Option<StreamEvent>, StoreError>;

    /// How many runs (skipped ones aside) the rule started for the conversation since
    /// `since`: the loop guard's rate cap.
    async fn runs_since(
        &self,
        tenant: TenantId,
        rule: RuleId,
        conversation: ConversationId,
        since: Millis,
    ) -> Result<u64, StoreError>;

    /// The trigger cursor: taken as the pipeline's is (see `PipelineStore`).
    async fn claim_automations(
        &self,
        tenant: TenantId,
        node: NodeId,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<i64>, StoreError>;

    /// Tenants with an enabled rule and events past their cursor that no other node
    /// holds.
    async fn automation_candidates(
        &self,
        node: NodeId,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<TenantId>, StoreError>;

    async fn advance_automations(
        &self,
        tenant: TenantId,
        node: NodeId,
        offset: i64,
    ) -> Result<bool, StoreError>;

    async fn release_automations(&self, tenant: TenantId, node: NodeId) -> Result<(), StoreError>;
}
