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
        let mut agent = Agent::open(base, token).await;
        let hello = agent.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        agent
    }

    /// Completes the upgrade with the token in the Authorization header, reading
    /// nothing (the server may still refuse the connection with a close frame).
    pub async fn open(base: &str, token: &str) -> Agent {
        let mut request = ws_url(base).into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("socket opens");
        Agent { ws }
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

    /// The next JSON frame, or `None` when the socket ends first.
    pub async fn next_or_end(&mut self) -> Option<Value> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame or the end within the wait")
            {
                Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                Some(Ok(_)) => {}
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

    /// The next lead a frame carries: a customer message's `message.insights` (the lead
    /// it left) or a `conversation.lead` (an agent's or the idle sweep's change).
    pub async fn next_lead(&mut self) -> Value {
        let frame = self
            .next_of(&["message.insights", "conversation.lead"])
            .await;
        match frame["type"].as_str() {
            Some("message.insights") => frame["data"]["lead"].clone(),
            _ => frame["data"].clone(),
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

/// A client that completes the upgrade and then answers nothing, not even pings:
/// tungstenite answers pings whenever it reads, so this one speaks raw TCP.
pub struct Silent {
    stream: tokio::io::BufReader<TcpStream>,
}

impl Silent {
    pub async fn connect(base: &str, token: &str) -> Silent {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut stream = tokio::io::BufReader::new(stream);
        let mut status = String::new();
        stream.read_line(&mut status).await.unwrap();
        assert!(status.starts_with("HTTP/1.1 101"), "{status}");
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                return Silent { stream };
            }
        }
    }

    /// Reads frames without answering any until the server closes; returns the code.
    pub async fn close_code(mut self) -> u16 {
        tokio::time::timeout(WAIT, async move {
            loop {
                let (opcode, payload) = self.frame().await;
                if opcode == 0x8 {
                    return u16::from_be_bytes([payload[0], payload[1]]);
                }
            }
        })
        .await
        .expect("the server closes the socket within the wait")
    }

    /// One server frame (servers never mask): opcode and payload.
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        use tokio::io::AsyncReadExt;
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).await.unwrap();
        let length = match head[1] & 0x7f {
            126 => u64::from(self.stream.read_u16().await.unwrap()),
            127 => self.stream.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let mut payload = vec![0u8; usize::try_from(length).unwrap()];
        self.stream.read_exact(&mut payload).await.unwrap();
        (head[0] & 0x0f, payload)
    }
}
