//! The durable jobs' storage on SQLite and Postgres, through the port only: a job is
//! claimed only when due and by one node, comes back when its lease lapses, is retried
//! then dead and retryable, is handed back on a clean stop, and an idempotency key
//! adds it once.

use crate::common::{Backend, open_store, store_tenant};
use serde_json::json;
use std::collections::HashSet;
use switchboard_actors::inbox::bus::NodeId;
use switchboard_actors::jobs::{Added, JobCounts, JobState, NewJob};
use switchboard_actors::{JobId, Millis, TenantId};
use uuid::Uuid;

fn node() -> NodeId {
    NodeId(Uuid::now_v7())
}

fn new_job(tenant: TenantId, step: u32, run_at: i64) -> NewJob {
    NewJob {
        tenant,
        kind: "automation.step".into(),
        payload: json!({ "step": step }),
        run_at: Millis(run_at),
        max_attempts: 2,
        idempotency_key: None,
    }
}

fn added(added: Added) -> JobId {
    match added {
        Added::Added(id) => id,
        Added::Exists(id) => panic!("job {id:?} existed already"),
    }
}

async fn a_job_is_claimed_once_it_is_due_oldest_first_and_done_once(backend: Backend) {
    let (store, _db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let later = added(
        store
            .add_job(&new_job(tenant, 2, 20_000), Millis(1_000))
            .await
            .unwrap(),
    );
    let sooner = added(
        store
            .add_job(&new_job(tenant, 1, 10_000), Millis(1_000))
            .await
            .unwrap(),
    );
    let (a, b) = (node(), node());

    assert!(
        store
            .claim_jobs(a, Millis(9_999), Millis(99_999), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_jobs(a, Millis(20_000), Millis(50_000), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        [sooner, later]
    );
    let first = &claimed[0];
    assert_eq!(first.state, JobState::Running);
    assert_eq!(first.attempts, 1);
    assert_eq!(first.payload, json!({ "step": 1 }));
    assert_eq!(first.kind, "automation.step");
    // Another node finds nothing while the lease holds.
    assert!(
        store
            .claim_jobs(b, Millis(49_999), Millis(99_999), 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(store.complete_job(sooner, a, Millis(21_000)).await.unwrap());
    // Only the holder settles a job, and only once.
    assert!(!store.complete_job(later, b, Millis(21_000)).await.unwrap());
    assert!(!store.complete_job(sooner, a, Millis(21_000)).await.unwrap());
    assert_eq!(
        store.job(tenant, sooner).await.unwrap().unwrap().state,
        JobState::Done
    );
    assert_eq!(
        store.job_counts(Millis(21_000)).await.unwrap(),
        JobCounts {
            queued: 0,
            running: 1,
            dead: 0,
            lag_ms: 0
        }
    );

    // A lapsed lease: the job is another node's to run again, its attempt counted.
    let again = store
        .claim_jobs(b, Millis(50_001), Millis(90_000), 10)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(),
        [(later, 2)]
    );
    assert!(!store.complete_job(later, a, Millis(50_002)).await.unwrap());
    assert!(store.complete_job(later, b, Millis(50_002)).await.unwrap());

    // Done jobs are pruned after a while.
    assert_eq!(store.prune_done_jobs(Millis(50_000)).await.unwrap(), 1);
    assert!(store.job(tenant, sooner).await.unwrap().is_none());
    assert!(store.job(tenant, later).await.unwrap().is_some());
}

async fn a_failed_job_is_queued_again_then_dead_with_its_error_and_retried_over_the_port(
    backend: Backend,
) {
    let (store, _db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let id = added(
        store
            .add_job(&new_job(tenant, 1, 1_000), Millis(1_000))
            .await
            .unwrap(),
    );
    let a = node();

    store
        .claim_jobs(a, Millis(1_000), Millis(9_000), 10)
        .await
        .unwrap();
    assert!(
        store
            .fail_job(
                id,
                a,
                "HTTP 503 from the endpoint",
                Some(Millis(5_000)),
                Millis(1_100)
            )
            .await
            .unwrap()
    );
    let queued = store.job(tenant, id).await.unwrap().unwrap();
    assert_eq!(
        (
            queued.state,
            queued.run_at,
            queued.attempts,
            queued.last_error.as_deref()
        ),
        (
            JobState::Queued,
            Millis(5_000),
            1,
            Some("HTTP 503 from the endpoint")
        )
    );
    assert_eq!(
        store.job_counts(Millis(6_000)).await.unwrap(),
        JobCounts {
            queued: 1,
            running: 0,
            dead: 0,
            lag_ms: 1_000
        }
    );
    assert!(
        store
            .claim_jobs(a, Millis(4_999), Millis(9_000), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let second = store
        .claim_jobs(a, Millis(5_000), Millis(9_000), 10)
        .await
        .unwrap();
    assert_eq!(second[0].attempts, 2);
    assert!(
        store
            .fail_job(id, a, "HTTP 503 again", None, Millis(5_100))
            .await
            .unwrap()
    );
    let dead = store.jobs(tenant, JobState::Dead, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 503 again"));
    assert!(
        store
            .claim_jobs(a, Millis(99_000), Millis(199_000), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Another tenant cannot retry it; its own tenant can, once.
    let other = store_tenant(store.as_ref()).await;
    assert!(!store.retry_job(other, id, Millis(100_000)).await.unwrap());
    assert!(store.retry_job(tenant, id, Millis(100_000)).await.unwrap());
    assert!(!store.retry_job(tenant, id, Millis(100_000)).await.unwrap());
    let retried = store
        .claim_jobs(a, Millis(100_000), Millis(109_000), 10)
        .await
        .unwrap();
    assert_eq!(
        retried
            .iter()
            .map(|j| (j.id, j.attempts))
            .collect::<Vec<_>>(),
        [(id, 1)]
    );
}

async fn a_clean_stop_hands_running_jobs_back_without_counting_their_attempt(backend: Backend) {
    let (store, _db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let id = added(
        store
            .add_job(&new_job(tenant, 1, 1_000), Millis(1_000))
            .await
            .unwrap(),
    );
    let (a, b) = (node(), node());
    store
        .claim_jobs(a, Millis(1_000), Millis(60_000), 10)
        .await
        .unwrap();
    assert_eq!(store.release_jobs(b, Millis(2_000)).await.unwrap(), 0);
    assert_eq!(store.release_jobs(a, Millis(2_000)).await.unwrap(), 1);
    let claimed = store
        .claim_jobs(b, Millis(2_000), Millis(60_000), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|j| (j.id, j.attempts))
            .collect::<Vec<_>>(),
        [(id, 1)]
    );
}

async fn an_idempotency_key_adds_a_job_once_per_tenant_whatever_became_of_it(backend: Backend) {
    let (store, _db) = open_store(backend).await;
    let (acme, other) = (
        store_tenant(store.as_ref()).await,
        store_tenant(store.as_ref()).await,
    );
    let keyed = |tenant| NewJob {
        idempotency_key: Some("rule-1:message-9:step-0".into()),
        ..new_job(tenant, 1, 1_000)
    };
    let first = added(store.add_job(&keyed(acme), Millis(1_000)).await.unwrap());
    assert_eq!(
        store.add_job(&keyed(acme), Millis(1_001)).await.unwrap(),
        Added::Exists(first)
    );
    let a = node();
    store
        .claim_jobs(a, Millis(1_000), Millis(9_000), 10)
        .await
        .unwrap();
    store.complete_job(first, a, Millis(1_100)).await.unwrap();
    assert_eq!(
        store.add_job(&keyed(acme), Millis(1_200)).await.unwrap(),
        Added::Exists(first)
    );
    // The same key means nothing for another tenant.
    assert!(matches!(
        store.add_job(&keyed(other), Millis(1_200)).await.unwrap(),
        Added::Added(_)
    ));
}

async fn nodes_claiming_at_once_never_get_the_same_job(backend: Backend) {
    let (store, _db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let mut all = HashSet::new();
    for step in 0..200 {
        all.insert(added(
            store
                .add_job(&new_job(tenant, step, 1_000), Millis(1_000))
                .await
                .unwrap(),
        ));
    }
    let claims = (0..4).map(|_| {
        let store = store.clone();
        let me = node();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_jobs(me, Millis(2_000), Millis(60_000), 7)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|j| j.id));
            }
        })
    });
    let mut seen = Vec::new();
    for claim in claims {
        seen.extend(claim.await.unwrap());
    }
    assert_eq!(seen.len(), 200, "a job was claimed twice or not at all");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), all);
}

on_both_backends!(
    a_job_is_claimed_once_it_is_due_oldest_first_and_done_once,
    a_failed_job_is_queued_again_then_dead_with_its_error_and_retried_over_the_port,
    a_clean_stop_hands_running_jobs_back_without_counting_their_attempt,
    an_idempotency_key_adds_a_job_once_per_tenant_whatever_became_of_it,
    nodes_claiming_at_once_never_get_the_same_job,
);
