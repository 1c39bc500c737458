//! The loop of a delivery worker: one task per channel serving its queue in order.
//! It is a task, not an actor (see docs/architecture.md): nothing else talks to it,
//! it only waits on the queue, the rate limit and the provider. What a supervisor
//! would give it is given here: a panic while handling one item is caught, that item
//! gets `recover` (the reply fails, visibly, with a reason an agent can act on), and
//! the loop goes on, so one bad reply cannot strand the replies queued behind it.

use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tokio::sync::mpsc;

pub async fn serve_each<T, W, WF, R, RF>(mut queue: mpsc::Receiver<T>, mut work: W, mut recover: R)
where
    T: Clone,
    W: FnMut(T) -> WF,
    WF: Future<Output = ()>,
    R: FnMut(T) -> RF,
    RF: Future<Output = ()>,
{
    while let Some(item) = queue.recv().await {
        if AssertUnwindSafe(work(item.clone()))
            .catch_unwind()
            .await
            .is_err()
            && AssertUnwindSafe(recover(item))
                .catch_unwind()
                .await
                .is_err()
        {
            tracing::error!("a delivery worker could not record a failed item; going on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[actix_rt::test]
    async fn a_panic_fails_its_own_item_and_the_queue_behind_it_is_served() {
        let (queue, items) = mpsc::channel(8);
        for n in 1..=4 {
            queue.send(n).await.unwrap();
        }
        drop(queue);
        let (served, recovered) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(Mutex::new(Vec::new())),
        );
        let (s, r) = (served.clone(), recovered.clone());
        serve_each(
            items,
            move |n: u32| {
                let s = s.clone();
                async move {
                    assert_ne!(n, 2, "a bug while sending reply 2");
                    s.lock().unwrap().push(n);
                }
            },
            move |n| {
                let r = r.clone();
                async move { r.lock().unwrap().push(n) }
            },
        )
        .await;
        assert_eq!(*served.lock().unwrap(), [1, 3, 4]);
        assert_eq!(*recovered.lock().unwrap(), [2]);
    }
}
