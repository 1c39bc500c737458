//! Two nodes on one Postgres, joined by Redis pub/sub: what one node ingests reaches
//! the agents of the other live, in order, over the bus (G3, G4, G7).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{metric, subscribed_owner, two_nodes};
use reqwest::StatusCode;
use serde_json::json;

const MESSAGES: i64 = 300;

#[actix_rt::test]
async fn an_agent_on_node_a_receives_in_order_every_message_ingested_through_node_b() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let (token, mut agent, mut offset) = subscribed_owner(&a).await;

    // Customers write through node B (same tenant, same token: one database).
    let http = reqwest::Client::new();
    for n in 1..=MESSAGES {
        let reply = http
            .post(format!("{b}/api/v1/sandbox/demo/inbound"))
            .bearer_auth(&token)
            .json(&json!({ "from": format!("customer-{}", n % 7), "text": format!("#{n}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::CREATED);
    }

    let mut last_seq = std::collections::HashMap::new();
    for n in 1..=MESSAGES {
        let frame = agent.next_of(&["message.new"]).await;
        assert_eq!(
            frame["offset"].as_i64().unwrap(),
            offset + 1,
            "gap or repeat at #{n}"
        );
        offset += 1;
        assert_eq!(frame["data"]["message"]["body"], format!("#{n}"));
        let conversation = frame["conversation_id"].as_str().unwrap().to_owned();
        let seq = frame["data"]["message"]["seq"].as_i64().unwrap();
        let previous = last_seq.insert(conversation, seq).unwrap_or(0);
        assert_eq!(seq, previous + 1, "seq out of order");
    }
    agent.assert_nothing_pending().await;

    // They came over the bus: B published each one and A received each one.
    let published = metric(&b, "bus_events_total", "outcome=\"published\"").await;
    let received = metric(&a.base, "bus_events_total", "outcome=\"received\"").await;
    assert!(published >= MESSAGES as f64, "B published {published}");
    assert!(received >= MESSAGES as f64, "A received {received}");
}

#[actix_rt::test]
async fn a_change_made_on_node_a_reaches_the_conversation_cached_on_node_b() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let (token, _agent, _) = subscribed_owner(&a).await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{b}/api/v1/sandbox/demo/inbound"))
        .bearer_auth(&token)
        .json(&json!({ "from": "ada", "text": "hello" }))
        .send()
        .await
        .unwrap();
    let created: serde_json::Value = created.json().await.unwrap();
    let id = created["conversation"]["id"].as_str().unwrap().to_owned();
    // Node B's conversation actor now holds the conversation in its cache.
    let read = |base: String| {
        let (http, token, id) = (http.clone(), token.clone(), id.clone());
        async move {
            let reply = http
                .get(format!("{base}/api/v1/conversations/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            reply.json::<serde_json::Value>().await.unwrap()
        }
    };
    assert_eq!(read(b.clone()).await["conversation"]["status"], "open");

    let changed = a
        .patch(
            &format!("/api/v1/conversations/{id}"),
            &token,
            json!({ "status": "resolved", "priority": "high" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen = read(b.clone()).await;
        if seen["conversation"]["status"] == "resolved" {
            assert_eq!(seen["conversation"]["priority"], "high");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node B kept serving {seen}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
