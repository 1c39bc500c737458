//! The rules of the inbound pipeline (seed 002's agents 1 to 4): the guardrail,
//! understanding, sentiment and lead scoring, pure functions of a message and its
//! conversation. They need no key and no download, so every install has them; a
//! model, where a tenant configures one, only adds to them.

pub mod guardrail;
pub mod handoff;
pub mod language;
pub mod model;
pub mod observe;
pub mod patterns;
pub mod pipelines;
mod priority;
pub mod queue;
pub mod scoring;
pub mod sentiment;
pub mod settings;
pub mod stage;
pub mod stages;
pub mod store;
pub mod understanding;
pub mod words;
