//! Automation rules over REST: admins create, edit, enable, disable and delete them
//! (audited), read each rule's runs, and try a rule on a past event (a dry run: what
//! would happen, nothing done). Also the durable jobs a tenant has, and retrying a
//! dead one.

use super::views::Page;
use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::ManageAutomations;
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_actors::automation::conditions::Patterns;
use switchboard_actors::automation::engine::{EventFacts, applies, event_happenings};
use switchboard_actors::automation::rules::{Action, Condition, Definition, Trigger};
use switchboard_actors::automation::schedule::{Schedule, schedule_next};
use switchboard_actors::automation::{Rule, Run};
use switchboard_actors::jobs::{Job, JobState};
use switchboard_actors::{JobId, Millis, RuleId, RunId};
use uuid::Uuid;

/// Rules a tenant may hold.
pub const MAX_RULES: usize = 200;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    name: String,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    trigger: Trigger,
    #[serde(default)]
    conditions: Option<Condition>,
    actions: Vec<Action>,
}

fn enabled_by_default() -> bool {
    true
}

impl RuleRequest {
    fn definition(self, state: &AppState) -> Result<(Definition, bool), ApiError> {
        let definition = Definition {
            name: self.name.trim().to_owned(),
            trigger: self.trigger,
            conditions: self.conditions,
            actions: self.actions,
        };
        definition
            .validate()
            .map_err(|err| ApiError::invalid(err.0))?;
        if let Trigger::Schedule { cron, time_zone } = &definition.trigger {
            let least = Duration::from_secs(state.config.automations.min_schedule_secs);
            let gap = Schedule::parse(cron, time_zone)
                .map_err(|err| ApiError::invalid(err.0))?
                .shortest_gap(Millis::now());
            if gap.is_some_and(|gap| gap < least) {
                return Err(ApiError::invalid(format!(
                    "trigger.cron ticks more often than every {} seconds",
                    least.as_secs()
                )));
            }
        }
        Ok((definition, self.enabled))
    }
}

/// A rule: its definition's fields (named one by one rather than flattened, because a
/// definition refuses unknown fields and the view has more), and its own.
#[derive(Serialize, utoipa::ToSchema)]
struct RuleView<'a> {
    id: RuleId,
    enabled: bool,
    name: &'a str,
    trigger: &'a Trigger,
    conditions: Option<&'a Condition>,
    actions: &'a [Action],
    created_at: String,
    updated_at: String,
}

fn rule_view(rule: &Rule) -> RuleView<'_> {
    RuleView {
        id: rule.id,
        enabled: rule.enabled,
        name: &rule.definition.name,
        trigger: &rule.definition.trigger,
        conditions: rule.definition.conditions.as_ref(),
        actions: &rule.definition.actions,
        created_at: rule.created_at.to_rfc3339(),
        updated_at: rule.updated_at.to_rfc3339(),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct JobView<'a> {
    id: JobId,
    kind: &'a str,
    state: JobState,
    payload: &'a Value,
    run_at: String,
    /// Runs started, this one included while it runs.
    attempts: u32,
    max_attempts: u32,
    last_error: Option<&'a str>,
    created_at: String,
    updated_at: String,
}

fn job_view(job: &Job) -> JobView<'_> {
    JobView {
        id: job.id,
        kind: &job.kind,
        state: job.state,
        payload: &job.payload,
        run_at: job.run_at.to_rfc3339(),
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        last_error: job.last_error.as_deref(),
        created_at: job.created_at.to_rfc3339(),
        updated_at: job.updated_at.to_rfc3339(),
    }
}

async fn audit_rule(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authorized<ManageAutomations>,
    action: &'static str,
    rule: &Rule,
) {
    let event = Event {
        tenant: auth.caller.tenant_id(),
        actor: auth.caller.audit_actor(),
        action,
        target: Some(("automation_rule", rule.id.to_string())),
        details: json!({ "name": rule.definition.name, "enabled": rule.enabled }),
    };
    audit::record(state.store.as_ref(), client, event).await;
}

async fn found(
    state: &AppState,
    auth: &Authorized<ManageAutomations>,
    id: Uuid,
) -> Result<Rule, ApiError> {
    state
        .store
        .rule(auth.caller.tenant_id(), RuleId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("automation rule"))
}

/// A saved schedule rule's next tick, so it needs no other trigger to start.
async fn schedule(state: &AppState, rule: &Rule) -> Result<(), ApiError> {
    let attempts = state.config.automations.step_attempts;
    schedule_next(state.store.as_ref(), rule, Millis::now(), attempts).await?;
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/v1/automations",
    operation_id = "automations.list",
    tag = "automations",
    summary = "Automation rules",
    responses((status = 200, description = "every rule of the tenant", body = Page<RuleView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ManageAutomations>,
) -> Result<HttpResponse, ApiError> {
    let rules = state.store.rules(auth.caller.tenant_id()).await?;
    Ok(HttpResponse::Ok().json(Page::whole(rules.iter().map(rule_view).collect())))
}

#[utoipa::path(
    post,
    path = "/api/v1/automations",
    operation_id = "automations.create",
    tag = "automations",
    summary = "Create a rule",
    request_body = RuleRequest,
    responses((status = 201, description = "the rule", body = RuleView))
)]
pub async fn create(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageAutomations>,
    body: Json<RuleRequest>,
) -> Result<HttpResponse, ApiError> {
    let (definition, enabled) = body.into_inner().definition(&state)?;
    let tenant = auth.caller.tenant_id();
    if state.store.rules(tenant).await?.len() >= MAX_RULES {
        return Err(ApiError::new(
            ErrorCode::LimitReached,
            format!("a tenant holds at most {MAX_RULES} automation rules; remove one first"),
        ));
    }
    let now = Millis::now();
    let rule = Rule {
        id: RuleId::new(),
        tenant_id: tenant,
        enabled,
        definition,
        created_at: now,
        updated_at: now,
    };
    state.store.save_rule(&rule, false).await?;
    schedule(&state, &rule).await?;
    audit_rule(&state, &client, &auth, "automation.create", &rule).await;
    Ok(HttpResponse::Created().json(rule_view(&rule)))
}

#[utoipa::path(
    get,
    path = "/api/v1/automations/{id}",
    operation_id = "automations.get",
    tag = "automations",
    summary = "One rule",
    params(("id" = Uuid, Path, description = "the rule's id")),
    responses((status = 200, description = "the rule", body = RuleView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ManageAutomations>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let rule = found(&state, &auth, *id).await?;
    Ok(HttpResponse::Ok().json(rule_view(&rule)))
}

#[utoipa::path(
    put,
    path = "/api/v1/automations/{id}",
    operation_id = "automations.replace",
    tag = "automations",
    summary = "Replace a rule",
    params(("id" = Uuid, Path, description = "the rule's id")),
    request_body = RuleRequest,
    responses((status = 200, description = "the rule as saved", body = RuleView))
)]
pub async fn replace(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageAutomations>,
    id: web::Path<Uuid>,
    body: Json<RuleRequest>,
) -> Result<HttpResponse, ApiError> {
    let (definition, enabled) = body.into_inner().definition(&state)?;
    let mut rule = found(&state, &auth, *id).await?;
    rule.definition = definition;
    rule.enabled = enabled;
    rule.updated_at = Millis::now();
    if !state.store.save_rule(&rule, true).await? {
        return Err(ApiError::not_found("automation rule"));
    }
    schedule(&state, &rule).await?;
    audit_rule(&state, &client, &auth, "automation.update", &rule).await;
    Ok(HttpResponse::Ok().json(rule_view(&rule)))
}

async fn set_enabled(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageAutomations>,
    id: Uuid,
    enabled: bool,
) -> Result<HttpResponse, ApiError> {
    let mut rule = found(&state, &auth, id).await?;
    if rule.enabled != enabled {
        rule.enabled = enabled;
        rule.updated_at = Millis::now();
        if !state.store.save_rule(&rule, true).await? {
            return Err(ApiError::not_found("automation rule"));
        }
        schedule(&state, &rule).await?;
        let action = if enabled {
            "automation.enable"
        } else {
            "automation.disable"
        };
        audit_rule(&state, &client, &auth, action, &rule).await;
    }
    Ok(HttpResponse::Ok().json(rule_view(&rule)))
}

#[utoipa::path(
    post,
    path = "/api/v1/automations/{id}/enable",
    operation_id = "automations.enable",
    tag = "automations",
    summary = "Switch a rule on",
    params(("id" = Uuid, Path, description = "the rule's id")),
    responses((status = 200, description = "the rule", body = RuleView))
)]
pub async fn enable(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageAutomations>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(state, client, auth, *id, true).await
}

#[utoipa::path(
    post,
    path = "/api/v1/automations/{id}/disable",
    operation_id = "automations.disable",
    tag = "automations",
    summary = "Switch a rule off",
    params(("id" = Uuid, Path, description = "the rule's id")),
    responses((status = 200, description = "the rule", body = RuleView))
)]
pub async fn disable(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageAutomations>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(state, client, auth, *id, false).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/automations/{id}",
    operation_id = "automations.delete",
    tag = "automations",
    summary = "Delete a rule",
    params(("id" = Uuid, Path, description = "the rule's id")),
    responses((status = 204, description = "deleted"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageAutomations>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let rule = found(&state, &auth, *id).await?;
    if !state.store.delete_rule(rule.tenant_id, rule.id).await? {
        return Err(ApiError::not_found("automation rule"));
    }
    audit_rule(&state, &client, &auth, "automation.delete", &rule).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// A run id: runs older than it.
    before: Option<Uuid>,
    /// At most 200 per page (a larger value gives 200); 50 when left out.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

/// A rule's runs, newest first; `before` (a run id) pages back.
#[utoipa::path(
    get,
    path = "/api/v1/automations/{id}/runs",
    operation_id = "automations.runs",
    tag = "automations",
    summary = "A rule's runs",
    params(("id" = Uuid, Path, description = "the rule's id"), RunsQuery),
    responses((status = 200, description = "`{data: [...]}`, newest first", body = Object))
)]
pub async fn runs(
    state: web::Data<AppState>,
    auth: Authorized<ManageAutomations>,
    id: web::Path<Uuid>,
    page: Query<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let rule = found(&state, &auth, *id).await?;
    let limit = page.limit.unwrap_or(50).clamp(1, 200);
    let runs = state
        .store
        .runs(rule.tenant_id, rule.id, page.before.map(RunId), limit)
        .await?;
    let views: Vec<Value> = runs.iter().map(Run::view).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": views })))
}

#[utoipa::path(
    get,
    path = "/api/v1/automations/runs/{id}",
    operation_id = "automations.run",
    tag = "automations",
    summary = "One run, step by step",
    params(("id" = Uuid, Path, description = "the run's id")),
    responses((status = 200, description = "the run", body = Object))
)]
pub async fn run(
    state: web::Data<AppState>,
    auth: Authorized<ManageAutomations>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let run = state
        .store
        .run(auth.caller.tenant_id(), RunId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("automation run"))?;
    Ok(HttpResponse::Ok().json(run.view()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    /// The offset of a past event in the tenant's stream.
    offset: i64,
}

/// What the rule would do for a past event: whether it applies to each happening the
/// event makes, and the actions it would take. Nothing is done or recorded.
#[utoipa::path(
    post,
    path = "/api/v1/automations/{id}/dry-run",
    operation_id = "automations.dry_run",
    tag = "automations",
    summary = "What a rule would do with a past event",
    params(("id" = Uuid, Path, description = "the rule's id")),
    request_body = DryRun,
    responses((status = 200, description = "the conditions' verdicts and the actions it would take", body = Object))
)]
pub async fn dry_run(
    state: web::Data<AppState>,
    auth: Authorized<ManageAutomations>,
    id: web::Path<Uuid>,
    body: Json<DryRun>,
) -> Result<HttpResponse, ApiError> {
    let rule = found(&state, &auth, *id).await?;
    let tenant = rule.tenant_id;
    let offset = body.offset;
    let event = state
        .store
        .events_after(tenant, offset.saturating_sub(1), 1)
        .await?
        .into_iter()
        .find(|e| e.offset == offset)
        .ok_or_else(|| ApiError::not_found("event (it may be older than the stream keeps)"))?;
    let found = event_happenings(state.store.as_ref(), tenant, &event, true).await?;
    let patterns = Patterns::of(std::slice::from_ref(&rule));
    let mut judged = Vec::new();
    let mut shared = EventFacts::default();
    for happening in &found {
        let facts = shared.of(state.store.as_ref(), tenant, happening).await?;
        let trigger_matches = rule.definition.trigger.kind() == happening.kind;
        judged.push(json!({
            "happening": happening,
            "trigger_matches": trigger_matches,
            "applies": trigger_matches && applies(&rule, happening, &facts, &patterns),
        }));
    }
    let would_run = judged.iter().any(|j| j["applies"] == Value::Bool(true));
    Ok(HttpResponse::Ok().json(json!({
        "offset": offset,
        "event_type": event.kind.as_str(),
        "happenings": judged,
        "would_run": would_run,
        "actions": if would_run { json!(rule.definition.actions) } else { json!([]) },
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// `queued`, `running`, `done` or `dead` (the default).
    state: Option<String>,
    /// At most 200 per page (a larger value gives 200); 50 when left out.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

/// The tenant's jobs in a state (`dead` unless asked), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    operation_id = "jobs.jobs",
    tag = "jobs",
    summary = "Durable jobs by state",
    params(JobsQuery),
    responses((status = 200, description = "newest first", body = Page<JobView>))
)]
pub async fn jobs(
    state: web::Data<AppState>,
    auth: Authorized<ManageAutomations>,
    query: Query<JobsQuery>,
) -> Result<HttpResponse, ApiError> {
    let wanted = match query.state.as_deref() {
        None => JobState::Dead,
        Some(text) => JobState::parse(text).map_err(|err| ApiError::invalid(err.0))?,
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let jobs = state
        .store
        .jobs(auth.caller.tenant_id(), wanted, limit)
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(jobs.iter().map(job_view).collect())))
}

/// Queues a dead job again, due now, its attempts reset.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/retry",
    operation_id = "jobs.retry_job",
    tag = "jobs",
    summary = "Queue a dead job again",
    params(("id" = Uuid, Path, description = "the job's id")),
    responses((status = 200, description = "the job, queued again", body = JobView))
)]
pub async fn retry_job(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageAutomations>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let id = JobId(*id);
    if !state.store.retry_job(tenant, id, Millis::now()).await? {
        return Err(ApiError::not_found("dead job"));
    }
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "job.retry",
        target: Some(("job", id.to_string())),
        details: json!({}),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    let job = state
        .store
        .job(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    Ok(HttpResponse::Ok().json(job_view(&job)))
}
