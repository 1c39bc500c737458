//! Adapters of the `Bus` port. One node uses `LocalBus` (in `actors/`); several nodes
//! on one database use Redis pub/sub.

pub mod redis;
