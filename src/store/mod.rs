//! Adapters for the `Store` port.

mod inbox_rows;
mod inbox_sql;
mod postgres;
mod rows;
mod sql;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
