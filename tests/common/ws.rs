//! A WebSocket test client for `/ws`, speaking the protocol of docs/protocol.md.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(20);

pub struct Agent {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Closed(Option<u16>),
    Dropped,
}

pub fn ws_url(base: &str) -> String {
    format!("{}/ws", base.replacen("http", "ws", 1))
}

impl Agent {
    /// Connects with the token in the Authorization header and reads `hello`.
    pub async fn connect(base: &str, token: &str) -> Agent {
        let mut request = ws_url(base).into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("socket opens");
        let mut agent = Agent { ws };
        let hello = agent.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        agent
    }

    /// Connects as above over a socket with a tiny receive buffer, so that a client
    /// that stops reading makes the server's writes back up quickly.
    pub async fn connect_with_small_buffer(base: &str, token: &str) -> Agent {
        let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
        let mut request = ws_url(base).into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .expect("socket opens");
        let mut agent = Agent { ws };
        assert_eq!(agent.next().await["type"], "hello");
        agent
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    /// The next JSON frame (control frames skipped); panics on close or timeout.
    pub async fn next(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("a frame within the wait")
                .expect("socket still open")
                .expect("no socket error");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame whose type is one of `types`, skipping others (presence, …).
    pub async fn next_of(&mut self, types: &[&str]) -> Value {
        loop {
            let frame = self.next().await;
            if types.contains(&frame["type"].as_str().unwrap_or_default()) {
                return frame;
            }
        }
    }

    /// Subscribes to the whole inbox from `after` and returns the frames up to and
    /// including the `reset` or `resumed` that ends the catch-up.
    pub async fn subscribe(&mut self, after: Option<Value>) -> Vec<Value> {
        self.send(json!({ "type": "subscribe", "v": 1, "after": after }))
            .await;
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let kind = frame["type"].as_str().unwrap_or_default().to_owned();
            if kind == "presence" {
                continue;
            }
            frames.push(frame);
            if kind == "reset" || kind == "resumed" {
                return frames;
            }
        }
    }

    /// Proves nothing else is queued for this client: a ping's pong comes next.
    pub async fn assert_nothing_pending(&mut self) {
        self.send(json!({ "type": "ping", "ref": "probe" })).await;
        let frame = self
            .next_of(&[
                "pong",
                "message.new",
                "message.status",
                "conversation.updated",
                "conversation.assigned",
                "typing",
                "notification",
            ])
            .await;
        assert_eq!(
            frame["type"], "pong",
            "expected nothing before the pong, got {frame}"
        );
    }

    /// Reads until the socket ends, returning the JSON frames read and how it ended.
    pub async fn drain_until_end(&mut self) -> (Vec<Value>, Ended) {
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("socket ends within the wait")
            {
                Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(frame))) => {
                    return (frames, Ended::Closed(frame.map(|f| u16::from(f.code))));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (frames, Ended::Dropped),
            }
        }
    }
}
