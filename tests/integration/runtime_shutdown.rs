//! A runtime that stops while one of its tasks holds a database connection.
//!
//! actix drops a `LocalSet`'s tasks where no Tokio context is current. A pooled
//! connection dropped there used to panic; Tokio catches a panic while dropping a
//! task, but the next connection dropped while that panic unwound panicked again, and
//! a panic during a panic aborts the whole process (patches/sqlx-core/README.md).

use std::time::Duration;

use sqlx::sqlite::SqlitePoolOptions;

#[test]
fn a_task_holding_pooled_connections_can_be_dropped_with_its_stopping_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite").display()
    );
    let system = actix_rt::System::new();
    let pool = system.block_on(async {
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap();
        let (held_tx, held_rx) = tokio::sync::oneshot::channel();
        let holder = pool.clone();
        actix_rt::spawn(async move {
            let first = holder.acquire().await.unwrap();
            let second = holder.acquire().await.unwrap();
            held_tx.send(()).unwrap();
            // Parked with both connections until the runtime drops this task.
            std::future::pending::<()>().await;
            drop((first, second));
        });
        held_rx.await.unwrap();
        pool
    });
    assert_eq!(pool.size(), 2);
    assert_eq!(pool.num_idle(), 0);

    drop(system);

    assert_eq!(
        pool.size(),
        0,
        "the dropped connections are closed, not leaked"
    );
    let reopened = actix_rt::System::new().block_on(async {
        tokio::time::timeout(Duration::from_secs(10), pool.acquire())
            .await
            .map(|conn| conn.is_ok())
    });
    assert_eq!(
        reopened,
        Ok(true),
        "the pool opens a new connection in its place"
    );
}
