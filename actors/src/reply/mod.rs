//! AI replies (seed 002's agent 5 with its output guardrail): for a customer message
//! in a conversation the bot has, a reply drafted for the agents (`suggest`) or sent
//! (`auto`) by the tenant's language model, grounded in its knowledge base, checked
//! before it goes out, and replaced by the tenant's fallback (or a handoff) when no
//! usable answer comes. The worker (`replies.rs`) follows the tenant's stream after the
//! pipeline: it acts on each `message.insights` event.

pub mod answer;
pub mod cache;
pub mod guard;
pub mod hours;
pub mod prompt;
pub mod replies;
pub mod settings;
pub mod store;
