//! Which listener serves what. With `metrics.listen` the server has a second,
//! internal listener that answers only `/metrics` and the probes, and `/metrics`
//! leaves the public one (so it never reaches the internet by accident). Without it,
//! `/metrics` stays public, behind `metrics.bearer_token` when one is set.

use crate::auth::extract::bearer_token;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use subtle::ConstantTimeEq;

const METRICS: &str = "/metrics";
/// What the internal listener serves.
const INTERNAL_PATHS: &[&str] = &[METRICS, "/health", "/ready"];

pub async fn route_by_listener(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let internal = state
        .metrics_port
        .is_some_and(|port| req.app_config().local_addr().port() == port);
    let path = req.path();
    let refusal = if internal {
        (!INTERNAL_PATHS.contains(&path)).then(|| ApiError::not_found("route"))
    } else if path != METRICS {
        None
    } else if state.metrics_port.is_some() {
        Some(ApiError::not_found("route"))
    } else {
        bearer_refusal(&state, &req)
    };
    match refusal {
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Some(err) => {
            let (request, _) = req.into_parts();
            Ok(ServiceResponse::new(request, HttpResponse::from_error(err)).map_into_right_body())
        }
    }
}

/// The refusal for a public `/metrics` request without the configured token.
fn bearer_refusal(state: &AppState, req: &ServiceRequest) -> Option<ApiError> {
    let expected = &state.config.metrics.bearer_token;
    if !expected.is_set() {
        return None;
    }
    let presented = bearer_token(req.request()).unwrap_or_default();
    let matches: bool = presented
        .as_bytes()
        .ct_eq(expected.expose().as_bytes())
        .into();
    (!matches).then(|| {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "/metrics needs the metrics bearer token",
        )
    })
}
