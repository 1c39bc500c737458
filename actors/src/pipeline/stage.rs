//! A pipeline stage as a supervised actor: a bounded mailbox, a deadline per item,
//! and a caught panic. Whatever goes wrong, the caller gets `Err(reason)` and goes on
//! with the stage's fallback; the actor stops after a panic or a missed deadline and
//! its supervisor starts it afresh, so a stage that hung or broke serves the next
//! message clean. Items run concurrently inside the actor: one slow item (a model
//! call) never holds up the others.

use actix::prelude::*;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::observe::PipelineObserver;

/// Why a stage gave no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageFailure {
    #[error("panicked")]
    Panicked,
    #[error("timed out after {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// The mailbox stayed full for the caller's whole wait.
    #[error("busy")]
    Busy,
    /// The actor stopped with the item in its mailbox (it is restarting).
    #[error("restarting")]
    Restarting,
}

impl StageFailure {
    /// The metric label of the outcome.
    pub fn label(&self) -> &'static str {
        match self {
            StageFailure::Panicked => "panicked",
            StageFailure::TimedOut(_) => "timed_out",
            StageFailure::Busy => "busy",
            StageFailure::Restarting => "restarting",
        }
    }
}

/// The work of a stage: an input to an output, as a future (rules finish at once, a
/// model call waits).
pub type Work<I, O> = Arc<dyn Fn(I) -> BoxFuture<'static, O> + Send + Sync>;

pub struct StageActor<I: Send + 'static, O: Send + 'static> {
    name: &'static str,
    work: Work<I, O>,
    deadline: Duration,
    mailbox: usize,
    restarts: Arc<AtomicU64>,
}

#[derive(Message)]
#[rtype(result = "Result<O, StageFailure>")]
struct Run<I: Send + 'static, O: Send + 'static>(I, std::marker::PhantomData<O>);

impl<I: Send + 'static, O: Send + 'static> Actor for StageActor<I, O> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox);
    }
}

impl<I: Send + 'static, O: Send + 'static> Supervised for StageActor<I, O> {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(stage = self.name, "pipeline stage restarted");
    }
}

impl<I: Send + 'static, O: Send + 'static> Handler<Run<I, O>> for StageActor<I, O> {
    type Result = ResponseActFuture<Self, Result<O, StageFailure>>;

    fn handle(&mut self, Run(input, _): Run<I, O>, _: &mut Self::Context) -> Self::Result {
        let deadline = self.deadline;
        // A panic while building the future is caught like one while running it.
        let work = std::panic::catch_unwind(AssertUnwindSafe(|| (self.work)(input)));
        let run = async move {
            let work = work.map_err(|_| StageFailure::Panicked)?;
            match tokio::time::timeout(deadline, AssertUnwindSafe(work).catch_unwind()).await {
                Ok(Ok(output)) => Ok(output),
                Ok(Err(_)) => Err(StageFailure::Panicked),
                Err(_) => Err(StageFailure::TimedOut(deadline)),
            }
        };
        Box::pin(run.into_actor(self).map(|result, _, ctx| {
            if result.is_err() {
                // Start afresh: whatever the stage held may be what broke it.
                ctx.stop();
            }
            result
        }))
    }
}

/// A running stage: where its items go.
pub struct Stage<I: Send + 'static, O: Send + 'static> {
    name: &'static str,
    addr: Addr<StageActor<I, O>>,
    /// How long a caller waits for a place in the mailbox and the answer together.
    wait: Duration,
    restarts: Arc<AtomicU64>,
    observer: Arc<dyn PipelineObserver>,
}

impl<I: Send + 'static, O: Send + 'static> Clone for Stage<I, O> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            addr: self.addr.clone(),
            wait: self.wait,
            restarts: self.restarts.clone(),
            observer: self.observer.clone(),
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Stage<I, O> {
    /// Starts the stage under a supervisor on `arbiter`. Each item gets `deadline`;
    /// at most `mailbox` items wait, and a caller that finds it full waits its turn
    /// within the deadline too, then gives up ("busy").
    pub fn start(
        name: &'static str,
        arbiter: &ArbiterHandle,
        mailbox: usize,
        deadline: Duration,
        work: Work<I, O>,
        observer: Arc<dyn PipelineObserver>,
    ) -> Self {
        let restarts = Arc::new(AtomicU64::new(0));
        let counter = restarts.clone();
        let addr = Supervisor::start_in_arbiter(arbiter, move |_| StageActor {
            name,
            work,
            deadline,
            mailbox,
            restarts: counter,
        });
        Self {
            name,
            addr,
            // The queue wait plus the item's own deadline, and a little for the hop.
            wait: deadline * 2 + Duration::from_millis(100),
            restarts,
            observer,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// How many times the stage has been started afresh.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// The stage's output, or why there is none; reported to `observer`.
    pub async fn run(&self, input: I) -> Result<O, StageFailure> {
        let started = std::time::Instant::now();
        self.observer.in_flight(self.name, 1);
        let result = match tokio::time::timeout(
            self.wait,
            self.addr.send(Run(input, std::marker::PhantomData)),
        )
        .await
        {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StageFailure::Restarting),
            Err(_) => Err(StageFailure::Busy),
        };
        self.observer.in_flight(self.name, -1);
        let outcome = result.as_ref().map_or_else(StageFailure::label, |_| "ok");
        self.observer
            .stage(self.name, started.elapsed().as_secs_f64(), outcome);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::observe::Unobserved;
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn arbiter() -> ArbiterHandle {
        Arbiter::new().handle()
    }

    #[actix::test]
    async fn a_stage_that_panics_answers_with_the_reason_and_serves_the_next_item_after_a_restart()
    {
        let stage = Stage::start(
            "guardrail",
            &arbiter(),
            8,
            Duration::from_secs(5),
            Arc::new(|text: String| {
                async move {
                    if text == "boom" {
                        panic!("a bug in the rules");
                    }
                    text.len()
                }
                .boxed()
            }),
            Arc::new(Unobserved),
        );
        assert_eq!(stage.run("hello".into()).await, Ok(5));
        assert_eq!(stage.run("boom".into()).await, Err(StageFailure::Panicked));
        assert_eq!(stage.run("again".into()).await, Ok(5));
        assert_eq!(stage.restarts(), 1);
    }

    #[actix::test]
    async fn a_stage_that_hangs_misses_its_deadline_and_the_next_item_is_served() {
        let hang = Arc::new(AtomicBool::new(true));
        let hangs = hang.clone();
        let stage = Stage::start(
            "understanding",
            &arbiter(),
            8,
            Duration::from_millis(200),
            Arc::new(move |n: u32| {
                let hangs = hangs.swap(false, Ordering::SeqCst);
                async move {
                    if hangs {
                        std::future::pending::<()>().await;
                    }
                    n * 2
                }
                .boxed()
            }),
            Arc::new(Unobserved),
        );
        assert_eq!(
            stage.run(1).await,
            Err(StageFailure::TimedOut(Duration::from_millis(200)))
        );
        assert_eq!(stage.run(21).await, Ok(42));
        assert_eq!(stage.restarts(), 1);
        assert!(!hang.load(Ordering::SeqCst));
    }

    #[actix::test]
    async fn a_panic_while_starting_the_work_is_caught_too() {
        let stage = Stage::start(
            "sentiment",
            &arbiter(),
            8,
            Duration::from_secs(5),
            Arc::new(|n: u32| -> BoxFuture<'static, u32> {
                assert!(n != 0, "zero is not allowed");
                async move { n }.boxed()
            }),
            Arc::new(Unobserved),
        );
        assert_eq!(stage.run(0).await, Err(StageFailure::Panicked));
        assert_eq!(stage.run(3).await, Ok(3));
    }
}
