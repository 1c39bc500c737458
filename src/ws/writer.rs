//! The one task that owns a socket's write side: it drains the outbox into the
//! socket and closes it when asked, even while a write is stuck on a client that does
//! not read.

use actix_ws::{CloseCode as WsCloseCode, CloseReason, Session};
use bytestring::ByteString;
use std::sync::Arc;
use std::time::Duration;
use switchboard_actors::inbox::session::{CloseCode, Closer};
use tokio::sync::mpsc;

/// A close frame cannot jump the queue of a stuck socket; after this long the
/// connection is dropped without one.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

pub async fn run(
    mut session: Session,
    mut frames: mpsc::Receiver<ByteString>,
    closer: Arc<Closer>,
) {
    loop {
        let next = tokio::select! {
            biased;
            code = closer.closed() => return close(session, code).await,
            frame = frames.recv() => frame,
        };
        let Some(frame) = next else {
            return close(session, CloseCode::GoingAway).await;
        };
        tokio::select! {
            biased;
            code = closer.closed() => return close(session, code).await,
            sent = session.text(frame) => if sent.is_err() {
                return;
            },
        }
    }
}

async fn close(session: Session, code: CloseCode) {
    let reason = CloseReason {
        code: WsCloseCode::Other(code.code()),
        description: Some(code.reason().to_owned()),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, session.close(Some(reason))).await;
}
