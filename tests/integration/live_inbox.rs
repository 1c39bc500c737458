//! The live inbox over the real socket: delivery to every agent exactly once and in
//! order (G4), resume without gap or duplicate (G5), tenant isolation (G6), bounded
//! outboxes (G10), actor recovery, idempotent sends, typing, viewing and presence.

use crate::common;

use common::wait;
use common::ws::{Agent, Ended, Silent, ws_url};
use common::{Backend, TestApp, spawn_app, spawn_app_with};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Plays a customer message on sandbox channel `demo`; returns the response body.
async fn customer_says(app: &TestApp, token: &str, from: &str, text: &str) -> Value {
    app.customer_says(token, from, text).await
}

fn position(frame: &Value) -> Value {
    json!({ "epoch": frame["epoch"], "offset": frame["offset"] })
}

fn seqs(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .map(|f| f["data"]["message"]["seq"].as_i64().unwrap())
        .collect()
}

fn offsets(frames: &[Value]) -> Vec<i64> {
    frames.iter().filter_map(|f| f["offset"].as_i64()).collect()
}

async fn two_agents_of_a_tenant_receive_every_message_once_in_seq_order_and_another_tenant_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (_, agent_token) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let (outsider, _) = app.register("other", "owner@other.example").await;

    let mut first = Agent::connect(&app.base, &owner).await;
    let mut second = Agent::connect(&app.base, &agent_token).await;
    let mut stranger = Agent::connect(&app.base, &outsider).await;
    for agent in [&mut first, &mut second, &mut stranger] {
        let catch_up = agent.subscribe(None).await;
        assert_eq!(catch_up.last().unwrap()["reason"], "fresh");
    }

    let created = customer_says(&app, &owner, "alice", "message 1").await;
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();
    for n in 2..=20 {
        customer_says(&app, &owner, "alice", &format!("message {n}")).await;
    }
    for n in 21..=30 {
        first
            .send(json!({ "type": "message.send", "conversation_id": conversation, "client_id": format!("c{n}"), "body": format!("reply {n}") }))
            .await;
    }

    for agent in [&mut first, &mut second] {
        let mut received = Vec::new();
        while received.len() < 30 {
            let frame = agent.next_of(&["message.new"]).await;
            received.push(frame);
        }
        assert_eq!(seqs(&received), (1..=30).collect::<Vec<_>>());
        let ids: HashSet<_> = received
            .iter()
            .map(|f| f["data"]["message"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 30, "every message exactly once");
        let offsets = offsets(&received);
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "offsets rise: {offsets:?}"
        );
    }
    stranger.assert_nothing_pending().await;
}

async fn an_agent_offline_while_500_messages_arrive_gets_exactly_those_500_before_any_live_message(
    backend: Backend,
) {
    // This counts the stream's events exactly; the pipeline would add its own.
    let app = spawn_app_with(backend, |config| config.pipeline.enabled = false).await;
    let (owner, _) = app.owner_session().await;
    let mut agent = Agent::connect(&app.base, &owner).await;
    let fresh = agent.subscribe(None).await;
    let last_seen = position(fresh.last().unwrap());
    let start = last_seen["offset"].as_i64().unwrap();
    drop(agent);

    for n in 0..500 {
        customer_says(
            &app,
            &owner,
            &format!("customer-{}", n % 5),
            &format!("missed {n}"),
        )
        .await;
    }

    let mut agent = Agent::connect(&app.base, &owner).await;
    agent
        .send(json!({ "type": "subscribe", "after": last_seen }))
        .await;
    let live = {
        let (app_base, token) = (app.base.clone(), owner.clone());
        actix_rt::spawn(async move {
            let client = reqwest::Client::new();
            client
                .post(format!("{app_base}/api/v1/sandbox/demo/inbound"))
                .bearer_auth(token)
                .json(&json!({ "from": "customer-live", "text": "live" }))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let mut replayed = Vec::new();
    let resumed = loop {
        let frame = agent.next_of(&["message.new", "resumed", "reset"]).await;
        if frame["type"] != "message.new" {
            break frame;
        }
        replayed.push(frame);
    };
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["from"], start);
    assert_eq!(live.await.unwrap(), StatusCode::CREATED);
    let mut all = replayed.clone();
    while all.len() < 501 {
        all.push(agent.next_of(&["message.new"]).await);
    }
    // The live message lands in the replay or right after it, never twice and never
    // before a missed one.
    assert!(
        replayed.len() == 500 || replayed.len() == 501,
        "replayed {}",
        replayed.len()
    );
    assert_eq!(offsets(&all), (start + 1..=start + 501).collect::<Vec<_>>());
    let bodies: Vec<&str> = all[..500]
        .iter()
        .map(|f| f["data"]["message"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        (0..500).map(|n| format!("missed {n}")).collect::<Vec<_>>()
    );
    assert_eq!(all[500]["data"]["message"]["body"], "live");
    agent.assert_nothing_pending().await;
}

async fn subscribing_to_a_conversation_that_is_not_in_the_tenant_answers_not_found(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (stranger, _) = app.register("other", "owner@other.example").await;
    let theirs =
        customer_says(&app, &stranger, "zed", "private").await["conversation"]["id"].clone();
    let ours = customer_says(&app, &owner, "ada", "hello").await["conversation"]["id"].clone();

    let mut agent = Agent::connect(&app.base, &owner).await;
    for (reference, missing) in [(1, json!(uuid::Uuid::now_v7())), (2, theirs)] {
        agent
            .send(json!({ "type": "subscribe", "ref": reference, "conversation_id": missing }))
            .await;
        let refused = agent.next_of(&["error", "reset", "resumed"]).await;
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(refused["code"], "not_found");
        assert_eq!(refused["ref"], reference);
    }
    // Nothing was subscribed: the first real subscribe still starts the stream.
    agent
        .send(json!({ "type": "subscribe", "ref": 3, "conversation_id": ours }))
        .await;
    let started = agent.next_of(&["error", "reset", "resumed"]).await;
    assert_eq!(started["type"], "reset", "{started}");
    customer_says(&app, &owner, "ada", "again").await;
    let live = agent.next_of(&["message.new"]).await;
    assert_eq!(live["data"]["message"]["body"], "again");
}

async fn a_forged_or_stale_position_gets_reset(backend: Backend) {
    // This counts the stream's events exactly; the pipeline would add its own.
    let app = spawn_app_with(backend, |config| {
        config.pipeline.enabled = false;
        config.inbox.max_replay = 5;
    })
    .await;
    let (owner, _) = app.owner_session().await;
    let mut agent = Agent::connect(&app.base, &owner).await;
    let head = agent.subscribe(None).await.pop().unwrap();
    for n in 0..8 {
        customer_says(&app, &owner, "bob", &format!("m{n}")).await;
    }
    let now = head["offset"].as_i64().unwrap() + 8;
    let cases = [
        (
            json!({ "epoch": uuid::Uuid::new_v4(), "offset": 1 }),
            "epoch_changed",
        ),
        (
            json!({ "epoch": head["epoch"], "offset": now + 100 }),
            "offset_ahead",
        ),
        (
            json!({ "epoch": head["epoch"], "offset": now - 8 }),
            "too_far_behind",
        ),
    ];
    for (after, reason) in cases {
        let mut agent = Agent::connect(&app.base, &owner).await;
        let frames = agent.subscribe(Some(after)).await;
        assert_eq!(frames.len(), 1, "a reset replays nothing: {frames:?}");
        assert_eq!(frames[0]["type"], "reset");
        assert_eq!(frames[0]["reason"], reason);
        assert_eq!(frames[0]["offset"], now);
        assert_eq!(frames[0]["epoch"], head["epoch"]);
    }
    let mut agent = Agent::connect(&app.base, &owner).await;
    let frames = agent
        .subscribe(Some(json!({ "epoch": head["epoch"], "offset": now - 5 })))
        .await;
    assert_eq!(frames.len(), 6);
    assert_eq!(frames[5]["type"], "resumed");
}

async fn a_consumer_that_stops_reading_is_closed_and_resumes_with_no_gap_while_others_keep_receiving(
    backend: Backend,
) {
    // This counts the stream's events exactly; the pipeline would add its own.
    let app = spawn_app_with(backend, |config| {
        config.pipeline.enabled = false;
        config.websocket.outbox_capacity = 4;
        config.database.sqlite_synchronous = switchboard::config::SqliteSynchronous::Normal;
    })
    .await;
    let (owner, _) = app.owner_session().await;
    let mut healthy = Agent::connect(&app.base, &owner).await;
    healthy.subscribe(None).await;
    let mut slow = Agent::connect_with_small_buffer(&app.base, &owner).await;
    let start = slow.subscribe(None).await.pop().unwrap();

    let body = "x".repeat(4000);
    let total = 1500;
    let reader = actix_rt::spawn(async move {
        let mut got = Vec::new();
        while got.len() < total {
            got.push(healthy.next_of(&["message.new"]).await);
        }
        got
    });
    for n in 0..total {
        customer_says(&app, &owner, &format!("c{}", n % 7), &format!("{n} {body}")).await;
    }
    let healthy_frames = reader.await.unwrap();
    assert_eq!(healthy_frames.len(), total);

    let (read, ended) = slow.drain_until_end().await;
    assert!(
        matches!(ended, Ended::Closed(Some(4008)) | Ended::Dropped),
        "{ended:?}"
    );
    let read: Vec<Value> = read
        .into_iter()
        .filter(|f| f["type"] == "message.new")
        .collect();
    assert!(read.len() < total, "the slow consumer was cut off");
    let base = start["offset"].as_i64().unwrap();
    assert_eq!(
        offsets(&read),
        (base + 1..=base + read.len() as i64).collect::<Vec<_>>()
    );

    let last = read.last().map_or(base, |f| f["offset"].as_i64().unwrap());
    let mut back = Agent::connect(&app.base, &owner).await;
    let frames = back
        .subscribe(Some(json!({ "epoch": start["epoch"], "offset": last })))
        .await;
    let (resumed, replay) = frames.split_last().unwrap();
    assert_eq!(resumed["type"], "resumed");
    assert_eq!(
        offsets(replay),
        (last + 1..=base + total as i64).collect::<Vec<_>>()
    );
}

async fn a_conversation_actor_that_fails_is_restarted_and_loses_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let mut agent = Agent::connect(&app.base, &owner).await;
    agent.subscribe(None).await;
    let created = customer_says(&app, &owner, "carol", "hello").await;
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();
    agent.next_of(&["message.new"]).await;
    common::fail_message_inserts(&app.db, backend, true).await;
    agent
        .send(json!({ "type": "message.send", "ref": 1, "conversation_id": conversation, "client_id": "retry-me", "body": "first try" }))
        .await;
    let failed = agent.next_of(&["ack", "error"]).await;
    assert_eq!(failed["type"], "error", "{failed}");
    assert_eq!(failed["code"], "internal");
    assert_eq!(failed["ref"], 1);
    common::fail_message_inserts(&app.db, backend, false).await;

    agent
        .send(json!({ "type": "message.send", "ref": 2, "conversation_id": conversation, "client_id": "retry-me", "body": "first try" }))
        .await;
    // The broadcast and the ack both follow the commit; either may come first.
    let mut frames = Vec::new();
    while frames.len() < 2 {
        frames.push(agent.next_of(&["ack", "error", "message.new"]).await);
    }
    let ack = frames.iter().find(|f| f["type"] != "message.new").unwrap();
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["result"]["message"]["seq"], 2, "seq stays gap-free");
    let live = frames.iter().find(|f| f["type"] == "message.new").unwrap();
    assert_eq!(live["data"]["message"]["body"], "first try");
    assert_eq!(live["data"]["message"]["seq"], 2);

    let snapshot = app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            Some(&owner),
        )
        .await;
    assert_eq!(snapshot.status, StatusCode::OK);
    let bodies: Vec<&str> = snapshot.body["recent_messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["hello", "first try"]);
    assert_eq!(snapshot.body["conversation"]["last_seq"], 2);
}

async fn the_same_client_id_sent_twice_stores_one_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let conversation = customer_says(&app, &owner, "dave", "hi").await["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut agent = Agent::connect(&app.base, &owner).await;
    agent.subscribe(None).await;
    let send = json!({ "type": "message.send", "conversation_id": conversation, "client_id": "abc-1", "body": "once" });
    agent.send(send.clone()).await;
    let first = agent.next_of(&["ack"]).await;
    agent.send(send).await;
    let second = agent.next_of(&["ack"]).await;
    assert_eq!(first["result"]["duplicate"], false);
    assert_eq!(second["result"]["duplicate"], true);
    assert_eq!(
        first["result"]["message"]["id"],
        second["result"]["message"]["id"]
    );
    let listed = app
        .get(
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(&owner),
        )
        .await;
    let bodies: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["hi", "once"]);
}

async fn typing_and_presence_reach_the_other_agents(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (agent_id, agent_token) = app
        .user_with_role(&owner, "typist@example.com", "agent")
        .await;
    let conversation = customer_says(&app, &owner, "erin", "hi").await["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watcher = Agent::connect(&app.base, &owner).await;
    watcher.subscribe(None).await;
    let mut typist = Agent::connect(&app.base, &agent_token).await;
    typist.subscribe(None).await;

    let online = watcher.next_of(&["presence"]).await;
    assert_eq!(online["user_id"], agent_id.as_str());
    assert_eq!(online["status"], "online");
    typist
        .send(json!({ "type": "typing.start", "conversation_id": conversation }))
        .await;
    let typing = watcher.next_of(&["typing"]).await;
    assert_eq!(
        (typing["user_id"].as_str(), typing["active"].as_bool()),
        (Some(agent_id.as_str()), Some(true))
    );
    assert_eq!(typing["conversation_id"], conversation.as_str());
    typist
        .send(json!({ "type": "typing.stop", "conversation_id": conversation }))
        .await;
    assert_eq!(watcher.next_of(&["typing"]).await["active"], false);
    typist
        .send(json!({ "type": "presence.set", "status": "away" }))
        .await;
    assert_eq!(watcher.next_of(&["presence"]).await["status"], "away");
    drop(typist);
    let offline = watcher.next_of(&["presence"]).await;
    assert_eq!(
        (offline["user_id"].as_str(), offline["status"].as_str()),
        (Some(agent_id.as_str()), Some("offline"))
    );
}

async fn who_is_viewing_a_conversation_reaches_the_team_and_a_newcomer_learns_it_at_once(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let owner_id = user_id(&app, &owner).await;
    let (viewer_id, viewer_token) = app
        .user_with_role(&owner, "looker@example.com", "viewer")
        .await;
    let conversation = customer_says(&app, &owner, "gina", "hi").await["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut first = Agent::connect(&app.base, &owner).await;
    first.subscribe(None).await;
    first
        .send(json!({ "type": "viewing.start", "conversation_id": conversation }))
        .await;

    // A viewer opens it too: the owner hears of them, and they hear of the owner
    // at once rather than at the owner's next repeat.
    let mut second = Agent::connect(&app.base, &viewer_token).await;
    second.subscribe(None).await;
    second
        .send(json!({ "type": "viewing.start", "conversation_id": conversation }))
        .await;
    let arrived = first.next_of(&["viewing"]).await;
    assert_eq!(
        arrived,
        json!({"type": "viewing", "v": 1, "conversation_id": conversation, "user_id": viewer_id, "active": true})
    );
    let already_there = second.next_of(&["viewing"]).await;
    assert_eq!(
        (
            already_there["user_id"].as_str(),
            already_there["active"].as_bool()
        ),
        (Some(owner_id.as_str()), Some(true))
    );

    // A repeat within the TTL is not news: the next the owner hears is the stop.
    for frame in ["viewing.start", "viewing.stop"] {
        second
            .send(json!({ "type": frame, "conversation_id": conversation }))
            .await;
    }
    let stopped = first.next_of(&["viewing"]).await;
    assert_eq!(
        (stopped["user_id"].as_str(), stopped["active"].as_bool()),
        (Some(viewer_id.as_str()), Some(false))
    );

    // Closing the tab ends the viewing at once.
    second
        .send(json!({ "type": "viewing.start", "conversation_id": conversation }))
        .await;
    assert_eq!(first.next_of(&["viewing"]).await["active"], true);
    drop(second);
    let left = first.next_of(&["viewing"]).await;
    assert_eq!(
        (left["user_id"].as_str(), left["active"].as_bool()),
        (Some(viewer_id.as_str()), Some(false))
    );
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let me = app.get("/api/v1/auth/me", Some(token)).await;
    me.body["user"]["id"].as_str().unwrap().to_owned()
}

async fn an_unauthenticated_socket_is_closed_within_5_seconds(backend: Backend) {
    let app = spawn_app(backend).await;
    let opened = Instant::now();
    let (ws, _) = tokio_tungstenite::connect_async(ws_url(&app.base))
        .await
        .unwrap();
    let mut agent = Agent { ws };
    let (frames, ended) = agent.drain_until_end().await;
    assert!(frames.is_empty(), "{frames:?}");
    assert_eq!(ended, Ended::Closed(Some(4001)));
    assert!(opened.elapsed() < Duration::from_secs(5));

    let refused =
        tokio_tungstenite::connect_async(format!("{}?access_token=forged", ws_url(&app.base)))
            .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

async fn a_token_in_the_first_frame_authenticates_and_viewers_cannot_send(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (_, viewer) = app
        .user_with_role(&owner, "viewer@example.com", "viewer")
        .await;
    let conversation = customer_says(&app, &owner, "fred", "hi").await["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ws, _) = tokio_tungstenite::connect_async(ws_url(&app.base))
        .await
        .unwrap();
    let mut agent = Agent { ws };
    agent.send(json!({ "type": "auth", "token": viewer })).await;
    assert_eq!(agent.next().await["role"], "viewer");
    agent.subscribe(None).await;
    agent.send(json!({ "type": "message.send", "ref": "v", "conversation_id": conversation, "client_id": "x", "body": "no" })).await;
    let refused = agent.next_of(&["error", "ack"]).await;
    assert_eq!(
        (refused["code"].as_str(), refused["ref"].as_str()),
        (Some("forbidden"), Some("v"))
    );
}

async fn a_sandbox_reply_goes_out_and_comes_back_sent_delivered_and_read(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.sandbox.status_delay_ms = 20).await;
    let (owner, _) = app.owner_session().await;
    let conversation = customer_says(&app, &owner, "gina", "hi").await["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut agent = Agent::connect(&app.base, &owner).await;
    agent.subscribe(None).await;
    let reply = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(&owner),
            json!({ "body": "hello gina" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["status"], "pending");
    let new = agent.next_of(&["message.new"]).await;
    assert_eq!(new["data"]["message"]["status"], "pending");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let frame = agent.next_of(&["message.status"]).await;
        assert_eq!(frame["data"]["message_id"], reply.body["id"]);
        statuses.push(frame["data"]["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["sent", "delivered", "read"]);
}

async fn a_browser_authenticates_with_a_subprotocol_and_a_foreign_origin_is_refused(
    backend: Backend,
) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut request = ws_url(&app.base).into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        format!("switchboard.v1, bearer.{owner}").parse().unwrap(),
    );
    headers.insert("origin", format!("http://{host}").parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "switchboard.v1"
    );
    let mut agent = Agent { ws };
    assert_eq!(agent.next().await["type"], "hello");

    let mut request = format!("{}?access_token={owner}", ws_url(&app.base))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
}

async fn per_connection_limits_refuse_floods_oversized_frames_and_silent_clients(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.websocket.frames_per_second = 1;
        config.websocket.frames_burst = 2;
        config.websocket.max_frame_bytes = 1024;
        config.websocket.heartbeat_interval_secs = 1;
        config.websocket.heartbeat_timeout_secs = 1;
    })
    .await;
    let (owner, _) = app.owner_session().await;

    let mut flooder = Agent::connect(&app.base, &owner).await;
    for n in 0..4 {
        flooder.send(json!({ "type": "ping", "ref": n })).await;
    }
    let replies: Vec<(String, Value)> = replies_with_refs(&mut flooder, 4).await;
    assert_eq!(
        replies,
        [
            ("pong".to_owned(), json!(0)),
            ("pong".to_owned(), json!(1)),
            ("error".to_owned(), json!(2)),
            ("error".to_owned(), json!(3)),
        ]
    );

    // Binary frames spend the same budget: after two, a text frame is over it.
    let mut binary = Agent::connect(&app.base, &owner).await;
    for _ in 0..2 {
        binary
            .ws
            .send(tokio_tungstenite::tungstenite::Message::binary(vec![
                0u8;
                16
            ]))
            .await
            .unwrap();
    }
    binary
        .send(json!({ "type": "ping", "ref": "after binary" }))
        .await;
    let answers: Vec<(Value, Value)> = {
        let mut answers = Vec::new();
        while answers.len() < 3 {
            let frame = binary.next_of(&["pong", "error"]).await;
            answers.push((frame["code"].clone(), frame["ref"].clone()));
        }
        answers
    };
    assert_eq!(
        answers,
        [
            (json!("unsupported_media_type"), Value::Null),
            (json!("unsupported_media_type"), Value::Null),
            (json!("rate_limited"), json!("after binary")),
        ]
    );

    let mut big = Agent::connect(&app.base, &owner).await;
    big.send(json!({ "type": "ping", "pad": "x".repeat(2000) }))
        .await;
    assert_eq!(big.drain_until_end().await.1, Ended::Closed(Some(1009)));

    // This client never answers the pings.
    let silent = Silent::connect(&app.base, &owner).await;
    assert_eq!(silent.close_code().await, 4009);
}

async fn a_message_in_continuation_frames_counts_as_one_and_a_websocket_ping_gets_its_payload_back(
    backend: Backend,
) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let app = spawn_app_with(backend, |config| config.websocket.max_frame_bytes = 1024).await;
    let (owner, _) = app.owner_session().await;
    let mut agent = Agent::connect(&app.base, &owner).await;
    let part = |text: &str, opcode: Data, last: bool| {
        Message::Frame(Frame::message(
            text.as_bytes().to_vec(),
            OpCode::Data(opcode),
            last,
        ))
    };

    let text = json!({ "type": "ping", "ref": "joined" }).to_string();
    let (first, rest) = text.split_at(10);
    let (middle, last) = rest.split_at(5);
    for frame in [
        part(first, Data::Text, false),
        part(middle, Data::Continue, false),
        part(last, Data::Continue, true),
    ] {
        agent.ws.send(frame).await.unwrap();
    }
    assert_eq!(agent.next_of(&["pong"]).await["ref"], "joined");

    agent
        .ws
        .send(Message::Ping(b"beat".to_vec().into()))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(wait::DEADLINE, agent.ws.next()).await {
            Ok(Some(Ok(Message::Pong(payload)))) => break payload,
            Ok(Some(Ok(_))) => {}
            other => panic!("no pong: {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"beat");

    // Two frames under the limit that join into a message over it.
    let pad = "x".repeat(800);
    agent.ws.send(part(&pad, Data::Text, false)).await.unwrap();
    agent
        .ws
        .send(part(&pad, Data::Continue, true))
        .await
        .unwrap();
    assert_eq!(agent.drain_until_end().await.1, Ended::Closed(Some(1009)));
}

async fn replies_with_refs(agent: &mut Agent, count: usize) -> Vec<(String, Value)> {
    let mut replies = Vec::new();
    while replies.len() < count {
        let frame = agent.next_of(&["pong", "error"]).await;
        replies.push((
            frame["type"].as_str().unwrap().to_owned(),
            frame["ref"].clone(),
        ));
    }
    replies
}

/// The value of an unlabelled gauge in the `/metrics` text.
async fn gauge(app: &TestApp, name: &str) -> f64 {
    common::metric(&app.base, name, "").await
}

async fn conversation_actors_start_on_demand_and_leave_memory_when_idle(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.inbox.conversation_idle_secs = 1).await;
    let (owner, _) = app.owner_session().await;
    let id = customer_says(&app, &owner, "ida", "hi").await["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        gauge(&app, "inbox_live_conversations").await,
        0.0,
        "ingest alone starts no actor"
    );

    let snapshot = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner))
        .await;
    assert_eq!(snapshot.body["recent_messages"][0]["body"], "hi");
    let unknown = app
        .get(
            &format!("/api/v1/conversations/{}", uuid::Uuid::now_v7()),
            Some(&owner),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(gauge(&app, "inbox_live_conversations").await, 1.0);
    let mut agent = Agent::connect(&app.base, &owner).await;
    agent.subscribe(None).await;
    assert_eq!(gauge(&app, "inbox_agent_connections").await, 1.0);

    // The idle actor stops.
    wait::until_metric(&app.base, "inbox_live_conversations", "", |n| n == 0.0).await;
    drop(agent);
    wait::until_metric(&app.base, "inbox_agent_connections", "", |n| n == 0.0).await;
    // A later message starts a fresh actor that reloads the conversation.
    let reply = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&owner),
            json!({ "body": "back" }),
        )
        .await;
    assert_eq!(reply.body["seq"], 2);
}

on_both_backends!(
    conversation_actors_start_on_demand_and_leave_memory_when_idle,
    per_connection_limits_refuse_floods_oversized_frames_and_silent_clients,
    a_message_in_continuation_frames_counts_as_one_and_a_websocket_ping_gets_its_payload_back,
    a_browser_authenticates_with_a_subprotocol_and_a_foreign_origin_is_refused,
    two_agents_of_a_tenant_receive_every_message_once_in_seq_order_and_another_tenant_nothing,
    an_agent_offline_while_500_messages_arrive_gets_exactly_those_500_before_any_live_message,
    a_forged_or_stale_position_gets_reset,
    subscribing_to_a_conversation_that_is_not_in_the_tenant_answers_not_found,
    a_consumer_that_stops_reading_is_closed_and_resumes_with_no_gap_while_others_keep_receiving,
    a_conversation_actor_that_fails_is_restarted_and_loses_nothing,
    the_same_client_id_sent_twice_stores_one_message,
    typing_and_presence_reach_the_other_agents,
    who_is_viewing_a_conversation_reaches_the_team_and_a_newcomer_learns_it_at_once,
    an_unauthenticated_socket_is_closed_within_5_seconds,
    a_token_in_the_first_frame_authenticates_and_viewers_cannot_send,
    a_sandbox_reply_goes_out_and_comes_back_sent_delivered_and_read,
);
