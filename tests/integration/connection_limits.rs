//! What slow, idle and flooding clients get: a body deadline, a connection cap that
//! leaves the probes answering, per-address limits on webhooks and socket upgrades,
//! and unknown webhook ids that cost no database read.

use crate::common;

use common::ws::ws_url;
use common::{Backend, TestApp, spawn_app_with};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn port(app: &TestApp) -> u16 {
    app.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// Sends a request head announcing a 100-byte body, then 5 bytes of it, then
/// nothing; returns the status line and body of the answer.
async fn trickle(app: &TestApp, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port(app))).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"te"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream).await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

async fn a_body_that_trickles_in_gets_408_at_the_body_deadline(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.server.body_read_timeout_secs = 1).await;
    let webhook = format!("/webhooks/meta/{}", uuid::Uuid::now_v7());
    for path in ["/api/v1/auth/login", webhook.as_str()] {
        let (status, body) = trickle(&app, path).await;
        assert_eq!(status, "HTTP/1.1 408 Request Timeout", "{path}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "request_timeout", "{path}");
    }
    // Whole bodies still go through.
    assert_eq!(
        app.login(common::TENANT, common::OWNER_EMAIL, common::OWNER_PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

/// Reads what the server sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(common::wait::DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection within the wait")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn a_request_head_that_never_ends_and_an_idle_kept_alive_connection_are_closed(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |config| {
        config.server.request_head_timeout_secs = 1;
        config.server.keep_alive_secs = 1;
    })
    .await;
    // Half a request head, then nothing, as a slowloris sends it.
    let mut slow = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A whole request on a kept-alive connection, then silence.
    let mut idle = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

async fn connections_over_the_cap_get_503_while_the_probes_still_answer(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.server.max_connections = 4;
        config.server.request_head_timeout_secs = 600;
    })
    .await;
    // Idle connections that never send a request, as a slowloris would.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap());
    }
    // The scrape's own connection makes one more.
    common::wait::until_metric(&app.base, "http_open_connections", "", |n| n >= 5.0).await;

    let refused = app.get("/api/v1/auth/me", None).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.error_code(), "busy", "{}", refused.body);
    assert_eq!(refused.headers["retry-after"], "1");
    assert_eq!(refused.headers["connection"], "close");
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);

    drop(idle);
    common::wait::until_true("a place to free up", || async {
        app.get("/api/v1/auth/me", None).await.status == StatusCode::UNAUTHORIZED
    })
    .await;
}

async fn webhooks_for_an_unknown_channel_read_the_store_once(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let unknown = format!("/webhooks/meta/{}", uuid::Uuid::now_v7());
    for _ in 0..3 {
        let reply = app.send(app.http.post(app.url(&unknown)).body("{}")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.error_code(), "not_found");
        let handshake = app
            .get(&format!("{unknown}?hub.mode=subscribe"), None)
            .await;
        assert_eq!(handshake.status, StatusCode::NOT_FOUND);
    }
    let lookups = |source: &'static str| {
        let base = app.base.clone();
        async move {
            common::metric(
                &base,
                "channel_lookups_total",
                &format!("source=\"{source}\""),
            )
            .await
        }
    };
    assert_eq!(lookups("store").await, 1.0);
    assert_eq!(lookups("unknown_cache").await, 5.0);
}

async fn webhooks_and_socket_upgrades_have_their_own_per_address_budgets(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.rate_limit.webhooks_per_ip_per_second = 1;
        config.rate_limit.webhooks_per_ip_burst = 2;
        config.rate_limit.socket_upgrades_per_ip_per_minute = 2;
    })
    .await;
    let unknown = format!("/webhooks/meta/{}", uuid::Uuid::now_v7());
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(
            app.send(app.http.post(app.url(&unknown)).body("{}"))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(codes, [404, 404, 429]);

    let (owner, _) = app.owner_session().await;
    let _first = common::ws::Agent::connect(&app.base, &owner).await;
    let _second = common::ws::Agent::connect(&app.base, &owner).await;
    let third =
        tokio_tungstenite::connect_async(format!("{}?access_token={owner}", ws_url(&app.base)))
            .await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("expected 429, got {other:?}"),
    }
    // The API's own budget is untouched.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&owner)).await.status,
        StatusCode::OK
    );
}

on_both_backends!(
    a_body_that_trickles_in_gets_408_at_the_body_deadline,
    a_request_head_that_never_ends_and_an_idle_kept_alive_connection_are_closed,
    connections_over_the_cap_get_503_while_the_probes_still_answer,
    webhooks_for_an_unknown_channel_read_the_store_once,
    webhooks_and_socket_upgrades_have_their_own_per_address_budgets,
);
