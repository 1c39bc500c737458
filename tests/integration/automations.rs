//! Automation rules end to end through the real server on both backends: rules made
//! over REST, triggered by sandbox customers and agents' changes, acting through the
//! same paths as agents (so the socket shows it live and the audit log names the
//! rule), runs recorded step by step, waits that survive a crash, a failing webhook
//! retried then dead then retried over REST, timers, the loop guard, dry runs.

use crate::common::fake_whatsapp::FakeWhatsApp;
use crate::common::wait::until;
use crate::common::ws::Agent;
use crate::common::{
    self, Backend, IsolatedNode, TestApp, TestDb, execute_on, spawn_app_with, test_config,
};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use switchboard::config::Config;

/// Fast retries, and the local fake receiver reachable.
fn tweak(config: &mut Config) {
    config.jobs.poll_ms = 20;
    config.jobs.retry_base_ms = 20;
    config.jobs.retry_max_secs = 1;
    config.pipeline.poll_ms = 20;
    config.fetch.allow_private_addresses = true;
    config.fetch.allow_plain_http = true;
    config.automations.min_schedule_secs = 1;
}

async fn app(backend: Backend) -> (TestApp, String) {
    let app = spawn_app_with(backend, tweak).await;
    let (token, _) = app.owner_session().await;
    (app, token)
}

async fn create_rule(app: &TestApp, token: &str, rule: Value) -> String {
    let made = app.post("/api/v1/automations", Some(token), rule).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_owned()
}

async fn runs(app: &TestApp, token: &str, rule: &str) -> Vec<Value> {
    let listed = app
        .get(&format!("/api/v1/automations/{rule}/runs"), Some(token))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["data"].as_array().unwrap().clone()
}

/// Waits until the rule has `count` runs, none of them still going; returns them,
/// oldest first.
async fn settled_runs(app: &TestApp, token: &str, rule: &str, count: usize) -> Vec<Value> {
    until(&format!("{count} settled runs of {rule}"), || async {
        let mut all = runs(app, token, rule).await;
        let settled = all
            .iter()
            .all(|r| !["running", "waiting"].contains(&r["status"].as_str().unwrap()));
        all.reverse();
        (all.len() == count && settled).then_some(all)
    })
    .await
}

/// The conversation as `GET /conversations/{id}` shows it, its `lead` beside it.
async fn conversation(app: &TestApp, token: &str, id: &str) -> Value {
    let found = app
        .get(&format!("/api/v1/conversations/{id}"), Some(token))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let mut conversation = found.body["conversation"].clone();
    conversation["lead"] = found.body["lead"].clone();
    conversation
}

async fn messages(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let found = app
        .get(&format!("/api/v1/conversations/{id}/messages"), Some(token))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    found.body["data"].as_array().unwrap().clone()
}

/// The tenant's jobs of `kind` in `state`.
async fn jobs_of(app: &TestApp, token: &str, state: &str, kind: &str) -> Vec<Value> {
    let listed = app
        .get(&format!("/api/v1/jobs?state={state}"), Some(token))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == kind)
        .cloned()
        .collect()
}

/// An agent tags the conversation.
async fn tag(app: &TestApp, token: &str, conversation: &str, tag: &str) {
    let tagged = app
        .post(
            &format!("/api/v1/conversations/{conversation}/tags"),
            Some(token),
            json!({ "tag": tag }),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK, "{}", tagged.body);
}

fn statuses(runs: &[Value]) -> Vec<&str> {
    runs.iter().map(|r| r["status"].as_str().unwrap()).collect()
}

fn steps(run: &Value) -> Vec<(&str, &str)> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["action"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect()
}

async fn a_welcome_rule_greets_each_new_conversation_once_live_and_audited(backend: Backend) {
    let (app, token) = app(backend).await;
    let rule = create_rule(
        &app,
        &token,
        json!({
            "name": "Welcome new leads",
            "trigger": {"type": "conversation_created", "channels": ["sandbox"]},
            "actions": [
                {"type": "send_message", "text": "Hi {{contact.first_name}}, thanks for writing! We answer within the hour."},
                {"type": "add_tag", "tag": "new-lead"}
            ]
        }),
    )
    .await;
    let mut socket = Agent::connect(&app.base, &token).await;
    socket.subscribe(None).await;

    let first = app.customer_says(&token, "Ana Lima", "Hello there").await;
    let id = first["conversation"]["id"].as_str().unwrap().to_owned();
    // The greeting reaches the agents' socket as any reply does, marked with the rule.
    let greeting = loop {
        let frame = socket.next_of(&["message.new"]).await;
        if frame["data"]["message"]["direction"] == "outbound" {
            break frame;
        }
    };
    let message = &greeting["data"]["message"];
    assert_eq!(
        message["body"],
        "Hi Ana, thanks for writing! We answer within the hour."
    );
    assert_eq!(message["author_id"], Value::Null);
    assert_eq!(
        message["attachment"]["automation"]["rule_id"],
        rule.as_str()
    );

    let done = settled_runs(&app, &token, &rule, 1).await;
    assert_eq!(statuses(&done), ["done"]);
    assert_eq!(
        steps(&done[0]),
        [("send_message", "done"), ("add_tag", "done")]
    );
    assert_eq!(done[0]["event"]["trigger"], "conversation_created");
    assert_eq!(done[0]["conversation_id"], id.as_str());
    assert_eq!(
        conversation(&app, &token, &id).await["tags"],
        json!(["new-lead"])
    );

    // The same conversation's next message starts nothing.
    app.customer_says(&token, "Ana Lima", "Are you there?")
        .await;
    let other = app.customer_says(&token, "Bo", "Hi").await;
    let other_id = other["conversation"]["id"].as_str().unwrap();
    let both = settled_runs(&app, &token, &rule, 2).await;
    assert_eq!(both[1]["conversation_id"], other_id);
    let outbound: Vec<Value> = messages(&app, &token, &id)
        .await
        .into_iter()
        .filter(|m| m["direction"] == "outbound")
        .collect();
    assert_eq!(outbound.len(), 1, "one greeting: {outbound:?}");

    // The audit log names the rule and the run for each action.
    let audit = app.get("/api/v1/audit-log?limit=100", Some(&token)).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    let acted: Vec<&Value> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"].as_str().unwrap().starts_with("automation.")
                && e["target_id"] == id.as_str()
        })
        .collect();
    let actions: Vec<&str> = acted
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"automation.send_message"), "{actions:?}");
    assert!(actions.contains(&"automation.add_tag"), "{actions:?}");
    for entry in acted {
        assert_eq!(entry["details"]["rule_id"], rule.as_str());
        assert_eq!(entry["details"]["rule_name"], "Welcome new leads");
        assert_eq!(entry["details"]["run_id"], done[0]["id"]);
    }
}

async fn keywords_and_conditions_decide_whether_a_message_starts_a_rule(backend: Backend) {
    let (app, token) = app(backend).await;
    let rule = create_rule(
        &app,
        &token,
        json!({
            "name": "Pricing questions",
            "trigger": {"type": "message_received", "keywords": ["price", "how much"]},
            "conditions": {"all": [
                {"channel": ["sandbox"]},
                {"not": {"has_tag": "vip"}},
                {"any": [{"status": ["open"]}, {"text_matches": "^never$"}]}
            ]},
            "actions": [
                {"type": "set_priority", "priority": "high"},
                {"type": "add_note", "text": "Asked: {{message.text}}"},
                {"type": "set_contact_field", "field": "interest", "value": "pricing"}
            ]
        }),
    )
    .await;
    let plain = app.customer_says(&token, "Cy", "Good morning").await;
    let asked = app
        .customer_says(&token, "Di", "What is the PRICE of the pro plan?")
        .await;
    let vip = app.customer_says(&token, "Ed", "hello").await;
    let vip_id = vip["conversation"]["id"].as_str().unwrap();
    tag(&app, &token, vip_id, "vip").await;
    app.customer_says(&token, "Ed", "how much is it?").await;

    let done = settled_runs(&app, &token, &rule, 1).await;
    let asked_id = asked["conversation"]["id"].as_str().unwrap();
    assert_eq!(done[0]["conversation_id"], asked_id);
    assert_eq!(
        steps(&done[0]),
        [
            ("set_priority", "done"),
            ("add_note", "done"),
            ("set_contact_field", "done")
        ]
    );
    assert_eq!(
        conversation(&app, &token, asked_id).await["priority"],
        "high"
    );
    let plain_id = plain["conversation"]["id"].as_str().unwrap();
    assert_eq!(
        conversation(&app, &token, plain_id).await["priority"],
        "normal"
    );
    let note = messages(&app, &token, asked_id)
        .await
        .into_iter()
        .find(|m| m["direction"] == "note")
        .unwrap();
    assert_eq!(note["body"], "Asked: What is the PRICE of the pro plan?");
    let contact_id = asked["conversation"]["contact"]["id"].as_str().unwrap();
    let contact = app
        .get(&format!("/api/v1/contacts/{contact_id}"), Some(&token))
        .await;
    assert_eq!(contact.body["custom_fields"]["interest"], "pricing");
}

async fn status_tag_and_assignment_changes_start_rules_that_chain(backend: Backend) {
    let (app, token) = app(backend).await;
    let me = app.get("/api/v1/auth/me", Some(&token)).await;
    let owner_id = me.body["user"]["id"].as_str().unwrap().to_owned();
    let on_vip = create_rule(
        &app,
        &token,
        json!({
            "name": "VIPs go to the owner",
            "trigger": {"type": "tag_added", "tag": "vip"},
            "actions": [
                {"type": "set_priority", "priority": "urgent"},
                {"type": "assign", "user_id": owner_id}
            ]
        }),
    )
    .await;
    let on_assign = create_rule(
        &app,
        &token,
        json!({
            "name": "Mark assigned",
            "trigger": {"type": "assignment_changed"},
            "conditions": {"assigned": true},
            "actions": [{"type": "add_tag", "tag": "assigned"}]
        }),
    )
    .await;
    let on_resolved = create_rule(
        &app,
        &token,
        json!({
            "name": "Thank on resolve",
            "trigger": {"type": "status_changed", "to": "resolved"},
            "actions": [{"type": "send_message", "text": "Glad we could help!"}]
        }),
    )
    .await;
    let said = app.customer_says(&token, "Fay", "hi").await;
    let id = said["conversation"]["id"].as_str().unwrap().to_owned();
    tag(&app, &token, &id, "vip").await;

    let vip_runs = settled_runs(&app, &token, &on_vip, 1).await;
    assert_eq!(vip_runs[0]["depth"], 0);
    assert_eq!(vip_runs[0]["event"]["detail"]["tag_added"], "vip");
    // The assignment the first rule made starts the second, one level deeper.
    let assign_runs = settled_runs(&app, &token, &on_assign, 1).await;
    assert_eq!(assign_runs[0]["depth"], 1);
    assert_eq!(statuses(&assign_runs), ["done"]);
    let after = conversation(&app, &token, &id).await;
    assert_eq!(after["priority"], "urgent");
    assert_eq!(after["assignee_id"], owner_id.as_str());
    assert_eq!(after["tags"], json!(["assigned", "vip"]));

    // Another status than the rule's starts nothing; resolving does.
    for status in ["pending", "resolved"] {
        let changed = app
            .patch(
                &format!("/api/v1/conversations/{id}"),
                &token,
                json!({"status": status}),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    }
    let resolved = settled_runs(&app, &token, &on_resolved, 1).await;
    assert_eq!(
        resolved[0]["event"]["detail"]["status"],
        json!({"from": "pending", "to": "resolved"})
    );
    let thanks = messages(&app, &token, &id).await;
    assert!(
        thanks
            .iter()
            .any(|m| m["direction"] == "outbound" && m["body"] == "Glad we could help!"),
        "{thanks:?}"
    );
}

async fn the_loop_guard_stops_rules_that_set_each_other_off(backend: Backend) {
    let (app, token) = app(backend).await;
    let remove = create_rule(
        &app,
        &token,
        json!({
            "name": "Remove it",
            "trigger": {"type": "tag_added", "tag": "ping"},
            "actions": [{"type": "remove_tag", "tag": "ping"}]
        }),
    )
    .await;
    let add = create_rule(
        &app,
        &token,
        json!({
            "name": "Put it back",
            "trigger": {"type": "tag_removed", "tag": "ping"},
            "actions": [{"type": "add_tag", "tag": "ping"}]
        }),
    )
    .await;
    let said = app.customer_says(&token, "Gus", "hi").await;
    let id = said["conversation"]["id"].as_str().unwrap().to_owned();
    tag(&app, &token, &id, "ping").await;

    // Depths 0 and 2 remove, 1 and 3 add back; depth 4 is past the cap of 3.
    let removes = settled_runs(&app, &token, &remove, 3).await;
    let depths = |runs: &[Value]| -> Vec<i64> {
        runs.iter().map(|r| r["depth"].as_i64().unwrap()).collect()
    };
    assert_eq!(depths(&removes), [0, 2, 4]);
    assert_eq!(statuses(&removes), ["done", "done", "skipped"]);
    assert!(
        removes[2]["reason"]
            .as_str()
            .unwrap()
            .starts_with("loop guard: caused by a chain of 4 rule runs"),
        "{}",
        removes[2]["reason"]
    );
    let adds = settled_runs(&app, &token, &add, 2).await;
    assert_eq!(depths(&adds), [1, 3]);
    assert_eq!(
        conversation(&app, &token, &id).await["tags"],
        json!(["ping"])
    );
}

async fn a_rule_runs_at_most_its_hourly_cap_in_one_conversation(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        tweak(config);
        config.automations.max_runs_per_hour = 2;
    })
    .await;
    let (token, _) = app.owner_session().await;
    let rule = create_rule(
        &app,
        &token,
        json!({
            "name": "Note every message",
            "trigger": {"type": "message_received"},
            "actions": [{"type": "add_note", "text": "seen"}]
        }),
    )
    .await;
    for text in ["one", "two", "three"] {
        app.customer_says(&token, "Hal", text).await;
    }
    let all = settled_runs(&app, &token, &rule, 3).await;
    assert_eq!(statuses(&all), ["done", "done", "skipped"]);
    assert_eq!(
        all[2]["reason"],
        "loop guard: the rule ran 2 times in this conversation in the last hour (at most 2)"
    );
}

/// A local receiver of the rules' webhooks: answers 500 while `failing`, else 200, and
/// keeps each request's idempotency key and body.
#[derive(Clone)]
struct Receiver {
    url: String,
    failing: Arc<AtomicU32>,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hooks/crm",
            listener.local_addr().unwrap().port()
        );
        let failing = Arc::new(AtomicU32::new(1));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (f, s) = (failing.clone(), seen.clone());
        let server = HttpServer::new(move || {
            let (failing, seen) = (f.clone(), s.clone());
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let (failing, seen) = (failing.clone(), seen.clone());
                async move {
                    let key = request
                        .headers()
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                    seen.lock().unwrap().push((key, body));
                    if failing.load(Ordering::SeqCst) == 1 {
                        HttpResponse::InternalServerError().finish()
                    } else {
                        HttpResponse::Ok().json(json!({"ok": true}))
                    }
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        Receiver { url, failing, seen }
    }
}

async fn a_failing_webhook_is_retried_then_dead_then_retried_over_rest(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        tweak(config);
        config.automations.step_attempts = 2;
    })
    .await;
    let (token, _) = app.owner_session().await;
    let receiver = Receiver::start();
    let rule = create_rule(
        &app,
        &token,
        json!({
            "name": "Tell the CRM",
            "trigger": {"type": "message_received"},
            "actions": [
                {"type": "webhook", "url": receiver.url},
                {"type": "add_tag", "tag": "synced"}
            ]
        }),
    )
    .await;
    let said = app.customer_says(&token, "Ida", "I want a quote").await;
    let id = said["conversation"]["id"].as_str().unwrap().to_owned();

    let failed = settled_runs(&app, &token, &rule, 1).await;
    assert_eq!(statuses(&failed), ["failed"]);
    assert_eq!(steps(&failed[0]), [("webhook", "failed")]);
    assert_eq!(failed[0]["steps"][0]["attempts"], 2);
    assert_eq!(
        failed[0]["steps"][0]["error"],
        "HTTP 500 Internal Server Error"
    );
    // The run is recorded failed by the step's last attempt; the runner settles
    // the job as dead just after that attempt returns.
    let jobs = until("the step's job is dead", || async {
        let dead = app.get("/api/v1/jobs?state=dead", Some(&token)).await;
        assert_eq!(dead.status, StatusCode::OK, "{}", dead.body);
        let jobs = dead.body["data"].as_array().unwrap().clone();
        (!jobs.is_empty()).then_some(jobs)
    })
    .await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["kind"], "automation.step");
    assert_eq!(jobs[0]["last_error"], "HTTP 500 Internal Server Error");
    assert_eq!(jobs[0]["attempts"], 2);

    // The receiver recovers; retrying the dead job finishes the run.
    receiver.failing.store(0, Ordering::SeqCst);
    let job = jobs[0]["id"].as_str().unwrap();
    let retried = app
        .post(
            &format!("/api/v1/jobs/{job}/retry"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    // Queued again, and perhaps already claimed by the time it answers.
    assert_eq!(retried.body["id"], job);
    let done = until("the retried run is done", || async {
        let all = runs(&app, &token, &rule).await;
        (statuses(&all) == ["done"]).then_some(all)
    })
    .await;
    assert_eq!(steps(&done[0]), [("webhook", "done"), ("add_tag", "done")]);
    assert_eq!(
        conversation(&app, &token, &id).await["tags"],
        json!(["synced"])
    );

    // Three calls, one idempotency key, the run's event in the body.
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let keys: std::collections::HashSet<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let body = &seen[2].1;
    assert_eq!(body["type"], "automation.webhook");
    assert_eq!(body["rule_name"], "Tell the CRM");
    assert_eq!(body["conversation_id"], id.as_str());
    assert_eq!(body["event"]["message"]["text"], "I want a quote");
    // A job that is not dead cannot be retried.
    let again = app
        .post(
            &format!("/api/v1/jobs/{job}/retry"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn a_webhook_to_a_private_address_is_refused_by_default(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (token, _) = app.owner_session().await;
    let receiver = Receiver::start();
    receiver.failing.store(0, Ordering::SeqCst);
    let rule = create_rule(
        &app,
        &token,
        json!({
            "name": "Internal call",
            "trigger": {"type": "message_received"},
            "actions": [{"type": "webhook", "url": receiver.url}]
        }),
    )
    .await;
    app.customer_says(&token, "Jo", "hi").await;
    let failed = settled_runs(&app, &token, &rule, 1).await;
    assert_eq!(statuses(&failed), ["failed"]);
    // Refused before any byte was sent: dead at the first attempt.
    assert_eq!(failed[0]["steps"][0]["attempts"], 1);
    let error = failed[0]["steps"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("refused:"), "{error}");
    assert!(receiver.seen.lock().unwrap().is_empty());
}

async fn a_contact_field_value_its_definition_refuses_fails_the_step_with_the_reason(
    backend: Backend,
) {
    let (app, token) = app(backend).await;
    let defined = app
        .post(
            "/api/v1/contact-fields",
            Some(&token),
            json!({"key": "seats", "label": "Seats", "kind": "number"}),
        )
        .await;
    assert_eq!(defined.status, StatusCode::CREATED, "{}", defined.body);
    let mut rules = Vec::new();
    for (word, value) in [("twelve", "12"), ("dozen", "a dozen")] {
        let rule = json!({
            "name": format!("Seats from '{word}'"),
            "trigger": {"type": "message_received", "keywords": [word]},
            "actions": [
                {"type": "set_contact_field", "field": "seats", "value": value},
                {"type": "add_tag", "tag": "counted"}
            ]
        });
        rules.push(create_rule(&app, &token, rule).await);
    }
    let fits = app.customer_says(&token, "Jo", "twelve seats").await;
    let refused = app.customer_says(&token, "Al", "a dozen seats").await;
    let done = settled_runs(&app, &token, &rules[0], 1).await;
    assert_eq!(
        steps(&done[0]),
        [("set_contact_field", "done"), ("add_tag", "done")]
    );
    let failed = settled_runs(&app, &token, &rules[1], 1).await;
    assert_eq!(statuses(&failed), ["failed"]);
    assert_eq!(steps(&failed[0]), [("set_contact_field", "failed")]);
    assert_eq!(
        failed[0]["steps"][0]["error"],
        "custom field 'seats' takes a number; got \"a dozen\""
    );
    let contact_of = |said: &Value| {
        said["conversation"]["contact"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let jo = app
        .get(
            &format!("/api/v1/contacts/{}", contact_of(&fits)),
            Some(&token),
        )
        .await;
    assert_eq!(jo.body["custom_fields"], json!({"seats": 12}));
    let al = app
        .get(
            &format!("/api/v1/contacts/{}", contact_of(&refused)),
            Some(&token),
        )
        .await;
    assert_eq!(al.body["custom_fields"], json!({}));
}

async fn a_wait_survives_a_crash_and_the_next_step_runs_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    tweak(&mut config);
    // The run shows `waiting` just before its job is handed back with the wait's due
    // time: a kill in between leaves the job under the dead node's lease (twice the
    // job timeout), so a short timeout lets it lapse within the test's deadline.
    config.jobs.timeout_secs = 3;
    let fake = FakeWhatsApp::new();
    let node = IsolatedNode::start(config.clone(), fake.driver());
    let crashed = TestApp::at(&node.base, db);
    let (token, _) = crashed.owner_session().await;
    let rule = create_rule(
        &crashed,
        &token,
        json!({
            "name": "Follow up",
            "trigger": {"type": "message_received"},
            "actions": [
                {"type": "add_tag", "tag": "asked"},
                {"type": "wait", "seconds": 2},
                {"type": "send_message", "text": "Did that answer your question?"}
            ]
        }),
    )
    .await;
    let said = crashed
        .customer_says(&token, "Kim", "how do I reset it?")
        .await;
    let id = said["conversation"]["id"].as_str().unwrap().to_owned();
    let waiting = until("the run waits", || async {
        let all = runs(&crashed, &token, &rule).await;
        all.first().filter(|r| r["status"] == "waiting").cloned()
    })
    .await;
    assert_eq!(steps(&waiting), [("add_tag", "done"), ("wait", "done")]);
    node.kill();

    let app = common::start(config, crashed.db).await;
    let done = settled_runs(&app, &token, &rule, 1).await;
    assert_eq!(statuses(&done), ["done"]);
    assert_eq!(
        steps(&done[0]),
        [
            ("add_tag", "done"),
            ("wait", "done"),
            ("send_message", "done")
        ]
    );
    assert_eq!(done[0]["steps"][2]["attempts"], 1);
    let sent: Vec<Value> = messages(&app, &token, &id)
        .await
        .into_iter()
        .filter(|m| m["direction"] == "outbound")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["body"], "Did that answer your question?");
}

async fn no_agent_reply_fires_for_the_unanswered_conversation_only(backend: Backend) {
    let (app, token) = app(backend).await;
    let rule = create_rule(
        &app,
        &token,
        json!({
            "name": "Nobody answered",
            "trigger": {"type": "no_agent_reply", "minutes": 10},
            "actions": [{"type": "hand_off", "reason": "nobody answered within 10 minutes"}]
        }),
    )
    .await;
    let waiting = app.customer_says(&token, "Lu", "anyone?").await;
    let answered = app.customer_says(&token, "Mo", "hello?").await;
    let waiting_id = waiting["conversation"]["id"].as_str().unwrap().to_owned();
    let answered_id = answered["conversation"]["id"].as_str().unwrap().to_owned();
    app.customer_says(&token, "Lu", "still there?").await;
    let reply = app
        .post(
            &format!("/api/v1/conversations/{answered_id}/messages"),
            Some(&token),
            json!({"body": "Yes, how can I help?", "client_id": "c1"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // Three timers (one per customer message), due in ten minutes.
    let timers = until("three timers", || async {
        let timers = jobs_of(&app, &token, "queued", "automation.timer").await;
        (timers.len() == 3).then_some(timers)
    })
    .await;
    // Ten minutes pass: the timers fall due.
    for timer in &timers {
        execute_on(
            &app.db,
            backend,
            "UPDATE jobs SET run_at = 0 WHERE id = $1",
            timer["id"].as_str().unwrap(),
        )
        .await;
    }
    until("the timers ran", || async {
        let ran = jobs_of(&app, &token, "done", "automation.timer").await;
        (ran.len() == 3).then_some(())
    })
    .await;
    let fired = settled_runs(&app, &token, &rule, 1).await;
    assert_eq!(fired[0]["conversation_id"], waiting_id.as_str());
    assert_eq!(fired[0]["event"]["trigger"], "no_agent_reply");
    let lead = conversation(&app, &token, &waiting_id).await;
    assert_eq!(lead["lead"]["handoff"], "pending_human");
    let note = messages(&app, &token, &waiting_id)
        .await
        .into_iter()
        .find(|m| m["direction"] == "note")
        .unwrap();
    assert!(
        note["body"]
            .as_str()
            .unwrap()
            .contains("nobody answered within 10 minutes (rule \"Nobody answered\")"),
        "{note}"
    );
}

async fn rules_are_checked_listed_disabled_and_tried_on_past_events(backend: Backend) {
    let (app, token) = app(backend).await;
    let refused = [
        (
            json!({"name": "", "trigger": {"type": "contact_created"}, "actions": [{"type": "unassign"}]}),
            "name must be 1 to 100 characters",
        ),
        (
            json!({"name": "x", "trigger": {"type": "contact_created"}, "actions": []}),
            "actions: 1 to 20",
        ),
        (
            json!({"name": "x", "trigger": {"type": "message_received", "pattern": "(unclosed"}, "actions": [{"type": "unassign"}]}),
            "trigger.pattern '(unclosed'",
        ),
        (
            json!({"name": "x", "trigger": {"type": "contact_created"}, "actions": [{"type": "wait", "seconds": 2_592_001}]}),
            "actions[0] (wait): seconds must be 1 to 2592000 (30 days)",
        ),
        (
            json!({"name": "x", "trigger": {"type": "no_agent_reply", "minutes": 0}, "actions": [{"type": "unassign"}]}),
            "trigger.minutes must be 1 to 43200",
        ),
        (
            json!({"name": "x", "trigger": {"type": "contact_created"}, "actions": [{"type": "webhook", "url": "ftp://example.com"}]}),
            "actions[0] (webhook): url must be an http(s) URL",
        ),
    ];
    for (body, message) in refused {
        let reply = app.post("/api/v1/automations", Some(&token), body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.error_code(), "invalid_request");
        let text = reply.body["error"]["message"].as_str().unwrap();
        assert!(text.starts_with(message), "{text} vs {message}");
    }
    let unknown = app
        .post(
            "/api/v1/automations",
            Some(&token),
            json!({"name": "x", "trigger": {"type": "moon_phase"}, "actions": [{"type": "unassign"}]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    let rule = create_rule(
        &app,
        &token,
        json!({
            "name": "Refunds",
            "trigger": {"type": "message_received", "keywords": ["refund"]},
            "actions": [{"type": "add_tag", "tag": "refund"}]
        }),
    )
    .await;
    let disabled = app
        .post(
            &format!("/api/v1/automations/{rule}/disable"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(disabled.body["enabled"], false);
    let mut socket = Agent::connect(&app.base, &token).await;
    socket.subscribe(None).await;
    app.customer_says(&token, "Ned", "I want a refund").await;
    let offset = socket.next_of(&["message.new"]).await["offset"]
        .as_i64()
        .unwrap();
    // Disabled: nothing ran, but a dry run shows what would have.
    let tried = app
        .post(
            &format!("/api/v1/automations/{rule}/dry-run"),
            Some(&token),
            json!({"offset": offset}),
        )
        .await;
    assert_eq!(tried.status, StatusCode::OK, "{}", tried.body);
    assert_eq!(tried.body["would_run"], true);
    assert_eq!(
        tried.body["actions"],
        json!([{"type": "add_tag", "tag": "refund"}])
    );
    assert!(runs(&app, &token, &rule).await.is_empty());

    let listed = app.get("/api/v1/automations", Some(&token)).await;
    assert_eq!(listed.body["data"][0]["name"], "Refunds");
    assert_eq!(
        listed.body["data"][0]["trigger"]["keywords"],
        json!(["refund"])
    );
    let deleted = app
        .delete(&format!("/api/v1/automations/{rule}"), &token)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app
        .get(&format!("/api/v1/automations/{rule}"), Some(&token))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    // Agents cannot manage rules.
    let (_, agent) = app
        .user_with_role(&token, "agent@example.com", "agent")
        .await;
    let forbidden = app.get("/api/v1/automations", Some(&agent)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}

async fn the_pipelines_findings_timers_and_the_remaining_actions_work_end_to_end(backend: Backend) {
    let (app, token) = app(backend).await;
    let me = app.get("/api/v1/auth/me", Some(&token)).await;
    let owner_id = me.body["user"]["id"].as_str().unwrap().to_owned();
    // The owner is online, so round robin has someone to pick.
    let mut socket = Agent::connect(&app.base, &token).await;
    socket.subscribe(None).await;
    let rule = |body: Value| create_rule(&app, &token, body);
    let unhappy = rule(json!({
        "name": "Unhappy customers",
        "trigger": {"type": "negative_sentiment"},
        "actions": [{"type": "add_tag", "tag": "unhappy"}]
    }))
    .await;
    let hot = rule(json!({
        "name": "Hot leads first",
        "trigger": {"type": "lead_temperature_changed", "to": "hot"},
        "actions": [
            {"type": "set_priority", "priority": "urgent"},
            {"type": "assign_round_robin"}
        ]
    }))
    .await;
    let new_contact = rule(json!({
        "name": "Where new contacts come from",
        "trigger": {"type": "contact_created"},
        "actions": [{"type": "set_contact_field", "field": "source", "value": "sandbox"}]
    }))
    .await;
    let quiet = rule(json!({
        "name": "Customer went quiet",
        "trigger": {"type": "no_customer_reply", "minutes": 5},
        "actions": [
            {"type": "snooze", "minutes": 60},
            {"type": "wait_until", "time": "09:00", "utc_offset_minutes": 60},
            {"type": "add_note", "text": "Still quiet"}
        ]
    }))
    .await;
    let reset = rule(json!({
        "name": "Reset",
        "trigger": {"type": "tag_added", "tag": "reset"},
        "conditions": {"temperature": ["hot"]},
        "actions": [{"type": "unassign"}, {"type": "set_status", "status": "pending"}]
    }))
    .await;

    let angry = app
        .customer_says(&token, "Ola", "This is terrible and awful, I hate it")
        .await;
    let angry_id = angry["conversation"]["id"].as_str().unwrap().to_owned();
    let runs_of_unhappy = settled_runs(&app, &token, &unhappy, 1).await;
    assert_eq!(runs_of_unhappy[0]["event"]["trigger"], "negative_sentiment");
    assert_eq!(
        conversation(&app, &token, &angry_id).await["tags"],
        json!(["unhappy"])
    );
    // A new contact: its first message set where it came from.
    let made = settled_runs(&app, &token, &new_contact, 1).await;
    assert_eq!(made[0]["conversation_id"], angry_id.as_str());
    let contact_id = angry["conversation"]["contact"]["id"].as_str().unwrap();
    let contact = app
        .get(&format!("/api/v1/contacts/{contact_id}"), Some(&token))
        .await;
    assert_eq!(contact.body["custom_fields"]["source"], "sandbox");

    let buyer = app
        .customer_says(
            &token,
            "Pia",
            "Hi, how much is the Pro plan? Is it available? I need it today, thanks!",
        )
        .await;
    let buyer_id = buyer["conversation"]["id"].as_str().unwrap().to_owned();
    let heated = settled_runs(&app, &token, &hot, 1).await;
    assert_eq!(
        heated[0]["event"]["detail"],
        json!({"from": "cold", "to": "hot"})
    );
    let after = conversation(&app, &token, &buyer_id).await;
    assert_eq!(after["priority"], "urgent");
    assert_eq!(after["assignee_id"], owner_id.as_str());
    // Two customers' first messages, two new contacts; the second one's the buyer's.
    settled_runs(&app, &token, &new_contact, 2).await;

    // The team answers the buyer, who goes quiet: five minutes later the rule snoozes.
    let answer = app
        .post(
            &format!("/api/v1/conversations/{buyer_id}/messages"),
            Some(&token),
            json!({"body": "It is 20 EUR a month.", "client_id": "price-1"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let timer = until("the quiet timer", || async {
        let queued = jobs_of(&app, &token, "queued", "automation.timer").await;
        queued.into_iter().next()
    })
    .await;
    execute_on(
        &app.db,
        backend,
        "UPDATE jobs SET run_at = 0 WHERE id = $1",
        timer["id"].as_str().unwrap(),
    )
    .await;
    let waiting = until("the quiet run waits for 09:00", || async {
        let all = runs(&app, &token, &quiet).await;
        all.first().filter(|r| r["status"] == "waiting").cloned()
    })
    .await;
    assert_eq!(waiting["event"]["trigger"], "no_customer_reply");
    assert_eq!(
        steps(&waiting),
        [("snooze", "done"), ("wait_until", "done")]
    );
    let until_text = waiting["steps"][1]["next_at"].as_str().unwrap();
    // 09:00 at UTC+1 is 08:00 UTC.
    assert!(until_text.contains("T08:00:00"), "{until_text}");
    assert_eq!(
        conversation(&app, &token, &buyer_id).await["status"],
        "snoozed"
    );

    // Tagging `reset` on a hot lead's conversation unassigns it and sets it pending.
    tag(&app, &token, &buyer_id, "reset").await;
    settled_runs(&app, &token, &reset, 1).await;
    let reset_to = conversation(&app, &token, &buyer_id).await;
    assert_eq!(reset_to["assignee_id"], Value::Null);
    assert_eq!(reset_to["status"], "pending");
}

/// Two nodes on one Postgres database joined by Redis, both following the tenant's
/// stream and running jobs: each customer message starts its rule once, and the
/// rule's webhook is called once per message.
#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn on_two_nodes_a_rule_runs_once_per_event() {
    const MESSAGES: usize = 20;
    let (a, b) = common::two_nodes_with(tweak).await;
    let (token, _) = a.owner_session().await;
    let receiver = Receiver::start();
    receiver.failing.store(0, Ordering::SeqCst);
    let rule = create_rule(
        &a,
        &token,
        json!({
            "name": "Every message to the CRM",
            "trigger": {"type": "message_received"},
            "actions": [
                {"type": "add_note", "text": "seen: {{message.text}}"},
                {"type": "webhook", "url": receiver.url}
            ]
        }),
    )
    .await;
    let http = reqwest::Client::new();
    for n in 0..MESSAGES {
        let base = if n % 2 == 0 {
            a.base.clone()
        } else {
            b.clone()
        };
        let reply = http
            .post(format!("{base}/api/v1/sandbox/demo/inbound"))
            .bearer_auth(&token)
            .json(&json!({ "from": format!("customer-{}", n % 4), "text": format!("message {n}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::CREATED);
    }
    let all = settled_runs(&a, &token, &rule, MESSAGES).await;
    assert!(all.iter().all(|r| r["status"] == "done"), "{all:?}");
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), MESSAGES);
    let texts: std::collections::BTreeSet<String> = seen
        .iter()
        .map(|(_, body)| {
            body["event"]["message"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts.len(), MESSAGES, "each message once: {texts:?}");
    // One note per customer message in each conversation.
    let conversations: std::collections::BTreeSet<String> = all
        .iter()
        .map(|r| r["conversation_id"].as_str().unwrap().to_owned())
        .collect();
    for id in conversations {
        let timeline = messages(&a, &token, &id).await;
        let inbound = timeline
            .iter()
            .filter(|m| m["direction"] == "inbound")
            .count();
        let notes = timeline.iter().filter(|m| m["direction"] == "note").count();
        assert_eq!(inbound, notes, "{timeline:?}");
    }
}

/// The ticks (Unix ms) the receiver was called for, in order, and how often each.
fn ticks_called(receiver: &Receiver) -> std::collections::BTreeMap<i64, usize> {
    let mut ticks = std::collections::BTreeMap::new();
    for (_, body) in receiver.seen.lock().unwrap().iter() {
        let tick = body["event"]["detail"]["tick"].as_str().unwrap();
        let at = time::OffsetDateTime::parse(tick, &time::format_description::well_known::Rfc3339)
            .unwrap();
        *ticks
            .entry((at.unix_timestamp_nanos() / 1_000_000) as i64)
            .or_insert(0) += 1;
    }
    ticks
}

/// Each of at least `count` ticks called the receiver once, a second apart.
async fn ticked_once_each(receiver: &Receiver, count: usize) {
    let ticks = until(&format!("{count} ticks"), || async {
        let ticks = ticks_called(receiver);
        (ticks.len() >= count).then_some(ticks)
    })
    .await;
    assert!(
        ticks.values().all(|n| *n == 1),
        "a tick ran twice: {ticks:?}"
    );
    let at: Vec<i64> = ticks.keys().copied().collect();
    assert!(
        at.windows(2).all(|pair| pair[1] - pair[0] == 1_000),
        "ticks a second apart, none missed: {at:?}"
    );
}

async fn a_schedule_ticks_in_its_time_zone_until_it_is_disabled(backend: Backend) {
    let (app, token) = app(backend).await;
    let receiver = Receiver::start();
    receiver.failing.store(0, Ordering::SeqCst);
    let refused = [
        (
            json!({"type": "schedule", "cron": "0 9 * * *", "time_zone": "Mars/Olympus"}),
            json!([{"type": "webhook", "url": receiver.url}]),
            "trigger.time_zone 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            json!({"type": "schedule", "cron": "0 9 * * *"}),
            json!([{"type": "add_tag", "tag": "x"}]),
            "actions[0] (add_tag): a schedule's runs have no conversation",
        ),
        (
            json!({"type": "schedule", "cron": "61 * * * *"}),
            json!([{"type": "webhook", "url": receiver.url}]),
            "trigger.cron '61 * * * *'",
        ),
    ];
    for (trigger, actions, message) in refused {
        let reply = app
            .post(
                "/api/v1/automations",
                Some(&token),
                json!({"name": "x", "trigger": trigger, "actions": actions}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        let text = reply.body["error"]["message"].as_str().unwrap();
        assert!(text.starts_with(message), "{text} vs {message}");
    }
    let rule = create_rule(
        &app,
        &token,
        json!({
            "name": "Every second",
            "trigger": {"type": "schedule", "cron": "* * * * * *", "time_zone": "Europe/Lisbon"},
            "actions": [{"type": "webhook", "url": receiver.url}]
        }),
    )
    .await;
    ticked_once_each(&receiver, 3).await;
    let ran = runs(&app, &token, &rule).await;
    assert!(ran.iter().all(|r| r["event"]["trigger"] == "schedule"));
    assert!(ran.iter().all(|r| r["conversation_id"].is_null()));

    let disabled = app
        .post(
            &format!("/api/v1/automations/{rule}/disable"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    // The tick already queued finds the rule disabled and adds no other; once none is
    // queued or running, every run a tick started is recorded.
    until("no tick left queued or running", || async {
        let queued = jobs_of(&app, &token, "queued", "automation.tick").await;
        let running = jobs_of(&app, &token, "running", "automation.tick").await;
        (queued.is_empty() && running.is_empty()).then_some(())
    })
    .await;
    let settled = settled_runs(&app, &token, &rule, runs(&app, &token, &rule).await.len()).await;
    assert_eq!(ticks_called(&receiver).len(), settled.len());
}

async fn a_schedule_may_not_tick_more_often_than_the_configured_minimum(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (token, _) = app.owner_session().await;
    let body = |cron: &str| {
        json!({
            "name": "Often",
            "trigger": {"type": "schedule", "cron": cron},
            "actions": [{"type": "webhook", "url": "https://crm.example.com/hook"}]
        })
    };
    let often = app
        .post("/api/v1/automations", Some(&token), body("*/30 * * * * *"))
        .await;
    assert_eq!(often.status, StatusCode::BAD_REQUEST, "{}", often.body);
    assert_eq!(
        often.body["error"]["message"],
        "trigger.cron ticks more often than every 60 seconds"
    );
    let minutely = app
        .post("/api/v1/automations", Some(&token), body("* * * * *"))
        .await;
    assert_eq!(minutely.status, StatusCode::CREATED, "{}", minutely.body);
}

/// Two nodes both schedule the rule's ticks and run jobs: each tick runs once.
#[actix_rt::test]
#[cfg_attr(
    not(cluster_suite),
    ignore = "set TEST_DATABASE_URL and TEST_REDIS_URL to run the cluster suite"
)]
async fn on_two_nodes_a_schedule_ticks_once_per_tick() {
    let (a, _b) = common::two_nodes_with(tweak).await;
    let (token, _) = a.owner_session().await;
    let receiver = Receiver::start();
    receiver.failing.store(0, Ordering::SeqCst);
    create_rule(
        &a,
        &token,
        json!({
            "name": "Every second, on two nodes",
            "trigger": {"type": "schedule", "cron": "* * * * * *"},
            "actions": [{"type": "webhook", "url": receiver.url}]
        }),
    )
    .await;
    ticked_once_each(&receiver, 5).await;
}

/// Meta's side: a lead form's submission and a WhatsApp message arrive as signed
/// webhooks; the template a rule sends leaves through the Graph API.
async fn a_captured_lead_and_a_whatsapp_template_go_through_the_real_channels(backend: Backend) {
    use crate::common::meta::{now_secs, setup_with, text_from};
    let meta = setup_with(backend, tweak).await;
    let token = meta.owner.clone();
    let whatsapp = meta.whatsapp().await;
    let leads_channel = meta.channel(&token, "lead_ads", "1234567890").await;
    let on_lead = create_rule(
        &meta.app,
        &token,
        json!({
            "name": "New leads",
            "trigger": {"type": "lead_captured"},
            "conditions": {"contact_field": {"field": "email", "op": "exists"}},
            "actions": [
                {"type": "add_tag", "tag": "lead"},
                {"type": "set_contact_field", "field": "stage", "value": "new"}
            ]
        }),
    )
    .await;
    let welcome = create_rule(
        &meta.app,
        &token,
        json!({
            "name": "Welcome on WhatsApp",
            "trigger": {"type": "conversation_created", "channels": ["whatsapp"]},
            "actions": [{"type": "send_template", "name": "welcome_new", "language": "en_US",
                         "parameters": ["{{contact.first_name}}"]}]
        }),
    )
    .await;

    meta.graph.add_lead("444444444", json!({
        "created_time": "2026-11-20T08:49:14+0000", "id": "444444444", "ad_id": "555", "form_id": "666",
        "field_data": [
            {"name": "full_name", "values": ["Ada Lovelace"]},
            {"name": "email", "values": ["ada@example.com"]}
        ]
    }));
    let leadgen = json!({"object": "page", "entry": [{"id": "1234567890", "time": 1_700_000_000, "changes": [{
        "field": "leadgen",
        "value": {"ad_id": "555", "form_id": "666", "leadgen_id": "444444444", "created_time": 1_700_000_000, "page_id": "1234567890", "adgroup_id": "777"}
    }]}]});
    meta.deliver(&leads_channel, &leadgen).await;
    let captured = settled_runs(&meta.app, &token, &on_lead, 1).await;
    assert_eq!(statuses(&captured), ["done"]);
    assert_eq!(captured[0]["event"]["trigger"], "lead_captured");
    let lead_conversation = captured[0]["conversation_id"].as_str().unwrap();
    assert_eq!(
        conversation(&meta.app, &token, lead_conversation).await["tags"],
        json!(["lead"])
    );

    meta.deliver(
        &whatsapp,
        &text_from(
            "4915112345678",
            "Bruno Diaz",
            "wamid.W1",
            "hello",
            now_secs(),
        ),
    )
    .await;
    let greeted = settled_runs(&meta.app, &token, &welcome, 1).await;
    assert_eq!(steps(&greeted[0]), [("send_template", "done")]);
    let call = until("the template on the Graph API", || async {
        meta.graph
            .requests()
            .into_iter()
            .find(|r| r.path.ends_with("/messages") && r.body["type"] == "template")
    })
    .await;
    assert_eq!(call.body["to"], "4915112345678");
    assert_eq!(call.body["template"]["name"], "welcome_new");
    assert_eq!(call.body["template"]["language"]["code"], "en_US");
    assert_eq!(
        call.body["template"]["components"][0]["parameters"][0]["text"],
        "Bruno"
    );
}

crate::on_both_backends!(
    a_contact_field_value_its_definition_refuses_fails_the_step_with_the_reason,
    a_captured_lead_and_a_whatsapp_template_go_through_the_real_channels,
    a_schedule_ticks_in_its_time_zone_until_it_is_disabled,
    a_schedule_may_not_tick_more_often_than_the_configured_minimum,
    the_pipelines_findings_timers_and_the_remaining_actions_work_end_to_end,
    a_welcome_rule_greets_each_new_conversation_once_live_and_audited,
    keywords_and_conditions_decide_whether_a_message_starts_a_rule,
    status_tag_and_assignment_changes_start_rules_that_chain,
    the_loop_guard_stops_rules_that_set_each_other_off,
    a_rule_runs_at_most_its_hourly_cap_in_one_conversation,
    a_failing_webhook_is_retried_then_dead_then_retried_over_rest,
    a_webhook_to_a_private_address_is_refused_by_default,
    a_wait_survives_a_crash_and_the_next_step_runs_once,
    no_agent_reply_fires_for_the_unanswered_conversation_only,
    rules_are_checked_listed_disabled_and_tried_on_past_events,
);
