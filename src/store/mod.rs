//! Adapters for the `Store` port.

mod automation_sql;
mod broadcast_sql;
mod channel_rows;
mod channel_sql;
mod contacts_sql;
mod cursor_sql;
mod inbox_rows;
mod inbox_sql;
mod ingest_io;
mod job_sql;
mod knowledge_io;
mod knowledge_sql;
mod pipeline_io;
mod pipeline_rows;
mod pipeline_sql;
mod postgres;
mod quick_reply_sql;
mod reply_sql;
mod rows;
mod session_rows;
mod session_sql;
mod sql;
mod sqlite;
mod webhook_sql;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
