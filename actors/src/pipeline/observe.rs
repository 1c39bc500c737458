//! What the pipeline reports for `/metrics`: the server implements this over its
//! Prometheus recorder (`telemetry.rs`), so the core needs no metrics library.

use super::handoff::HandoffTrigger;
use super::scoring::Temperature;

pub trait PipelineObserver: Send + Sync + 'static {
    /// A stage answered (`outcome` "ok") or failed (`StageFailure::label`) after
    /// `seconds`, the wait for its mailbox included.
    fn stage(&self, stage: &'static str, seconds: f64, outcome: &'static str);

    /// Messages given to a stage and not answered yet went up or down by `delta`.
    fn in_flight(&self, stage: &'static str, delta: i64);

    /// A message was recorded: its conversation's temperature after it, and the
    /// time from the message's commit to its insight's.
    fn scored(&self, temperature: Temperature, lag_seconds: f64);

    /// A conversation went to a person.
    fn handoff(&self, trigger: HandoffTrigger);
}

/// Reports nothing: for the stage's own tests.
#[cfg(test)]
pub struct Unobserved;

#[cfg(test)]
impl PipelineObserver for Unobserved {
    fn stage(&self, _: &'static str, _: f64, _: &'static str) {}
    fn in_flight(&self, _: &'static str, _: i64) {}
    fn scored(&self, _: Temperature, _: f64) {}
    fn handoff(&self, _: HandoffTrigger) {}
}
