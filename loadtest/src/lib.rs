//! Load generator for Switchboard deployments, and the peers it is measured against.
//!
//! Every scenario creates what it needs through the public API (tenants by registration,
//! agents by invitation, WhatsApp channels), drives traffic, and returns a [`report::Run`]:
//! figures, latency distributions, correctness counters, CPU and memory of the processes
//! involved, and the targets from DESIGN.md each figure is held against.
//!
//! Measurement rules:
//! - webhooks are sent open loop at a fixed rate; latency runs from each send's *intended*
//!   time, so a stalled server shows as latency, not as fewer sends;
//! - every customer message carries its tenant, sender, sequence number and intended time
//!   (`frames::Marker`), and agents read their arrival time on the same process clock
//!   (`clock`), so one clock measures both ends;
//! - every run counts messages lost, duplicated, delivered out of order or delivered to
//!   the wrong tenant (`traffic::Correctness`).

pub mod agent;
pub mod clock;
pub mod frames;
pub mod latency;
pub mod plot;
pub mod procstat;
pub mod provider;
pub mod report;
pub mod scenarios;
pub mod serve;
pub mod setup;
pub mod traffic;

/// Errors are reported to the person running the tool, so a message is all they carry.
pub type Result<T> = std::result::Result<T, String>;

/// Which server the generator drives; the peers speak a thin adapter of our protocol.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// Switchboard itself: the public API, signed webhooks, `/ws`.
    Switchboard,
    /// The Node.js reference in `loadtest/peers/node` (Socket.IO, Redis adapter, pg).
    Socketio,
    /// The bare tokio broadcaster in `loadtest/peers/bare` (no persistence).
    Bare,
}
