//! `GET /ws`: the live inbox socket. See docs/protocol.md for the frames.
//!
//! The upgrade checks the Origin and, when one is sent, the access token (an invalid
//! token is refused with 401 before the upgrade). A socket opened without a token
//! must send an `auth` frame within `websocket.auth_timeout_secs`, or it is closed
//! with 4001: browsers cannot set headers, and a token in the first frame stays out
//! of URLs and logs.

mod connection;
mod protocol;
mod writer;

use crate::auth::extract::user_from_access_token;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use connection::Connection;

/// The subprotocol a browser offers (with `bearer.<token>`) and the server echoes.
pub const SUBPROTOCOL: &str = "switchboard.v1";
const BEARER_PROTOCOL_PREFIX: &str = "bearer.";

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
    let (response, session, stream) =
        actix_ws::handle_with_protocols(&req, body, &[SUBPROTOCOL])
            .map_err(|err| ApiError::invalid(format!("not a WebSocket upgrade: {err}")))?;
    let limits = &state.config.websocket;
    let stream = stream
        .max_frame_size(limits.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(limits.max_frame_bytes);
    Connection::start(state.clone(), session, stream, agent);
    Ok(response)
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
