//! Switchboard: a real-time messaging server for customer conversations.
//!
//! `main.rs` is a thin shell around `Application`; everything else lives here so that
//! integration tests start the real server in-process.

pub mod ai;
pub mod api;
mod audit;
pub mod auth;
mod automation_calls;
pub mod bootstrap;
pub mod broadcasts;
pub mod bus;
pub mod channels;
pub mod config;
pub mod error;
mod files;
pub mod http;
pub mod outbound_webhooks;
mod secrets;
pub mod simulate;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
mod web_ui;
pub mod webhooks;
pub mod whatsapp_web;
pub mod ws;

pub use startup::{Application, StartError};

/// jemalloc rather than the system allocator: memory held by many small, long-lived
/// allocations (sockets, actors, queues) goes back to the system when they end, and
/// the bytes the process holds are counted, for `/metrics` (`process_heap_bytes`).
/// Declared here, not in `main.rs`, so in-process test servers run on it too.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
