//! The production store: a pooled Postgres connection.

use super::automation_sql::impl_automation_store;
use super::broadcast_sql::impl_broadcast_store;
use super::channel_sql::impl_channel_store;
use super::contacts_sql::impl_contacts_store;
use super::inbox_sql::impl_inbox_store;
use super::job_sql::impl_job_store;
use super::knowledge_sql::impl_knowledge_store;
use super::pipeline_sql::impl_pipeline_store;
use super::quick_reply_sql::impl_quick_reply_store;
use super::reply_sql::impl_reply_store;
use super::session_sql::impl_session_store;
use super::sql::{SqlBackend, impl_sql_store};
use super::webhook_sql::impl_webhook_store;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::time::Duration;

/// How long a request waits for a free connection before failing with 500; a longer
/// wait only piles up requests behind an overloaded database.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    pool: PgPool,
    /// The ingest writers' own connections, opened lazily by the writers. A connection
    /// answers on the runtime that opened it: opened here by the writers' thread, a
    /// database reply wakes only that thread, not an HTTP worker first.
    ingest: PgPool,
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
    fn begin_ingest(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send
    {
        self.ingest.begin()
    }
}

impl PostgresStore {
    /// Connects and applies the migrations, then refreshes the planner's statistics of
    /// a database that holds messages (a migration can add an index the planner knows
    /// nothing about yet). Several
    /// nodes may start at once: sqlx takes an advisory lock while migrating.
    ///
    /// `max_connections` serve requests; the ingest writers have up to half as many
    /// again (at least one) of their own.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        // Not on an empty database: statistics that say "empty" outlive the first
        // rows, and the planner keeps scanning tables it believes hold nothing, until
        // autovacuum analyses them. Never analysed, a table is estimated from its size.
        let (populated,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM messages)")
            .fetch_one(&pool)
            .await?;
        if populated {
            sqlx::query("ANALYZE").execute(&pool).await?;
        }
        // Ingest statements take arrays, and Postgres plans each execution anew when a
        // plan for the array at hand looks cheaper than the generic one, which at low
        // load (a batch of one) cost more than running the statements. They are
        // written so that the generic plan is right at any size (`ingest_io.rs`): every
        // one is a probe or a write by key. A connection keeps its plans, made when it
        // first ran each statement; if the tables were small then, a scan looked
        // cheaper than the index and stayed the plan as they grew (measured: 87,113
        // scans of `contact_identities` in 22 s). With scans priced out, the plan is
        // the index whatever the tables held at the time.
        let ingest = PgPoolOptions::new()
            .max_connections((max_connections / 2).max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.options([
                ("plan_cache_mode", "force_generic_plan"),
                ("enable_seqscan", "off"),
            ]));
        Ok(Self { pool, ingest })
    }
}

impl_sql_store!(PostgresStore, "postgres");
impl_inbox_store!(PostgresStore, postgres);
impl_channel_store!(PostgresStore);
impl_session_store!(PostgresStore);
impl_pipeline_store!(PostgresStore, postgres);
impl_knowledge_store!(PostgresStore, postgres);
impl_reply_store!(PostgresStore);
impl_automation_store!(PostgresStore);
impl_contacts_store!(PostgresStore);
impl_quick_reply_store!(PostgresStore);
impl_broadcast_store!(PostgresStore);
impl_webhook_store!(PostgresStore);
impl_job_store!(PostgresStore, " FOR UPDATE SKIP LOCKED");
