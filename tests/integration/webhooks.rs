//! Outbound webhooks end to end through the real server: endpoints made over REST,
//! events posted to a local receiver and checked with the Standard Webhooks authors'
//! own verifier, retries on the schedule (and `Retry-After`), a restart in the middle
//! of them, a 410 and a long run of failures switching the endpoint off, redelivery,
//! replay, the test event, secret rotation, SSRF refusals, a slow receiver kept to
//! its share, and tenant isolation.

use crate::common::fake_whatsapp::FakeWhatsApp;
use crate::common::wait::until;
use crate::common::{
    self, Backend, IsolatedNode, TestApp, TestDb, spawn_app, spawn_app_with, test_config,
};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use switchboard::config::Config;
use tokio::sync::Semaphore;

/// Fast polling, a short schedule, and the local receiver reachable.
fn tweak(config: &mut Config) {
    config.jobs.poll_ms = 20;
    config.pipeline.poll_ms = 20;
    config.fetch.allow_private_addresses = true;
    config.fetch.allow_plain_http = true;
    config.webhooks.retry_schedule_secs = vec![0, 1, 1, 1];
}

/// One request the receiver got.
#[derive(Clone)]
struct Received {
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_owned()
    }

    /// Whether the Standard Webhooks verifier accepts it under `secret`.
    fn verifies_with(&self, secret: &str) -> bool {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &self.headers)
            .is_ok()
    }
}

/// A status to answer with, and the `Retry-After` seconds to send with it.
type Answer = (u16, Option<u64>);

/// A local webhook receiver: answers each request with the next scripted status
/// (and `Retry-After`), 200 once the script is used up; while `hold` has no permits,
/// requests wait for one.
#[derive(Clone)]
struct Receiver {
    url: String,
    script: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Received>>>,
    hold: Option<Arc<Semaphore>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl Receiver {
    fn start() -> Receiver {
        Self::start_with(None)
    }

    /// A receiver that keeps every request waiting until `release`.
    fn holding() -> Receiver {
        Self::start_with(Some(Arc::new(Semaphore::new(0))))
    }

    fn start_with(hold: Option<Arc<Semaphore>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hooks/in",
            listener.local_addr().unwrap().port()
        );
        let receiver = Receiver {
            url,
            script: Arc::default(),
            seen: Arc::default(),
            hold,
            in_flight: Arc::default(),
            most_in_flight: Arc::default(),
        };
        let shared = receiver.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let shared = shared.clone();
                async move { shared.answer(request, body).await }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        receiver
    }

    async fn answer(&self, request: HttpRequest, body: web::Bytes) -> HttpResponse {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in request.headers() {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        self.seen.lock().unwrap().push(Received {
            headers,
            body: body.to_vec(),
            at: Instant::now(),
        });
        if let Some(hold) = &self.hold {
            let _ = hold.acquire().await;
        }
        let (status, retry_after) = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or((200, None));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut answer =
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
        if let Some(seconds) = retry_after {
            answer.insert_header(("retry-after", seconds.to_string()));
        }
        answer.body(format!("answered {status}"))
    }

    fn answer_next(&self, answers: &[Answer]) {
        self.script.lock().unwrap().extend(answers.iter().copied());
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    fn release(&self) {
        if let Some(hold) = &self.hold {
            hold.close();
        }
    }

    /// Waits for `count` requests and returns them.
    async fn received(&self, count: usize) -> Vec<Received> {
        until(&format!("{count} requests at the receiver"), || async {
            let seen = self.seen();
            (seen.len() >= count).then_some(seen)
        })
        .await
    }
}

/// Makes an endpoint for `types`; its view with the secret.
async fn endpoint(app: &TestApp, token: &str, url: &str, types: &[&str]) -> Value {
    let made = app
        .post(
            "/api/v1/webhooks",
            Some(token),
            json!({ "url": url, "event_types": types, "description": "CRM" }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body
}

/// Switches the endpoint on or off; its view after.
async fn switch(app: &TestApp, token: &str, endpoint: &str, enabled: bool) -> Value {
    let changed = app
        .patch(
            &format!("/api/v1/webhooks/{endpoint}"),
            token,
            json!({ "enabled": enabled }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    changed.body
}

async fn deliveries(app: &TestApp, token: &str, endpoint: &str) -> Vec<Value> {
    let listed = app
        .get(
            &format!("/api/v1/webhooks/{endpoint}/deliveries"),
            Some(token),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["data"].as_array().unwrap().clone()
}

/// Waits until the endpoint's only delivery is in `status`; returns it with its
/// attempts.
async fn settled(app: &TestApp, token: &str, endpoint: &str, status: &str) -> Value {
    let id = until(&format!("a delivery {status}"), || async {
        let all = deliveries(app, token, endpoint).await;
        all.first()
            .filter(|d| d["status"] == status)
            .map(|d| d["id"].as_str().unwrap().to_owned())
    })
    .await;
    let found = app
        .get(
            &format!("/api/v1/webhooks/{endpoint}/deliveries/{id}"),
            Some(token),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    found.body
}

async fn a_customer_message_is_posted_signed_with_the_socket_event_inside(backend: Backend) {
    let app = spawn_app_with(backend, tweak).await;
    let (token, _) = app.owner_session().await;
    let receiver = Receiver::start();
    let made = endpoint(
        &app,
        &token,
        &receiver.url,
        &["message.new", "conversation.created"],
    )
    .await;
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = made["id"].as_str().unwrap();
    // The secret is shown once: never in reads.
    let read = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&token))
        .await;
    assert_eq!(read.body.get("secret"), None, "{}", read.body);

    let said = app.customer_says(&token, "Ana", "Hello there").await;
    let conversation = said["conversation"]["id"].as_str().unwrap();
    let got = receiver.received(2).await;
    let mut types: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["conversation.created", "message.new"]);
    for request in &got {
        assert!(
            request.verifies_with(secret),
            "{}",
            request.header("webhook-signature")
        );
        assert!(!request.verifies_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert!(request.header("webhook-id").starts_with("msg_"));
        assert_eq!(request.header("content-type"), "application/json");
        let body = request.json();
        assert_eq!(body["conversation_id"], conversation);
        assert_eq!(body["data"]["message"]["body"], "Hello there");
        assert_eq!(body["data"]["message"]["direction"], "inbound");
        assert!(body["tenant_id"].is_string(), "{body}");
        assert_eq!(body["timestamp"], body["at"]);
        assert!(body["offset"].as_i64().unwrap() > 0);
    }
    // Two messages to one endpoint: two ids.
    assert_ne!(got[0].header("webhook-id"), got[1].header("webhook-id"));

    let log = until("both deliveries succeeded", || async {
        let all = deliveries(&app, &token, id).await;
        (all.len() == 2 && all.iter().all(|d| d["status"] == "succeeded")).then_some(all)
    })
    .await;
    for delivery in &log {
        assert_eq!(delivery["attempts"], 1);
        assert_eq!(delivery["response_status"], 200);
        assert_eq!(delivery["response_body"], "answered 200");
        assert!(delivery["delivered_at"].is_string());
    }
    let webhook_ids: Vec<&str> = got
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().unwrap())
        .collect();
    for delivery in &log {
        assert!(webhook_ids.contains(&delivery["webhook_id"].as_str().unwrap()));
    }
    // A type not asked for is not sent: the agent's reply is a message.new too, but
    // a status change is not.
    let changed = app
        .patch(
            &format!("/api/v1/conversations/{conversation}"),
            &token,
            json!({ "status": "resolved" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    app.customer_says(&token, "Ana", "One more thing").await;
    let all = receiver.received(3).await;
    let last = all.last().unwrap().json();
    assert_eq!(last["type"], "message.new", "{last}");
    assert_eq!(last["data"]["message"]["body"], "One more thing");
}

async fn a_failing_receiver_is_retried_on_the_schedule_and_retry_after_is_honoured(
    backend: Backend,
) {
    let app = spawn_app_with(backend, tweak).await;
    let (token, _) = app.owner_session().await;
    let receiver = Receiver::start();
    receiver.answer_next(&[(500, None), (503, Some(2))]);
    let made = endpoint(&app, &token, &receiver.url, &["message.new"]).await;
    let id = made["id"].as_str().unwrap();
    app.customer_says(&token, "Bo", "Are you open?").await;

    let delivered = settled(&app, &token, id, "succeeded").await;
    let got = receiver.seen();
    assert_eq!(got.len(), 3);
    // One message, one id on every attempt; each attempt signed afresh.
    let ids: Vec<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids, vec![ids[0].clone(); 3]);
    assert!(
        got.iter()
            .all(|r| r.verifies_with(made["secret"].as_str().unwrap()))
    );
    // The schedule's 1 s, then the 2 s the receiver asked for.
    assert!(got[1].at.duration_since(got[0].at).as_millis() >= 1_000);
    assert!(got[2].at.duration_since(got[1].at).as_millis() >= 2_000);
    assert_eq!(delivered["attempts"], 3);
    let statuses: Vec<&Value> = delivered["attempts_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["response_status"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(503), &json!(200)]);
    assert_eq!(
        delivered["attempts_log"][1]["response_body"],
        "answered 503"
    );
    assert_eq!(delivered["webhook_id"], ids[0]);
    // Success cleared the endpoint's run of failures.
    let read = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&token))
        .await;
    assert_eq!(read.body["failing_since"], Value::Null);
    assert_eq!(read.body["enabled"], true);
}

async fn a_delivery_out_of_attempts_fails_and_is_redelivered_by_hand_under_its_id(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |config| {
        tweak(config);
        config.webhooks.retry_schedule_secs = vec![0, 1];
    })
    .await;
    let (token, _) = app.owner_session().await;
    let receiver = Receiver::start();
    receiver.answer_next(&[(500, None), (302, None)]);
    let made = endpoint(&app, &token, &receiver.url, &["message.new"]).await;
    let id = made["id"].as_str().unwrap();
    app.customer_says(&token, "Cy", "Hi").await;

    let failed = settled(&app, &token, id, "failed").await;
    assert_eq!(failed["attempts"], 2);
    // A redirect is a failure, not followed.
    assert_eq!(failed["response_status"], 302);
    assert_eq!(receiver.seen().len(), 2);
    let delivery = failed["id"].as_str().unwrap();
    let again = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body["status"], "pending");
    let delivered = settled(&app, &token, id, "succeeded").await;
    assert_eq!(delivered["attempts"], 3);
    let got = receiver.seen();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].header("webhook-id"), got[0].header("webhook-id"));
    // Another tenant's admin cannot see or redeliver it.
    let (other, _) = app.register("other-co", "admin@other.example").await;
    let hidden = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&other))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.error_code(), "not_found");
    let refused = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let theirs = app.get("/api/v1/webhooks", Some(&other)).await;
    assert_eq!(theirs.body["data"], json!([]));
}

async fn a_restart_in_the_middle_of_retries_delivers_once_more(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    tweak(&mut config);
    config.webhooks.retry_schedule_secs = vec![0, 2];
    let fake = FakeWhatsApp::new();
    let node = IsolatedNode::start(config.clone(), fake.driver());
    let crashed = TestApp::at(&node.base, db);
    let (token, _) = crashed.owner_session().await;
    let receiver = Receiver::start();
    receiver.answer_next(&[(500, None)]);
    let made = endpoint(&crashed, &token, &receiver.url, &["message.new"]).await;
    let id = made["id"].as_str().unwrap().to_owned();
    crashed.customer_says(&token, "Di", "Still there?").await;
    let retrying = settled(&crashed, &token, &id, "retrying").await;
    assert!(retrying["next_attempt_at"].is_string());
    // Killed once the runner has queued the retry (not while the job still runs,
    // which would leave it to its lease).
    until("the retry queued", || async {
        let queued = crashed.get("/api/v1/jobs?state=queued", Some(&token)).await;
        queued.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "webhook.delivery")
            .then_some(())
    })
    .await;
    node.kill();

    let app = common::start(config, crashed.db).await;
    let delivered = settled(&app, &token, &id, "succeeded").await;
    assert_eq!(delivered["attempts"], 2);
    let got = receiver.seen();
    assert_eq!(got.len(), 2, "one failed attempt and one more, not more");
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
}

async fn a_gone_receiver_switches_its_endpoint_off_and_admins_hear_of_it(backend: Backend) {
    let app = spawn_app_with(backend, tweak).await;
    let (token, mut admin, _) = common::subscribed_owner(&app).await;
    let receiver = Receiver::start();
    receiver.answer_next(&[(410, None)]);
    let made = endpoint(&app, &token, &receiver.url, &["message.new"]).await;
    let id = made["id"].as_str().unwrap();
    app.customer_says(&token, "Ed", "Hello").await;

    let failed = settled(&app, &token, id, "failed").await;
    assert_eq!(failed["attempts"], 1);
    let frame = admin.next_of(&["webhook.disabled"]).await;
    assert_eq!(frame["endpoint_id"], id);
    assert_eq!(frame["data"]["reason"], "the receiver answered 410 Gone");
    assert_eq!(frame["data"]["url"], receiver.url.as_str());
    let read = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&token))
        .await;
    assert_eq!(read.body["enabled"], false);
    assert_eq!(
        read.body["disabled_reason"],
        "the receiver answered 410 Gone"
    );
    let audit = app.get("/api/v1/audit-log", Some(&token)).await;
    assert!(
        audit.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["action"] == "webhook.disable" && row["target_id"] == id),
        "{}",
        audit.body
    );
    // Switched off, it receives nothing more, and a test is refused until it is on.
    app.customer_says(&token, "Ed", "Hello again").await;
    let tested = app
        .post(
            &format!("/api/v1/webhooks/{id}/test"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(tested.status, StatusCode::CONFLICT);
    assert_eq!(tested.error_code(), "conflict");
    assert_eq!(receiver.seen().len(), 1);
}

async fn an_endpoint_failing_for_the_configured_time_is_switched_off(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        tweak(config);
        // Any failure is "for the configured time" here.
        config.webhooks.disable_after_secs = 0;
    })
    .await;
    let (token, mut admin, _) = common::subscribed_owner(&app).await;
    let receiver = Receiver::start();
    receiver.answer_next(&[(500, None)]);
    let made = endpoint(&app, &token, &receiver.url, &["message.new"]).await;
    let id = made["id"].as_str().unwrap();
    app.customer_says(&token, "Flo", "Hi").await;
    let frame = admin.next_of(&["webhook.disabled"]).await;
    let reason = frame["data"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("every attempt has failed since "),
        "{reason}"
    );
    // Its pending retry stops there: the delivery fails without another attempt.
    let failed = settled(&app, &token, id, "failed").await;
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["error"], "the endpoint is switched off");
    // Switched on again, it starts afresh.
    let on = switch(&app, &token, id, true).await;
    assert_eq!(on["disabled_reason"], Value::Null);
    assert_eq!(on["failing_since"], Value::Null);
}

async fn a_replay_sends_what_a_switched_off_endpoint_missed_and_nothing_twice(backend: Backend) {
    let app = spawn_app_with(backend, tweak).await;
    let (token, _) = app.owner_session().await;
    let receiver = Receiver::start();
    let made = endpoint(&app, &token, &receiver.url, &["message.new"]).await;
    let id = made["id"].as_str().unwrap();
    let before = (time::OffsetDateTime::now_utc() - time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    app.customer_says(&token, "Gil", "first").await;
    receiver.received(1).await;
    switch(&app, &token, id, false).await;
    app.customer_says(&token, "Gil", "second").await;
    app.customer_says(&token, "Gil", "third").await;
    switch(&app, &token, id, true).await;

    let replay = app
        .post(
            &format!("/api/v1/webhooks/{id}/replay"),
            Some(&token),
            json!({ "since": before }),
        )
        .await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.body);
    let got = receiver.received(3).await;
    let bodies: Vec<String> = got
        .iter()
        .map(|r| {
            r.json()["data"]["message"]["body"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(bodies[0], "first");
    let mut missed = bodies[1..].to_vec();
    missed.sort();
    assert_eq!(missed, ["second", "third"]);
    until("three deliveries succeeded", || async {
        let all = deliveries(&app, &token, id).await;
        (all.len() == 3 && all.iter().all(|d| d["status"] == "succeeded")).then_some(())
    })
    .await;
    // A second replay of the same time finds everything delivered.
    let again = app
        .post(
            &format!("/api/v1/webhooks/{id}/replay"),
            Some(&token),
            json!({ "since": before }),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    let job = again.body["job_id"].as_str().unwrap().to_owned();
    until("the second replay's job is done", || async {
        let done = app.get("/api/v1/jobs?state=done", Some(&token)).await;
        done.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == job.as_str())
            .then_some(())
    })
    .await;
    assert_eq!(receiver.seen().len(), 3);
}

async fn a_test_event_after_a_rotation_is_signed_with_both_secrets(backend: Backend) {
    let app = spawn_app_with(backend, tweak).await;
    let (token, _) = app.owner_session().await;
    let receiver = Receiver::start();
    let made = endpoint(&app, &token, &receiver.url, &["conversation.lead"]).await;
    let (id, old) = (
        made["id"].as_str().unwrap(),
        made["secret"].as_str().unwrap(),
    );
    let rotated = app
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new = rotated.body["secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(rotated.body["previous_valid_until"].is_string());

    let tested = app
        .post(
            &format!("/api/v1/webhooks/{id}/test"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(tested.status, StatusCode::ACCEPTED, "{}", tested.body);
    assert_eq!(tested.body["event_type"], "webhook.test");
    let got = receiver.received(1).await;
    let signatures = got[0].header("webhook-signature");
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(got[0].verifies_with(new));
    assert!(got[0].verifies_with(old));
    assert_eq!(got[0].json()["type"], "webhook.test");
    assert_eq!(got[0].json()["data"]["endpoint_id"], id);
}

async fn endpoints_refuse_private_loopback_and_plain_http_urls_by_default(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _) = app.owner_session().await;
    for url in [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/in",
        "https://10.0.0.7/in",
        "https://localhost/in",
        "https://user:pw@hooks.example.com/in",
        "not a url",
    ] {
        let made = app
            .post(
                "/api/v1/webhooks",
                Some(&token),
                json!({ "url": url, "event_types": ["message.new"] }),
            )
            .await;
        assert_eq!(made.status, StatusCode::BAD_REQUEST, "{url}: {}", made.body);
        assert_eq!(made.error_code(), "invalid_request");
        let message = made.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("url is refused"), "{url}: {message}");
    }
    let unknown = app
        .post(
            "/api/v1/webhooks",
            Some(&token),
            json!({ "url": "https://hooks.example.com/in", "event_types": ["message.nope"] }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("message.nope")
    );
    assert_eq!(
        app.get("/api/v1/webhooks", Some(&token)).await.body["data"],
        json!([])
    );
    // Agents do not manage webhooks.
    let (_, agent) = app
        .user_with_role(&token, "agent@example.com", "agent")
        .await;
    let refused = app.get("/api/v1/webhooks", Some(&agent)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "forbidden");
}

async fn a_slow_receiver_holds_its_share_and_other_endpoints_still_receive(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        tweak(config);
        config.webhooks.endpoint_concurrency = 2;
        // Held requests must not time out (and be tried again) while the test runs.
        config.webhooks.timeout_secs = 50;
        config.jobs.concurrency = 4;
    })
    .await;
    let (token, _) = app.owner_session().await;
    let slow = Receiver::holding();
    let fast = Receiver::start();
    endpoint(&app, &token, &slow.url, &["message.new"]).await;
    endpoint(&app, &token, &fast.url, &["message.new"]).await;
    for n in 0..6 {
        app.customer_says(&token, &format!("Hal {n}"), "hello")
            .await;
    }
    // Every message reaches the fast receiver while the slow one holds two requests
    // open and never gets a third at once.
    fast.received(6).await;
    slow.received(2).await;
    assert_eq!(slow.most_in_flight.load(Ordering::SeqCst), 2);
    assert_eq!(slow.seen().len(), 2);
    slow.release();
    slow.received(6).await;
    assert_eq!(slow.most_in_flight.load(Ordering::SeqCst), 2);
}

async fn an_ended_automation_run_reaches_admins_and_the_endpoints_that_ask_for_it(
    backend: Backend,
) {
    let app = spawn_app_with(backend, tweak).await;
    let (token, mut admin, _) = common::subscribed_owner(&app).await;
    let receiver = Receiver::start();
    endpoint(&app, &token, &receiver.url, &["automation.run"]).await;
    let rule = app
        .post(
            "/api/v1/automations",
            Some(&token),
            json!({
                "name": "Tag greetings",
                "trigger": {"type": "message_received", "keywords": ["hello"]},
                "actions": [{"type": "add_tag", "tag": "greeted"}]
            }),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.body);
    let rule_id = rule.body["id"].as_str().unwrap();
    let said = app.customer_says(&token, "Ivo", "hello!").await;

    let frame = admin.next_of(&["automation.run"]).await;
    assert_eq!(frame["rule_id"], rule_id);
    assert_eq!(frame["data"]["status"], "done");
    assert_eq!(frame["data"]["rule_name"], "Tag greetings");
    assert_eq!(frame["data"]["conversation_id"], said["conversation"]["id"]);
    assert_eq!(frame["data"]["steps"][0]["action"], "add_tag");
    assert_eq!(frame["data"]["steps"][0]["status"], "done");
    let got = receiver.received(1).await;
    let body = got[0].json();
    assert_eq!(body["type"], "automation.run");
    assert_eq!(body["rule_id"], rule_id);
    assert_eq!(body["data"], frame["data"]);
    // The event holds the run as REST shows it.
    let listed = app
        .get(&format!("/api/v1/automations/{rule_id}/runs"), Some(&token))
        .await;
    assert_eq!(listed.body["data"][0], frame["data"]);
}

crate::on_both_backends!(
    an_ended_automation_run_reaches_admins_and_the_endpoints_that_ask_for_it,
    a_customer_message_is_posted_signed_with_the_socket_event_inside,
    a_failing_receiver_is_retried_on_the_schedule_and_retry_after_is_honoured,
    a_delivery_out_of_attempts_fails_and_is_redelivered_by_hand_under_its_id,
    a_restart_in_the_middle_of_retries_delivers_once_more,
    a_gone_receiver_switches_its_endpoint_off_and_admins_hear_of_it,
    an_endpoint_failing_for_the_configured_time_is_switched_off,
    a_replay_sends_what_a_switched_off_endpoint_missed_and_nothing_twice,
    a_test_event_after_a_rotation_is_signed_with_both_secrets,
    endpoints_refuse_private_loopback_and_plain_http_urls_by_default,
    a_slow_receiver_holds_its_share_and_other_endpoints_still_receive,
);
