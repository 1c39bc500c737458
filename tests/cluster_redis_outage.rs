//! Redis is a speed path only (G7): when the nodes lose it mid-stream, agents still
//! get everything, in order and once, and the subscription comes back by itself.
//! A test binary of its own: it cuts every Redis client, so it must not share the
//! server with another test running in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{metric, redis_url, subscribed_owner, two_nodes};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

async fn customers_write(b: &str, token: &str, range: std::ops::RangeInclusive<i64>) {
    let http = reqwest::Client::new();
    for n in range {
        let reply = http
            .post(format!("{b}/api/v1/sandbox/demo/inbound"))
            .bearer_auth(token)
            .json(&json!({ "from": "customer", "text": format!("#{n}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::CREATED);
    }
}

/// Cuts every client connection to Redis (the nodes' subscribers and publishers), as
/// a Redis restart would.
async fn cut_redis_clients() {
    let client = redis::Client::open(redis_url().unwrap()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for kind in ["pubsub", "normal"] {
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg(kind)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

#[actix_rt::test]
async fn losing_redis_mid_stream_loses_nothing_and_the_subscription_comes_back() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let (token, mut agent, mut offset) = subscribed_owner(&a).await;

    customers_write(&b, &token, 1..=100).await;
    cut_redis_clients().await;
    customers_write(&b, &token, 101..=200).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&a.base, "bus_reconnects_total", "").await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the subscriber never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received_before = metric(&a.base, "bus_events_total", "outcome=\"received\"").await;
    customers_write(&b, &token, 201..=300).await;

    for n in 1..=300 {
        let frame = agent.next_of(&["message.new"]).await;
        assert_eq!(
            frame["offset"].as_i64().unwrap(),
            offset + 1,
            "gap or repeat at #{n}"
        );
        offset += 1;
        assert_eq!(frame["data"]["message"]["body"], format!("#{n}"));
        assert_eq!(frame["data"]["message"]["seq"].as_i64().unwrap(), n);
    }
    agent.assert_nothing_pending().await;
    // After the reconnect the bus carried the last hundred again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&a.base, "bus_events_total", "outcome=\"received\"").await
        < received_before + 100.0
    {
        assert!(
            Instant::now() < deadline,
            "the bus did not carry events after reconnecting"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
