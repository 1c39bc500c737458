//! The embedded default store: one SQLite file in WAL mode.
//!
//! Durability: `synchronous` is configurable and defaults to FULL, so a transaction
//! that has committed (and so an acknowledged request) survives a process crash and a
//! power loss. NORMAL survives a process crash but may lose the last commits on power
//! loss, in exchange for fewer fsyncs.

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
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

/// How long a connection waits for a lock before SQLite reports SQLITE_BUSY. Writes
/// queue in the one-connection writer pool, so this only covers checkpoints and
/// outside tools holding the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqlBackend for SqliteStore {
    type Db = sqlx::Sqlite;
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }
    fn reader(&self) -> &SqlitePool {
        &self.reader
    }
    /// Takes the write lock up front. A deferred transaction that read first must
    /// upgrade its snapshot to write, and SQLite fails that at once (no busy wait) when
    /// another process wrote in between.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>> + Send
    {
        self.writer.begin_with("BEGIN IMMEDIATE")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the migrations.
    pub async fn open(
        path: &Path,
        readers: u32,
        synchronous_full: bool,
    ) -> Result<Self, sqlx::Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(crate::files::PRIVATE_DIR)
                .create(dir)
                .map_err(sqlx::Error::Io)?;
        }
        // SQLite gives its WAL and shared-memory files the database file's mode, so a
        // private database file keeps all three private.
        crate::files::private_file(path).map_err(sqlx::Error::Io)?;
        for suffix in ["-wal", "-shm", ".open-lock"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            crate::files::restrict(Path::new(&side), crate::files::PRIVATE_FILE)
                .map_err(sqlx::Error::Io)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // Opening (journal mode, migrations) runs under an OS lock, so that processes
        // starting together on one new file take turns instead of failing on each other.
        let lock = open_lock(path).await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .connect_with(options.read_only(true))
            .await?;
        drop(lock);
        Ok(Self { writer, reader })
    }
}

/// sqlx's migrator takes no lock on SQLite (it does on Postgres), so two processes
/// opening one new file would both apply the first migration and one would fail. An
/// exclusive OS lock on a file beside the database serialises them; the lock is
/// released when the returned file is dropped.
async fn open_lock(db_path: &Path) -> Result<std::fs::File, sqlx::Error> {
    let mut lock_path = db_path.as_os_str().to_owned();
    lock_path.push(".open-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(crate::files::PRIVATE_FILE)
        .open(lock_path)?;
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|err| sqlx::Error::Io(std::io::Error::other(err)))?
        .map_err(sqlx::Error::Io)
}

impl_sql_store!(SqliteStore, "sqlite");
impl_inbox_store!(SqliteStore, sqlite);
impl_channel_store!(SqliteStore);
impl_session_store!(SqliteStore);
impl_pipeline_store!(SqliteStore, sqlite);
impl_knowledge_store!(SqliteStore, sqlite);
impl_reply_store!(SqliteStore);
impl_automation_store!(SqliteStore);
impl_contacts_store!(SqliteStore);
impl_quick_reply_store!(SqliteStore);
impl_broadcast_store!(SqliteStore);
impl_webhook_store!(SqliteStore);
impl_job_store!(SqliteStore, "");
