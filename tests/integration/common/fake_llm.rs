//! A local stand-in (answering at once, or late when a test says) for the two wire
//! formats a provider speaks: OpenAI's chat completions (`POST /v1/chat/completions`:
//! a `chat.completion` object, or an `{"error": …}` body with the status) and
//! Anthropic's Messages API (`POST /v1/messages`: a `message` whose content is the
//! forced tool's `tool_use` block, or a `{"type": "error", …}` body). Tests script each answer in turn and read back
//! every request it received, whichever API it came to.
//!
//! It also serves OpenAI's embeddings API (`POST /v1/embeddings`: a `list` of
//! `embedding` objects with their `index`), answering from a small vocabulary of
//! meanings so that texts about the same thing in different words land close
//! together; or with an error status while a test says so.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A completion whose message content is this text.
    Content(String),
    /// A completion where the model declined (`message.refusal`).
    Refusal(&'static str),
    /// An error status with the API's error body.
    Status(u16, &'static str),
    /// 429 with `Retry-After` in seconds.
    RetryAfter(u64),
    /// No answer at all: the request is held open until the fake stops, so the
    /// caller's timeout always comes first, however fast or slow the machine.
    Never,
}

impl Answer {
    pub fn json(value: Value) -> Self {
        Answer::Content(value.to_string())
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub authorization: Option<String>,
    /// Anthropic's key and version headers.
    pub api_key: Option<String>,
    pub version: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    answers: VecDeque<Answer>,
    /// Embedding requests fail with this status while it is set.
    embeddings_fail: Option<u16>,
}

/// Words that mean the same thing, one group per dimension of the fake's vectors.
const MEANINGS: [&[&str]; 3] = [
    &[
        "ship", "shipped", "shipping", "deliver", "delivery", "parcel", "parcels", "arrive",
        "arrives", "order",
    ],
    &["refund", "refunds", "money", "back", "return", "returns"],
    &["open", "opens", "hours", "closed", "shop"],
];

#[derive(Clone)]
pub struct FakeLlm {
    /// The base URL a provider is configured with (`…/v1`).
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl FakeLlm {
    pub async fn start() -> FakeLlm {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!(
            "http://127.0.0.1:{}/v1",
            listener.local_addr().unwrap().port()
        );
        let shared = state.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let shared = shared.clone();
                async move {
                    match answer(&shared, &request, &body) {
                        Some(response) => response,
                        None => std::future::pending().await,
                    }
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        FakeLlm { base_url, state }
    }

    /// The answers to the next requests, in order.
    pub fn answer(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.lock().unwrap().answers.extend(answers);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests that came to one path, such as `/v1/embeddings`.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Embedding requests fail with `status` from now on (`None`: they answer again).
    pub fn fail_embeddings(&self, status: Option<u16>) {
        self.state.lock().unwrap().embeddings_fail = status;
    }
}

/// A text's vector: how many of its words carry each meaning, and a little of a
/// dimension of its own so that no text is without direction.
fn meaning_of(text: &str) -> Vec<f32> {
    let mut vector = vec![0.0; MEANINGS.len() + 1];
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        for (dimension, words) in MEANINGS.iter().enumerate() {
            if words.contains(&word) {
                vector[dimension] += 1.0;
            }
        }
    }
    vector[MEANINGS.len()] = 0.1;
    vector
}

fn embeddings(state: &State, body: &Value) -> HttpResponse {
    if let Some(status) = state.embeddings_fail {
        return error(false, status, "The embeddings service is unavailable");
    }
    let inputs: Vec<&str> = match &body["input"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => return error(false, 400, "input must be a string or an array of strings"),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": meaning_of(text)}))
        .collect();
    let tokens = inputs.len() * 8;
    HttpResponse::Ok().json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    }))
}

/// The response, or None for a request never to be answered.
fn answer(state: &Mutex<State>, request: &HttpRequest, body: &[u8]) -> Option<HttpResponse> {
    let mut state = state.lock().unwrap();
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.requests.push(Request {
        path: request.path().to_owned(),
        authorization: header("authorization"),
        api_key: header("x-api-key"),
        version: header("anthropic-version"),
        body: body.clone(),
    });
    let anthropic = match (request.method().as_str(), request.path()) {
        ("POST", "/v1/embeddings") => return Some(embeddings(&state, &body)),
        ("POST", "/v1/chat/completions") => false,
        ("POST", "/v1/messages") => true,
        _ => return Some(error(false, 404, "Unknown request URL")),
    };
    match state.answers.pop_front() {
        Some(Answer::Never) => None,
        scripted => Some(respond(scripted, anthropic, &body)),
    }
}

fn respond(scripted: Option<Answer>, anthropic: bool, body: &Value) -> HttpResponse {
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match (scripted, anthropic) {
        (Some(Answer::Content(content)), false) => completion(&model, json!(content), Value::Null),
        (Some(Answer::Refusal(why)), false) => completion(&model, Value::Null, json!(why)),
        (Some(Answer::Content(content)), true) => {
            let tool = body["tool_choice"]["name"].as_str().unwrap_or_default();
            let input: Value = serde_json::from_str(&content).unwrap_or(json!(content));
            message(
                &model,
                json!([{"type": "tool_use", "id": "toolu_test", "name": tool, "input": input}]),
                "tool_use",
            )
        }
        (Some(Answer::Refusal(_)), true) => message(&model, json!([]), "refusal"),
        (Some(Answer::Status(status, text)), anthropic) => error(anthropic, status, text),
        (Some(Answer::RetryAfter(seconds)), anthropic) => {
            let mut response = error(anthropic, 429, "Rate limit reached");
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(seconds),
            );
            response
        }
        (Some(Answer::Never) | None, anthropic) => {
            error(anthropic, 500, "the test scripted no answer")
        }
    }
}

fn message(model: &str, content: Value, stop_reason: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": 210, "output_tokens": 24}
    }))
}

fn completion(model: &str, content: Value, refusal: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 120, "completion_tokens": 18, "total_tokens": 138}
    }))
}

fn error(anthropic: bool, status: u16, message: &str) -> HttpResponse {
    let body = if anthropic {
        json!({"type": "error", "error": {"type": "api_error", "message": message}})
    } else {
        json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}})
    };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}
