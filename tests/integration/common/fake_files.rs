//! A plain file host on 127.0.0.1: WhatsApp's media CDN (serving encrypted files at
//! their `direct_path`), or any host an agent links a file on. It records every
//! request as path and query.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    files: HashMap<String, (Vec<u8>, String)>,
    requests: Vec<String>,
}

#[derive(Clone)]
pub struct FakeFiles {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FakeFiles {
    /// Starts the host on the test's runtime.
    pub fn start() -> FakeFiles {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let shared = state.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().default_service(web::to(move |request: HttpRequest| {
                let shared = shared.clone();
                async move {
                    let mut state = shared.lock().unwrap();
                    state.requests.push(request.uri().to_string());
                    match state.files.get(request.path()) {
                        Some((bytes, mime)) => HttpResponse::Ok()
                            .content_type(mime.as_str())
                            .body(bytes.clone()),
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        FakeFiles { base, state }
    }

    pub fn put(&self, path: &str, bytes: &[u8], mime: &str) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_owned(), (bytes.to_vec(), mime.to_owned()));
    }

    /// Requests so far, as path and query.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}
