//! The outermost middleware: gives each request its id and log span, records its
//! metrics, and makes sure every error response wears the JSON envelope.

use crate::error::{ApiError, ErrorCode};
use crate::http::request_id;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use std::time::Instant;
use tracing::Instrument;

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request_id::from_headers_or_new(req.headers());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().to_string();
    let span =
        tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let started = Instant::now();
    let header_value = HeaderValue::from_str(&id).ok();

    let served = async move {
        // Every inner layer answers refusals as responses. An `Err` can only come from
        // actix itself; it is counted and passed on (the request cannot be cloned to
        // render it here: actix needs sole ownership of it while routing).
        let response = match next.call(req).await {
            Ok(response) => response.map_into_boxed_body(),
            Err(err) => {
                if let Some(state) = &state {
                    let status = err.as_response_error().status_code().as_u16();
                    state.metrics.record_request(
                        &method,
                        "<unmatched>",
                        status,
                        started.elapsed().as_secs_f64(),
                    );
                }
                return Err(err);
            }
        };
        let mut response = with_envelope(response);
        let status = response.status();
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "<unmatched>".to_owned());
        let elapsed = started.elapsed();
        if let Some(state) = &state {
            state
                .metrics
                .record_request(&method, &route, status.as_u16(), elapsed.as_secs_f64());
        }
        if status.is_server_error() {
            tracing::warn!(
                status = status.as_u16(),
                route,
                latency_ms = elapsed.as_millis() as u64,
                "request failed"
            );
        } else {
            tracing::info!(
                status = status.as_u16(),
                route,
                latency_ms = elapsed.as_millis() as u64,
                "request served"
            );
        }
        if let Some(value) = header_value {
            response
                .headers_mut()
                .insert(header::HeaderName::from_static(request_id::HEADER), value);
        }
        Ok(response)
    };
    request_id::scope(id, served.instrument(span)).await
}

/// Re-renders an error response that did not come from `ApiError` (actix's routing
/// 404/405, actix-cors' refusals) into the envelope, coded by its status.
fn with_envelope(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    if response
        .response()
        .error()
        .is_some_and(|err| err.as_error::<ApiError>().is_some())
    {
        return response;
    }
    let code = ErrorCode::for_status(status);
    let message = match (response.response().error(), code) {
        (_, ErrorCode::Internal) => "internal error".to_owned(),
        (Some(err), _) => err.to_string(),
        (None, ErrorCode::NotFound) => "no such route".to_owned(),
        (None, ErrorCode::MethodNotAllowed) => "this route does not accept that method".to_owned(),
        (None, _) => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
    };
    let mut rendered = ApiError::new(code, message).error_response();
    // Keep what outer layers already added (CORS, Allow), not the old body's framing.
    for (name, value) in response.headers() {
        let framing = name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH;
        if !framing && !rendered.headers().contains_key(name) {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    response.into_response(rendered)
}
