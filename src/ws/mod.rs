//! `GET /ws`: the live inbox socket. See docs/protocol.md for the frames.
//!
//! The upgrade checks the Origin and, when one is sent, the access token (an invalid
//! token is refused with 401 before the upgrade). A socket opened without a token
//! must send an `auth` frame within `websocket.auth_timeout_secs`, or it is closed
//! with 4001: browsers cannot set headers, and a token in the first frame stays out
//! of URLs and logs.

mod connection;
mod incoming;
mod outgoing;
mod protocol;

use crate::auth::extract::user_from_access_token;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::body::{BodyStream, MessageBody};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use connection::Connection;
use incoming::IncomingFrames;
use outgoing::OutgoingFrames;

/// The subprotocol a browser offers (with `bearer.<token>`) and the server echoes.
pub const SUBPROTOCOL: &str = "switchboard.v1";
const BEARER_PROTOCOL_PREFIX: &str = "bearer.";

#[utoipa::path(
    get,
    path = "/ws",
    operation_id = "socket.connect",
    tag = "socket",
    summary = "The live inbox socket (see docs/protocol.md)",
    security(()),
    responses((status = 101, description = "switched to WebSocket"))
)]
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_origin(&req, &state)?;
    let agent = match token(&req) {
        Some(token) => Some((user_from_access_token(&state, &token).await?, token)),
        None => None,
    };
    let mut response = actix_http::ws::handshake(req.head())
        .map_err(|err| ApiError::invalid(format!("not a WebSocket upgrade: {err}")))?;
    if offers_subprotocol(&req) {
        response.insert_header((header::SEC_WEBSOCKET_PROTOCOL, SUBPROTOCOL));
    }
    let limits = &state.config.websocket;
    let (outbox, frames) = switchboard_actors::inbox::session::outbox(limits.outbox_capacity);
    let outgoing = OutgoingFrames::new(frames, outbox.closer.clone());
    let incoming = IncomingFrames::new(body.into_inner(), limits.max_frame_bytes);
    Connection::start(state.clone(), outbox, incoming, agent);
    let response = response
        .message_body(BodyStream::new(outgoing).boxed())
        .map_err(|err| ApiError::internal(format!("cannot start a socket: {err}")))?;
    Ok(response.into())
}

fn offers_subprotocol(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL)
}

/// Browsers always send Origin; other clients usually do not. A browser page may
/// connect when it is served by this server (same host) or its origin is allowed in
/// `cors.allowed_origins`, so another site cannot ride on a signed-in agent's token.
fn check_origin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let host = req.connection_info().host().to_owned();
    let same_host = origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(&host));
    if same_host
        || state
            .config
            .cors
            .allowed_origins
            .iter()
            .any(|o| o == origin)
    {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("origin '{origin}' may not open a socket here"),
        ))
    }
}

/// The access token from, in order: `Authorization: Bearer`, a `bearer.<token>`
/// subprotocol, or the `access_token` query parameter.
fn token(req: &HttpRequest) -> Option<String> {
    let header_token = crate::auth::extract::bearer_token(req);
    let protocol_token = || {
        req.headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())?
            .split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix(BEARER_PROTOCOL_PREFIX))
            .map(str::to_owned)
    };
    let query_token = || {
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()?
            .get("access_token")
            .cloned()
    };
    header_token
        .or_else(protocol_token)
        .or_else(query_token)
        .filter(|t| !t.is_empty())
}
