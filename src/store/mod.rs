//! Adapters for the `Store` port.

mod postgres;
mod rows;
mod sql;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
