//! Redis is a speed path only (G7): when the nodes lose it mid-stream, agents still
//! get everything, in order and once, and the subscription comes back by itself.
//! A test binary of its own, apart from `integration`: it cuts every Redis client, so
//! it must not share the Redis server with other tests running in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
#[path = "integration/common/mod.rs"]
mod common;

use common::wait::until_metric;
use common::{metric, redis_url, subscribed_owner, two_nodes_with};
use reqwest::StatusCode;
use serde_json::json;

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
    let client = redis::Client::open(redis_url()).unwrap();
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
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn losing_redis_mid_stream_loses_nothing_and_the_subscription_comes_back() {
    // This counts the stream's events exactly; the pipeline would add its own.
    let (a, b) = two_nodes_with(|config| config.pipeline.enabled = false).await;
    let (token, mut agent, mut offset) = subscribed_owner(&a).await;

    customers_write(&b, &token, 1..=100).await;
    cut_redis_clients().await;
    customers_write(&b, &token, 101..=200).await;
    until_metric(&a.base, "bus_reconnects_total", "", |n| n >= 1.0).await;
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
    until_metric(&a.base, "bus_events_total", "outcome=\"received\"", |n| {
        n >= received_before + 100.0
    })
    .await;
}
