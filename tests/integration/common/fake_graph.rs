//! A local stand-in for Meta's Graph API, speaking its wire format: message sends
//! (WhatsApp and Messenger answers), leads by id, media by id and the media download,
//! and a redirect (`/redirect?to=`) for the media-link tests.
//! Tests script failures and read back every request it received.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const VERSION: &str = "v21.0";

/// One scripted answer to a send, used instead of success.
#[derive(Clone, Debug)]
pub enum Failure {
    /// Succeeds, but only after this long: longer than the client waits, a timeout.
    Slow(Duration),
    /// `status` with a Graph error body (and `Retry-After` when given).
    Status {
        status: u16,
        code: i64,
        message: &'static str,
        retry_after: Option<u64>,
    },
}

impl Failure {
    pub fn unavailable() -> Self {
        Failure::Status {
            status: 503,
            code: 2,
            message: "Service temporarily unavailable",
            retry_after: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub at: Instant,
    /// What the fake answered.
    pub status: u16,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    failures: VecDeque<Failure>,
    /// Failures repeated for every send until cleared.
    always_fail: Option<Failure>,
    leads: HashMap<String, Value>,
    media: HashMap<String, (Vec<u8>, String)>,
    /// Each business account's message templates, listed two to a page.
    templates: HashMap<String, Vec<Value>>,
    sent: u64,
    /// While set, each send waits for a permit before it is answered.
    gate: Option<Arc<tokio::sync::Semaphore>>,
    /// Sends waiting at the gate now, and the most there were at once.
    waiting: usize,
    most_waiting: usize,
}

#[derive(Clone)]
pub struct FakeGraph {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FakeGraph {
    pub async fn start() -> FakeGraph {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let shared = state.clone();
        let media_base = base.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            let media_base = media_base.clone();
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let shared = shared.clone();
                let media_base = media_base.clone();
                async move {
                    wait_at_gate(&shared, &request).await;
                    let delay = slow_send(&shared, &request);
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                    answer(&shared, &media_base, &request, &body, delay.is_some())
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        FakeGraph { base, state }
    }

    /// The next `n` sends fail with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut state = self.state.lock().unwrap();
        state.failures.extend(std::iter::repeat_n(failure, n));
    }

    pub fn fail_always(&self, failure: Option<Failure>) {
        self.state.lock().unwrap().always_fail = failure;
    }

    pub fn add_lead(&self, id: &str, lead: Value) {
        self.state.lock().unwrap().leads.insert(id.to_owned(), lead);
    }

    pub fn add_media(&self, id: &str, bytes: &[u8], mime: &str) {
        self.state
            .lock()
            .unwrap()
            .media
            .insert(id.to_owned(), (bytes.to_vec(), mime.to_owned()));
    }

    /// What `GET /{account}/message_templates` lists from now on.
    pub fn set_templates(&self, account: &str, templates: Vec<Value>) {
        self.state
            .lock()
            .unwrap()
            .templates
            .insert(account.to_owned(), templates);
    }

    /// From now on each send waits unanswered until `let_through` lets it on.
    pub fn hold_sends(&self) {
        self.state.lock().unwrap().gate = Some(Arc::new(tokio::sync::Semaphore::new(0)));
    }

    /// Lets `n` more held sends be answered.
    pub fn let_through(&self, n: usize) {
        if let Some(gate) = &self.state.lock().unwrap().gate {
            gate.add_permits(n);
        }
    }

    /// Sends held unanswered now, and the most that ever were at once.
    pub fn held(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        (state.waiting, state.most_waiting)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Message sends the fake accepted, in order.
    pub fn delivered(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/messages") && r.status == 200)
            .collect()
    }
}

fn graph_error(status: u16, code: i64, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({
        "error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}
    }))
}

/// Holds a send at the gate, when there is one, until a permit lets it on.
async fn wait_at_gate(state: &Mutex<State>, request: &HttpRequest) {
    let gate = {
        let mut state = state.lock().unwrap();
        let Some(gate) = state.gate.clone() else {
            return;
        };
        if request.method() != "POST" || !request.path().ends_with("/messages") {
            return;
        }
        state.waiting += 1;
        state.most_waiting = state.most_waiting.max(state.waiting);
        gate
    };
    gate.acquire().await.unwrap().forget();
    state.lock().unwrap().waiting -= 1;
}

/// Takes a scripted `Slow` answer off the queue when this request is a send.
fn slow_send(state: &Mutex<State>, request: &HttpRequest) -> Option<Duration> {
    let mut state = state.lock().unwrap();
    if request.method() != "POST" || !request.path().ends_with("/messages") {
        return None;
    }
    match state.failures.front() {
        Some(Failure::Slow(delay)) => {
            let delay = *delay;
            state.failures.pop_front();
            Some(delay)
        }
        _ => None,
    }
}

fn answer(
    state: &Mutex<State>,
    base: &str,
    request: &HttpRequest,
    body: &[u8],
    slowed: bool,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let path = request.path().to_owned();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let response = match (request.method().as_str(), segments.as_slice()) {
        ("POST", [VERSION, _account, "messages"]) => {
            // A slowed send already took its scripted answer.
            let failure = if slowed {
                None
            } else {
                state
                    .failures
                    .pop_front()
                    .or_else(|| state.always_fail.clone())
            };
            match failure {
                Some(Failure::Status {
                    status,
                    code,
                    message,
                    retry_after,
                }) => {
                    let mut response = graph_error(status, code, message);
                    if let Some(secs) = retry_after {
                        response.headers_mut().insert(
                            actix_web::http::header::RETRY_AFTER,
                            actix_web::http::header::HeaderValue::from(secs),
                        );
                    }
                    response
                }
                Some(Failure::Slow(_)) | None => {
                    state.sent += 1;
                    let n = state.sent;
                    if json.get("messaging_product").is_some() {
                        if json.get("status").and_then(Value::as_str) == Some("read") {
                            HttpResponse::Ok().json(json!({"success": true}))
                        } else {
                            HttpResponse::Ok().json(json!({
                                "messaging_product": "whatsapp",
                                "contacts": [{"input": json["to"], "wa_id": json["to"]}],
                                "messages": [{"id": format!("wamid.fake{n}")}],
                            }))
                        }
                    } else {
                        HttpResponse::Ok().json(json!({
                            "recipient_id": json["recipient"]["id"],
                            "message_id": format!("m_fake{n}"),
                        }))
                    }
                }
            }
        }
        // Two to a page, whatever `limit` asked, with Graph's cursors.
        ("GET", [VERSION, account, "message_templates"]) => match state.templates.get(*account) {
            Some(all) if authorization.is_some() => {
                let query =
                    web::Query::<HashMap<String, String>>::from_query(request.query_string())
                        .unwrap();
                let start: usize = query.get("after").map_or(0, |a| a.parse().unwrap());
                let page: Vec<Value> = all.iter().skip(start).take(2).cloned().collect();
                let end = start + page.len();
                let mut paging =
                    json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
                if end < all.len() {
                    paging["next"] = json!(format!("https://graph.example/next?after={end}"));
                }
                HttpResponse::Ok().json(json!({"data": page, "paging": paging}))
            }
            Some(_) => graph_error(401, 190, "Invalid OAuth access token"),
            None => graph_error(404, 100, "Unsupported get request. Object does not exist"),
        },
        ("GET", [VERSION, id]) => {
            if let Some(lead) = state.leads.get(*id) {
                HttpResponse::Ok().json(lead)
            } else if let Some((bytes, mime)) = state.media.get(*id) {
                HttpResponse::Ok().json(json!({
                    "messaging_product": "whatsapp",
                    "url": format!("{base}/download/{id}"),
                    "mime_type": mime,
                    "file_size": bytes.len(),
                    "id": id,
                }))
            } else {
                graph_error(404, 100, "Unsupported get request. Object does not exist")
            }
        }
        ("GET", ["download", id]) => match state.media.get(*id) {
            Some((bytes, mime)) if authorization.is_some() => HttpResponse::Ok()
                .content_type(mime.clone())
                .body(bytes.clone()),
            Some(_) => graph_error(401, 190, "Invalid OAuth access token"),
            None => graph_error(404, 100, "no such media"),
        },
        // A media host that sends the client on to `?to=`, as a hostile link would.
        ("GET", ["redirect"]) => {
            let query =
                web::Query::<HashMap<String, String>>::from_query(request.query_string()).unwrap();
            HttpResponse::Found()
                .insert_header(("location", query["to"].clone()))
                .finish()
        }
        _ => graph_error(404, 100, "Unknown path"),
    };
    state.requests.push(Request {
        method: request.method().to_string(),
        path,
        authorization,
        body: json,
        at: Instant::now(),
        status: response.status().as_u16(),
    });
    response
}
