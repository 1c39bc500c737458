//! Failover: when node A goes away, its agents reconnect to node B with their last
//! position and get exactly what they missed (G5), and two nodes writing one
//! conversation leave no gap or duplicate in its `seq` (G3).

use crate::common;

use common::ws::{Agent, Ended};
use common::{subscribed_owner, two_nodes, two_nodes_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn customer_says(base: &str, token: &str, text: &str) -> Value {
    let reply = reqwest::Client::new()
        .post(format!("{base}/api/v1/sandbox/demo/inbound"))
        .bearer_auth(token)
        .json(&json!({ "from": "customer", "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    reply.json().await.unwrap()
}

#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn an_agent_of_a_stopped_node_resumes_on_the_other_with_exactly_what_it_missed() {
    // This counts the stream's events exactly; the pipeline would add its own.
    let (a, b) = two_nodes_with(|config| config.pipeline.enabled = false).await;
    let (token, mut agent, mut offset) = subscribed_owner(&a).await;
    for n in 1..=50 {
        customer_says(&b, &token, &format!("#{n}")).await;
    }
    let mut epoch = Value::Null;
    for n in 1..=50 {
        let frame = agent.next_of(&["message.new"]).await;
        assert_eq!(frame["data"]["message"]["body"], format!("#{n}"));
        offset = frame["offset"].as_i64().unwrap();
        epoch = frame["epoch"].clone();
    }

    // Node A goes away without a goodbye; its agent's socket ends.
    a.stop(false).await;
    let (_, ended) = agent.drain_until_end().await;
    assert!(
        matches!(ended, Ended::Closed(_) | Ended::Dropped),
        "{ended:?}"
    );
    for n in 51..=120 {
        customer_says(&b, &token, &format!("#{n}")).await;
    }

    let mut agent = Agent::connect(&b, &token).await;
    agent
        .send(json!({ "type": "subscribe", "after": { "epoch": epoch, "offset": offset } }))
        .await;
    let mut replayed = Vec::new();
    let resumed = loop {
        let frame = agent.next_of(&["message.new", "resumed", "reset"]).await;
        if frame["type"] != "message.new" {
            break frame;
        }
        replayed.push(frame);
    };
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    let bodies: Vec<String> = replayed
        .iter()
        .map(|f| f["data"]["message"]["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        bodies,
        (51..=120).map(|n| format!("#{n}")).collect::<Vec<_>>()
    );
    let offsets: Vec<i64> = replayed
        .iter()
        .map(|f| f["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, (offset + 1..=offset + 70).collect::<Vec<_>>());
    customer_says(&b, &token, "live").await;
    let live = agent.next_of(&["message.new"]).await;
    assert_eq!(live["data"]["message"]["body"], "live");
    agent.assert_nothing_pending().await;
}

#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn two_nodes_writing_one_conversation_leave_no_gap_and_agents_see_it_in_order() {
    let (a, b) = two_nodes().await;
    let (token, mut agent, _) = subscribed_owner(&a).await;
    let first = customer_says(&b, &token, "hello").await;
    let id = first["conversation"]["id"].as_str().unwrap().to_owned();
    agent.next_of(&["message.new"]).await;

    // Fifty replies through each node at once.
    let http = reqwest::Client::new();
    let sends = (0..100).map(|n| {
        let base = if n % 2 == 0 {
            a.base.clone()
        } else {
            b.clone()
        };
        let request = http
            .post(format!("{base}/api/v1/conversations/{id}/messages"))
            .bearer_auth(&token)
            .json(&json!({ "body": format!("reply {n}"), "client_id": format!("c-{n}") }));
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(sends).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );

    let mut seqs = Vec::new();
    while seqs.len() < 100 {
        let frame = agent.next_of(&["message.new"]).await;
        seqs.push(frame["data"]["message"]["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, (2..=101).collect::<Vec<_>>());
    let stored = a
        .get(
            &format!("/api/v1/conversations/{id}/messages?limit=200"),
            Some(&token),
        )
        .await;
    let stored: Vec<i64> = stored.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(stored, (1..=101).collect::<Vec<_>>());
}
