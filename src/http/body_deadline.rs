//! A request body must arrive within `server.body_read_timeout_secs`. A client that
//! sends a body one byte a second would otherwise hold a connection and a handler for
//! as long as it likes; past the deadline the body stream fails, and the answer is
//! `408 request_timeout` with the connection closed.

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use futures_util::Stream;
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // After a WebSocket upgrade the "body" is the socket's frames, for hours: the
    // socket has its own heartbeat and frame limits.
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|state| Duration::from_secs(state.config.server.body_read_timeout_secs));
    let Some(limit) = limit.filter(|_| !upgrade) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let expired = Rc::new(Cell::new(false));
    let payload = Deadline {
        inner: req.take_payload(),
        sleep: Box::pin(tokio::time::sleep_until(Instant::now() + limit)),
        expired: expired.clone(),
    };
    req.set_payload(Payload::from(
        Box::pin(payload) as Pin<Box<dyn Stream<Item = _>>>
    ));
    let response = next.call(req).await?;
    if !expired.get() {
        return Ok(response.map_into_left_body());
    }
    // Whatever the extractor made of the failed body, the cause was the clock.
    let (request, _) = response.into_parts();
    let mut refused = HttpResponse::from_error(ApiError::new(
        ErrorCode::RequestTimeout,
        format!(
            "the request body did not arrive within {} s",
            limit.as_secs()
        ),
    ));
    refused
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(request, refused).map_into_right_body())
}

/// The request body, failing once the deadline has passed.
struct Deadline {
    inner: Payload,
    sleep: Pin<Box<Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<actix_web::web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body took too long",
            )))));
        }
        Poll::Pending
    }
}
