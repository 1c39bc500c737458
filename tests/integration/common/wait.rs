//! Waiting on observable state: the one way tests wait for the server to get somewhere.
//! No test orders events with a fixed sleep; each polls what a user could see (an API
//! answer, a metric, a file) until it holds, and fails with a message after a generous
//! deadline rather than hanging.

use std::future::Future;
use std::time::{Duration, Instant};

/// Long enough for a loaded 2-core CI machine; a healthy run takes milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it yields `Some`, and returns that. Panics naming `what` when
/// `DEADLINE` passes first.
pub async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `check` until it is true.
pub async fn until_true<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until(what, || {
        let ready = check();
        async move { ready.await.then_some(()) }
    })
    .await
}

/// Polls a metric of the node at `base` until `holds` is true of its value.
pub async fn until_metric(base: &str, name: &str, labels: &str, holds: impl Fn(f64) -> bool) {
    until_true(&format!("{name}{{{labels}}}"), || async {
        holds(super::metric(base, name, labels).await)
    })
    .await
}
