//! Two nodes on one Postgres, joined by Redis pub/sub: what one node ingests reaches
//! the agents of the other live, in order, over the bus (G3, G4, G7).

use crate::common;

use common::{metric, subscribed_owner, two_nodes, two_nodes_with};
use reqwest::StatusCode;
use serde_json::json;

const MESSAGES: i64 = 1_000;

#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn an_agent_on_node_a_receives_in_order_every_message_ingested_through_node_b() {
    // This counts the stream's events exactly; the pipeline would add its own.
    let (a, b) = two_nodes_with(|config| config.pipeline.enabled = false).await;
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
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn a_change_made_on_node_a_reaches_the_conversation_cached_on_node_b() {
    let (a, b) = two_nodes().await;
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

    let seen = common::wait::until("node B to serve the resolved conversation", || async {
        let seen = read(b.clone()).await;
        (seen["conversation"]["status"] == "resolved").then_some(seen)
    })
    .await;
    assert_eq!(seen["conversation"]["priority"], "high");
}

/// The next `presence` frame about `user`.
async fn presence_of(agent: &mut common::ws::Agent, user: &str) -> String {
    loop {
        let frame = agent.next_of(&["presence"]).await;
        if frame["user_id"] == user {
            return frame["status"].as_str().unwrap().to_owned();
        }
    }
}

#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn presence_and_typing_cross_nodes_and_a_dead_nodes_users_go_offline() {
    let (a, b) = common::two_nodes_with(|c| c.bus.presence_ttl_secs = 2).await;
    let (owner, _) = a.owner_session().await;
    let mut watcher = common::ws::Agent::connect(&b, &owner).await;
    watcher.subscribe(None).await;
    let (agent_id, agent_token) = a.user_with_role(&owner, "agent@example.com", "agent").await;

    // An agent comes online on node A: the watcher on node B sees it.
    let mut agent = common::ws::Agent::connect(&a.base, &agent_token).await;
    agent.subscribe(None).await;
    assert_eq!(presence_of(&mut watcher, &agent_id).await, "online");
    agent
        .send(json!({ "type": "presence.set", "ref": 1, "status": "busy" }))
        .await;
    assert_eq!(presence_of(&mut watcher, &agent_id).await, "busy");

    // Typing on node A shows on node B.
    let chat = a
        .post(
            "/api/v1/sandbox/demo/inbound",
            Some(&owner),
            json!({ "from": "ada", "text": "hi" }),
        )
        .await;
    let conversation = chat.body["conversation"]["id"].as_str().unwrap().to_owned();
    agent
        .send(json!({ "type": "typing.start", "conversation_id": conversation }))
        .await;
    let typing = watcher.next_of(&["typing"]).await;
    assert_eq!(
        (
            typing["conversation_id"].as_str(),
            typing["user_id"].as_str(),
            typing["active"].as_bool()
        ),
        (
            Some(conversation.as_str()),
            Some(agent_id.as_str()),
            Some(true)
        )
    );

    // A node that dies says nothing more: what it said of its users expires.
    let me = a.get("/api/v1/auth/me", Some(&owner)).await;
    let tenant = me.body["tenant"]["id"].as_str().unwrap().to_owned();
    let ghost = uuid::Uuid::now_v7().to_string();
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let said = json!({ "type": "presence", "node": uuid::Uuid::now_v7(), "user": ghost, "status": "online" });
    let _: i64 = redis::cmd("PUBLISH")
        .arg(format!("switchboard:tenant:{tenant}"))
        .arg(said.to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(presence_of(&mut watcher, &ghost).await, "online");
    assert_eq!(presence_of(&mut watcher, &ghost).await, "offline");
}

#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn a_node_that_starts_shows_at_once_who_is_online_on_the_others() {
    // Heartbeats every 100 s: far longer than the wait for the frame below.
    let (a, _b) = common::two_nodes_with(|c| c.bus.presence_ttl_secs = 300).await;
    let (owner, _) = a.owner_session().await;
    let (agent_id, agent_token) = a.user_with_role(&owner, "agent@example.com", "agent").await;
    let mut agent = common::ws::Agent::connect(&a.base, &agent_token).await;
    agent.subscribe(None).await;

    let mut config = common::test_config(&a.db);
    config.bus.redis_url = switchboard::config::Secret::new(common::redis_url());
    config.bus.presence_ttl_secs = 300;
    let c = switchboard::Application::build(config).await.unwrap();
    let c_base = format!("http://127.0.0.1:{}", c.port());
    actix_rt::spawn(c.run_until_stopped());

    let mut watcher = common::ws::Agent::connect(&c_base, &owner).await;
    watcher.send(json!({ "type": "subscribe" })).await;
    assert_eq!(presence_of(&mut watcher, &agent_id).await, "online");
}
