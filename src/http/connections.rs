//! The cap on open connections (`server.max_connections`). Every connection holds a
//! file descriptor and memory whether or not it ever sends a request, and past the
//! process's descriptor limit the server cannot accept anything, health probes
//! included. So connections are counted as they open and close; one that opens beyond
//! the cap has its requests answered `503 busy` (with `Retry-After` and the
//! connection closed) instead of served, except the probes and `/metrics`, which stay
//! answerable so an overloaded node is seen as what it is. Idle connections end by
//! themselves: a request head must arrive within `server.request_head_timeout_secs`
//! and a body within `server.body_read_timeout_secs`; kept-alive ones close after
//! `server.keep_alive_secs` of silence.

use crate::error::{ApiError, ErrorCode};
use actix_web::HttpResponse;
use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Paths served even over the cap.
const ALWAYS_SERVED: &[&str] = &["/health", "/ready", "/metrics"];

/// Open connections of one server.
#[derive(Debug, Clone)]
pub struct Connections {
    open: Arc<AtomicUsize>,
    cap: usize,
}

/// Held in a connection's data from open to close.
struct Counted {
    open: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Marks a connection that opened over the cap.
struct OverCap;

impl Connections {
    pub fn new(cap: usize) -> Self {
        Self {
            open: Arc::default(),
            cap,
        }
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// For `HttpServer::on_connect`: counts the connection and marks it when over the cap.
    pub fn on_connect(&self, _: &dyn Any, data: &mut Extensions) {
        let now_open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        data.insert(Counted {
            open: self.open.clone(),
        });
        if now_open > self.cap {
            data.insert(OverCap);
        }
    }
}

/// Middleware: a request on a connection opened over the cap gets 503.
pub async fn refuse_over_cap(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.conn_data::<OverCap>().is_none() || ALWAYS_SERVED.contains(&req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let mut busy = ApiError::new(
        ErrorCode::Busy,
        "the server has as many connections open as it allows; retry shortly",
    );
    busy.retry_after = Some(1);
    // Built with the error attached, so the envelope keeps its code and message.
    let mut response = HttpResponse::from_error(busy);
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    // `ServiceRequest::into_response` would drop the attached error on the way.
    let (request, _) = req.into_parts();
    Ok(ServiceResponse::new(request, response).map_into_right_body())
}
