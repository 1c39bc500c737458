//! A local stand-in for an OpenAI-compatible chat completions server
//! (`POST /v1/chat/completions`), speaking its wire format: a `chat.completion`
//! object, or an `{"error": …}` body with the status. Tests script each answer in turn
//! and read back every request it received.

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
    pub body: Value,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    answers: VecDeque<Answer>,
}

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
                async move { answer(&shared, &request, &body) }
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
}

fn answer(state: &Mutex<State>, request: &HttpRequest, body: &[u8]) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    state.requests.push(Request {
        path: request.path().to_owned(),
        authorization: request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
    });
    if request.method() != "POST" || request.path() != "/v1/chat/completions" {
        return error(404, "Unknown request URL");
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match state.answers.pop_front() {
        Some(Answer::Content(content)) => completion(&model, json!(content), Value::Null),
        Some(Answer::Refusal(why)) => completion(&model, Value::Null, json!(why)),
        Some(Answer::Status(status, message)) => error(status, message),
        None => error(500, "the test scripted no answer"),
    }
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

fn error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({
        "error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}
    }))
}
