//! WhatsApp Web sessions: one `ChannelSessionActor` per session on the node that
//! holds its lease, driving a client through the `SessionDriver` port.

pub mod actor;
pub mod driver;
mod host;
pub mod keys;
pub mod registry;
pub mod relay;
pub mod settings;
pub mod state;
pub mod stats;
pub mod store;

pub use actor::{Ending, SessionError};
pub use host::KeysFactory;
pub use registry::Sessions;
pub use settings::SessionSettings;
pub use state::{SessionDetail, SessionRecord, SessionState, Transition};
