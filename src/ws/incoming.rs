//! The read side of a socket: WebSocket frames decoded from the upgrade request's
//! body, a message sent in continuation frames joined into one, within the size limit.

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use actix_web::dev::Payload;
use actix_web::web::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A whole message from the client.
#[derive(Debug)]
pub enum Incoming {
    Text(ByteString),
    /// Its bytes are not kept: the protocol is JSON text, and binary is refused.
    Binary,
    Ping(Bytes),
    Pong,
    Close,
}

pub struct IncomingFrames {
    payload: Payload,
    buf: BytesMut,
    codec: Codec,
    max_bytes: usize,
    /// A message arriving in continuation frames: whether it is text, its bytes so far.
    partial: Option<(bool, BytesMut)>,
    ended: bool,
}

impl IncomingFrames {
    /// `max_bytes` bounds a frame and a message joined from continuations alike.
    pub fn new(payload: Payload, max_bytes: usize) -> Self {
        Self {
            payload,
            buf: BytesMut::new(),
            codec: Codec::new().max_size(max_bytes),
            max_bytes,
            partial: None,
            ended: false,
        }
    }

    /// Ends the stream with `err`, keeping nothing buffered.
    fn fail(&mut self, err: ProtocolError) -> Poll<Option<Result<Incoming, ProtocolError>>> {
        self.ended = true;
        self.buf = BytesMut::new();
        Poll::Ready(Some(Err(err)))
    }

    /// The message a frame completes, if it completes one.
    fn message(&mut self, frame: Frame) -> Result<Option<Incoming>, ProtocolError> {
        let (first_is_text, last, bytes) = match frame {
            Frame::Text(bytes) => return text(bytes).map(Some),
            Frame::Binary(_) => return Ok(Some(Incoming::Binary)),
            Frame::Ping(bytes) => return Ok(Some(Incoming::Ping(bytes))),
            Frame::Pong(_) => return Ok(Some(Incoming::Pong)),
            Frame::Close(_) => return Ok(Some(Incoming::Close)),
            Frame::Continuation(Item::FirstText(bytes)) => (true, false, bytes),
            Frame::Continuation(Item::FirstBinary(bytes)) => (false, false, bytes),
            Frame::Continuation(Item::Continue(bytes)) => (false, false, bytes),
            Frame::Continuation(Item::Last(bytes)) => (false, true, bytes),
        };
        // The codec refuses a continuation that was never started, or a new one
        // started before the last ended, so `partial` matches the frames.
        let (is_text, joined) = self
            .partial
            .get_or_insert_with(|| (first_is_text, BytesMut::new()));
        if joined.len() + bytes.len() > self.max_bytes {
            return Err(ProtocolError::Overflow);
        }
        joined.extend_from_slice(&bytes);
        if !last {
            return Ok(None);
        }
        let is_text = *is_text;
        let joined = std::mem::take(joined).freeze();
        self.partial = None;
        if is_text {
            text(joined).map(Some)
        } else {
            Ok(Some(Incoming::Binary))
        }
    }
}

fn text(bytes: Bytes) -> Result<Incoming, ProtocolError> {
    ByteString::try_from(bytes)
        .map(Incoming::Text)
        .map_err(|err| ProtocolError::Io(io::Error::new(io::ErrorKind::InvalidData, err)))
}

impl Stream for IncomingFrames {
    type Item = Result<Incoming, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.codec.decode(&mut this.buf) {
                Ok(Some(frame)) => match this.message(frame) {
                    Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                    Ok(None) => continue,
                    Err(err) => return this.fail(err),
                },
                Ok(None) => {}
                Err(err) => return this.fail(err),
            }
            if this.ended {
                return Poll::Ready(None);
            }
            // Nothing left to decode: keep no allocation (often the connection's
            // whole read buffer, taken over below) on a socket that may idle for hours.
            if this.buf.is_empty() && this.buf.capacity() > 0 {
                this.buf = BytesMut::new();
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) if this.buf.is_empty() => {
                    this.buf = BytesMut::from(bytes)
                }
                Poll::Ready(Some(Ok(bytes))) => this.buf.extend_from_slice(&bytes),
                Poll::Ready(Some(Err(err))) => {
                    return this.fail(ProtocolError::Io(io::Error::other(err)));
                }
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
