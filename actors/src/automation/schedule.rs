//! Schedule triggers: a cron pattern (five fields, or six with seconds first) read in
//! an IANA time zone, so "0 9 * * 1-5" in Europe/Lisbon is nine in Lisbon whatever the
//! season. Each tick is an `automation.tick` job keyed by rule and tick: every node
//! may add it (when a rule is saved, at start), the key keeps it one, and one node
//! runs it. A tick adds the next tick's job before it starts its run, so the chain
//! goes on by itself; ticks missed while no node ran are not made up (the next one
//! after now is scheduled).

use super::conditions::{Facts, Patterns};
use super::engine::{Starter, applies};
use super::happening::Happening;
use super::rules::{Trigger, TriggerKind};
use super::{Rule, TICK_JOB};
use crate::domain::InvalidValue;
use crate::jobs::runner::{JobFailure, JobHandler};
use crate::jobs::{Job, NewJob};
use crate::store::{Store, StoreError};
use crate::{Millis, RuleId, TenantId};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::Deserialize;
use serde_json::json;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How late a tick may run and still be followed by the tick after it rather than by
/// the next one after now.
const CATCH_UP_MS: i64 = 60_000;

/// Ticks looked at to find a schedule's shortest gap.
const GAP_SAMPLE: usize = 12;

pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

impl Schedule {
    pub fn parse(pattern: &str, zone: &str) -> Result<Self, InvalidValue> {
        let cron = Cron::from_str(pattern)
            .map_err(|err| InvalidValue(format!("trigger.cron '{pattern}': {err}")))?;
        let zone = Tz::from_str(zone).map_err(|_| {
            InvalidValue(format!(
                "trigger.time_zone '{zone}' is not an IANA time zone such as Europe/Lisbon"
            ))
        })?;
        Ok(Self { cron, zone })
    }

    /// The rule's schedule, when its trigger is one.
    pub fn of(rule: &Rule) -> Option<Self> {
        match &rule.definition.trigger {
            Trigger::Schedule { cron, time_zone } => Self::parse(cron, time_zone).ok(),
            _ => None,
        }
    }

    /// The first tick after `at`.
    pub fn next_after(&self, at: Millis) -> Option<Millis> {
        let start = Utc
            .timestamp_millis_opt(at.0)
            .single()?
            .with_timezone(&self.zone);
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        Some(Millis(next.timestamp_millis()))
    }

    /// The shortest time between two of the next ticks after `at` (None: it never
    /// ticks twice).
    pub fn shortest_gap(&self, at: Millis) -> Option<Duration> {
        let mut ticks = Vec::with_capacity(GAP_SAMPLE);
        let mut from = at;
        while ticks.len() < GAP_SAMPLE {
            let Some(next) = self.next_after(from) else {
                break;
            };
            ticks.push(next);
            from = next;
        }
        ticks
            .windows(2)
            .map(|pair| Duration::from_millis(u64::try_from(pair[1].0 - pair[0].0).unwrap_or(0)))
            .min()
    }
}

/// The job of the rule's tick at `tick`.
fn tick_job(tenant: TenantId, rule: RuleId, tick: Millis, attempts: u32) -> NewJob {
    NewJob {
        tenant,
        kind: TICK_JOB.to_owned(),
        payload: json!({ "rule_id": rule, "tick": tick.0 }),
        run_at: tick,
        max_attempts: attempts,
        idempotency_key: Some(format!("tick:{rule}:{}", tick.0)),
    }
}

/// Makes sure an enabled schedule rule's next tick after `now` is a job (once, whoever
/// asks).
pub async fn schedule_next(
    store: &dyn Store,
    rule: &Rule,
    now: Millis,
    attempts: u32,
) -> Result<(), StoreError> {
    let Some(next) = Schedule::of(rule)
        .filter(|_| rule.enabled)
        .and_then(|s| s.next_after(now))
    else {
        return Ok(());
    };
    store
        .add_job(&tick_job(rule.tenant_id, rule.id, next, attempts), now)
        .await?;
    Ok(())
}

/// At start: every enabled schedule rule's next tick (a chain broken while no node ran
/// is joined again).
pub async fn schedule_all(store: &dyn Store, attempts: u32) -> Result<(), StoreError> {
    let now = Millis::now();
    for rule in store
        .enabled_rules_of_kind(TriggerKind::Schedule.as_str())
        .await?
    {
        schedule_next(store, &rule, now, attempts).await?;
    }
    Ok(())
}

/// `automation.tick`: one tick of a schedule rule.
pub struct Ticks {
    starter: Arc<Starter>,
}

impl Ticks {
    pub fn new(starter: Arc<Starter>) -> Self {
        Self { starter }
    }
}

#[derive(Deserialize)]
struct TickPayload {
    rule_id: RuleId,
    tick: i64,
}

#[async_trait]
impl JobHandler for Ticks {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let payload: TickPayload = serde_json::from_value(job.payload.clone())
            .map_err(|err| JobFailure::Permanent(format!("unreadable tick: {err}")))?;
        let store = self.starter.store.as_ref();
        let retry = |err: StoreError| JobFailure::Retry(err.to_string());
        let Some(rule) = store
            .rule(job.tenant_id, payload.rule_id)
            .await
            .map_err(retry)?
            .filter(|r| r.enabled)
        else {
            return Ok(());
        };
        let tick = Millis(payload.tick);
        // An edited schedule may no longer tick then: its own next tick was added when
        // it was saved.
        let current =
            Schedule::of(&rule).is_some_and(|s| s.next_after(Millis(tick.0 - 1)) == Some(tick));
        if !current {
            return Ok(());
        }
        let attempts = self.starter.settings.step_attempts;
        // A tick run late (a busy node, a restart) is followed by the one after it, so
        // none is lost; one later than `CATCH_UP` by the next after now.
        let now = Millis::now();
        let from = if now.0 - tick.0 <= CATCH_UP_MS {
            tick
        } else {
            now
        };
        schedule_next(store, &rule, from, attempts)
            .await
            .map_err(retry)?;
        let happening = Happening {
            kind: TriggerKind::Schedule,
            offset: 0,
            at: tick,
            conversation_id: None,
            channel: None,
            message: None,
            analysed: false,
            detail: json!({ "tick": tick.to_rfc3339() }),
            depth: 0,
            caused_by: None,
        };
        let patterns = Patterns::of(std::slice::from_ref(&rule));
        if !applies(&rule, &happening, &Facts::default(), &patterns) {
            return Ok(());
        }
        self.starter
            .start(job.tenant_id, &rule, &happening, format!("tick:{}", tick.0))
            .await
            .map_err(retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weekday_morning_in_lisbon_follows_its_summer_time() {
        let schedule = Schedule::parse("0 9 * * 1-5", "Europe/Lisbon").unwrap();
        // Friday 2026-07-03 12:00Z: the next is Monday 09:00 WEST, 08:00Z.
        let summer = Millis(1_783_080_000_000);
        assert_eq!(
            schedule
                .next_after(summer)
                .map(Millis::to_rfc3339)
                .as_deref(),
            Some("2026-07-06T08:00:00Z")
        );
        // Friday 2026-01-02 12:00Z: Monday 09:00 WET is 09:00Z.
        let winter = Millis(1_767_355_200_000);
        assert_eq!(
            schedule
                .next_after(winter)
                .map(Millis::to_rfc3339)
                .as_deref(),
            Some("2026-01-05T09:00:00Z")
        );
        assert_eq!(
            schedule.shortest_gap(winter),
            Some(Duration::from_secs(86_400))
        );
    }

    #[test]
    fn seconds_are_an_optional_first_field_and_bad_input_is_named() {
        let every_two = Schedule::parse("*/2 * * * * *", "UTC").unwrap();
        assert_eq!(every_two.next_after(Millis(1_000)), Some(Millis(2_000)));
        assert_eq!(
            every_two.shortest_gap(Millis(0)),
            Some(Duration::from_secs(2))
        );
        let bad = Schedule::parse("61 * * * *", "UTC").err().unwrap();
        assert!(bad.0.starts_with("trigger.cron '61 * * * *'"), "{}", bad.0);
        let zone = Schedule::parse("0 9 * * *", "Mars/Olympus").err().unwrap();
        assert!(
            zone.0.starts_with("trigger.time_zone 'Mars/Olympus'"),
            "{}",
            zone.0
        );
    }
}
