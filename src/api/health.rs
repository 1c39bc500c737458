//! Probes: `/health` says the process serves HTTP; `/ready` says it can also reach its
//! database (take it out of the load balancer when not); `/metrics` is for Prometheus.

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde_json::json;

#[utoipa::path(
    get,
    path = "/health",
    operation_id = "probes.health",
    tag = "probes",
    summary = "The process serves HTTP",
    security(()),
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = Object))
)]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "probes.ready",
    tag = "probes",
    summary = "The server can reach its database",
    security(()),
    responses((status = 200, description = "`{\"status\":\"ready\",\"database\":\"sqlite\"|\"postgres\"}`", body = Object))
)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(HttpResponse::Ok()
            .json(json!({ "status": "ready", "database": state.store.backend() }))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            let mut unavailable =
                ApiError::new(ErrorCode::NotReady, "the database does not answer");
            unavailable.retry_after = Some(5);
            Err(unavailable)
        }
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "probes.metrics",
    tag = "probes",
    summary = "Prometheus metrics",
    security(()),
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let text = state.metrics.render(
        state.store.pool_stats(),
        state.store.backend(),
        state.inbox.stats(),
        state.sessions.counts(),
        state.connections.open(),
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}
