//! The write side of a socket: the upgrade response's body, which drains the outbox
//! onto the wire. Every frame queued by the time the connection can write goes out in
//! one write, and a close, once asked for, goes ahead of frames still queued.

use actix_codec::Encoder;
use actix_http::ws::{CloseCode as WsCloseCode, CloseReason, Codec, Message};
use actix_web::web::{Bytes, BytesMut};
use futures_util::Stream;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use switchboard_actors::inbox::session::{CloseCode, Closer, SocketFrame};
use tokio::sync::mpsc;

/// Frames joined into one write stop growing past this; the rest go in the next.
const COALESCE_BYTES: usize = 64 * 1024;

pub struct OutgoingFrames {
    frames: mpsc::Receiver<SocketFrame>,
    closed: Pin<Box<dyn Future<Output = CloseCode> + Send>>,
    codec: Codec,
    done: bool,
}

impl OutgoingFrames {
    pub fn new(frames: mpsc::Receiver<SocketFrame>, closer: Arc<Closer>) -> Self {
        Self {
            frames,
            closed: Box::pin(async move { closer.closed().await }),
            codec: Codec::new(),
            done: false,
        }
    }

    fn encode(&mut self, message: Message, buf: &mut BytesMut) {
        // Encoding into memory cannot fail for frames the server builds.
        if let Err(err) = self.codec.encode(message, buf) {
            tracing::warn!(error = %err, "cannot encode a socket frame");
        }
    }

    fn close(&mut self, code: CloseCode, buf: &mut BytesMut) {
        let reason = CloseReason {
            code: WsCloseCode::Other(code.code()),
            description: Some(code.reason().to_owned()),
        };
        self.encode(Message::Close(Some(reason)), buf);
        self.done = true;
    }
}

impl Stream for OutgoingFrames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut buf = BytesMut::new();
        if let Poll::Ready(code) = this.closed.as_mut().poll(cx) {
            this.close(code, &mut buf);
            return Poll::Ready(Some(Ok(buf.freeze())));
        }
        while buf.len() < COALESCE_BYTES {
            match this.frames.poll_recv(cx) {
                Poll::Ready(Some(frame)) => {
                    let message = match frame {
                        SocketFrame::Text(text) => Message::Text(text),
                        SocketFrame::Ping => Message::Ping(Bytes::new()),
                        SocketFrame::Pong(payload) => Message::Pong(Bytes::from(payload)),
                    };
                    this.encode(message, &mut buf);
                }
                // Every sender is gone: the connection ended without saying why.
                Poll::Ready(None) => {
                    this.close(CloseCode::GoingAway, &mut buf);
                    break;
                }
                Poll::Pending => break,
            }
        }
        if buf.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(Some(Ok(buf.freeze())))
        }
    }
}
