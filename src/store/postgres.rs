//! The production store: a pooled Postgres connection.

use super::channel_sql::impl_channel_store;
use super::inbox_sql::impl_inbox_store;
use super::sql::{SqlBackend, impl_sql_store};
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// How long a request waits for a free connection before failing with 500; a longer
/// wait only piles up requests behind an overloaded database.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    pool: PgPool,
}

impl SqlBackend for PostgresStore {
    type Db = sqlx::Postgres;
    fn writer(&self) -> &PgPool {
        &self.pool
    }
    fn reader(&self) -> &PgPool {
        &self.pool
    }
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send
    {
        self.pool.begin()
    }
}

impl PostgresStore {
    /// Connects and applies the migrations. Several nodes may start at once: sqlx
    /// takes an advisory lock while migrating.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

impl_sql_store!(PostgresStore, "postgres");
impl_inbox_store!(PostgresStore);
impl_channel_store!(PostgresStore);
