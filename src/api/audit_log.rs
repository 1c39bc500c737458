//! Reading the audit log, newest first, a page at a time.

use super::views::{AuditView, Page};
use crate::auth::extract::Authorized;
use crate::auth::permission::ReadAudit;
use crate::error::ApiError;
use crate::http::json::Query;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use switchboard_actors::AuditId;
use uuid::Uuid;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The `next_cursor` of the previous page.
    before: Option<Uuid>,
    /// At most 200 per page (a larger value gives 200); 50 when left out.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit-log",
    operation_id = "audit.list",
    tag = "audit",
    summary = "Who did what, when, from where",
    params(AuditQuery),
    responses((status = 200, description = "newest first", body = Page<AuditView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ReadAudit>,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let entries = state
        .store
        .audit_log(auth.caller.tenant_id(), query.before.map(AuditId), limit)
        .await?;
    let full_page = entries.len() == limit as usize;
    let next_cursor = entries
        .last()
        .filter(|_| full_page)
        .map(|e| e.id.to_string());
    Ok(HttpResponse::Ok().json(Page {
        data: entries.iter().map(AuditView::from).collect(),
        next_cursor,
    }))
}
