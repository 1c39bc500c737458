//! Segments: saved contact filters, counted live when asked, and their contacts
//! paged like a search. Managers change them; everyone who reads contacts reads them.

use super::contacts::scanned_page;
use super::views::Page;
use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::{ManageSegments, ReadContacts};
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_actors::contacts::filter::ContactFilter;
use switchboard_actors::contacts::scan::{self, Selection};
use switchboard_actors::contacts::segments::{MAX_SEGMENTS, Segment};
use switchboard_actors::inbox::views::ContactView;
use switchboard_actors::{Millis, SegmentId, TenantId};
use uuid::Uuid;

#[derive(Serialize, utoipa::ToSchema)]
pub struct SegmentView {
    pub id: SegmentId,
    pub name: String,
    pub filter: ContactFilter,
    /// How many contacts it holds now; only on a single segment's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    pub created_at: String,
    pub updated_at: String,
}

impl SegmentView {
    fn of(segment: &Segment, count: Option<u64>) -> Self {
        Self {
            id: segment.id,
            name: segment.name.clone(),
            filter: segment.filter.clone(),
            count,
            created_at: segment.created_at.to_rfc3339(),
            updated_at: segment.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SegmentCount {
    /// Contacts the filter selects now.
    pub count: u64,
}

#[utoipa::path(
    get,
    path = "/api/v1/segments",
    operation_id = "segments.list",
    tag = "contacts",
    summary = "The saved segments",
    responses((status = 200, description = "every segment by name, without counts", body = Page<SegmentView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
) -> Result<HttpResponse, ApiError> {
    let segments = state.store.segments(auth.caller.tenant_id()).await?;
    let views = segments.iter().map(|s| SegmentView::of(s, None)).collect();
    Ok(HttpResponse::Ok().json(Page::whole(views)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewSegment)]
pub struct CreateRequest {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    filter: ContactFilter,
}

#[utoipa::path(
    post,
    path = "/api/v1/segments",
    operation_id = "segments.create",
    tag = "contacts",
    summary = "Save a segment",
    request_body = CreateRequest,
    responses((status = 201, description = "the segment, counted", body = SegmentView))
)]
pub async fn create(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageSegments>,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let now = Millis::now();
    let segment = Segment {
        tenant_id: tenant,
        id: SegmentId::new(),
        name: body.name,
        filter: body.filter,
        created_at: now,
        updated_at: now,
    }
    .tidy()?;
    if state.store.segments(tenant).await?.len() >= MAX_SEGMENTS {
        return Err(ApiError::new(
            ErrorCode::LimitReached,
            format!("a tenant holds at most {MAX_SEGMENTS} segments; remove one first"),
        ));
    }
    state.store.create_segment(&segment).await?;
    audit_segment(&state, &client, &auth, "segment.create", &segment).await;
    let count = count_of(&state, tenant, &segment.filter).await?;
    Ok(HttpResponse::Created().json(SegmentView::of(&segment, Some(count))))
}

#[utoipa::path(
    get,
    path = "/api/v1/segments/{id}",
    operation_id = "segments.get",
    tag = "contacts",
    summary = "One segment, counted now",
    params(("id" = Uuid, Path, description = "the segment's id")),
    responses((status = 200, description = "the segment with its count", body = SegmentView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let segment = existing(&state, tenant, *id).await?;
    let count = count_of(&state, tenant, &segment.filter).await?;
    Ok(HttpResponse::Ok().json(SegmentView::of(&segment, Some(count))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SegmentChange)]
pub struct UpdateRequest {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    filter: Option<ContactFilter>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/segments/{id}",
    operation_id = "segments.update",
    tag = "contacts",
    summary = "Rename a segment or change its filter",
    params(("id" = Uuid, Path, description = "the segment's id")),
    request_body = UpdateRequest,
    responses((status = 200, description = "the segment as changed, counted", body = SegmentView))
)]
pub async fn update(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageSegments>,
    id: web::Path<Uuid>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let mut segment = existing(&state, tenant, *id).await?;
    if let Some(name) = body.name {
        segment.name = name;
    }
    if let Some(filter) = body.filter {
        segment.filter = filter;
    }
    segment.updated_at = Millis::now();
    let segment = segment.tidy()?;
    if !state.store.update_segment(&segment).await? {
        return Err(ApiError::not_found("segment"));
    }
    audit_segment(&state, &client, &auth, "segment.update", &segment).await;
    let count = count_of(&state, tenant, &segment.filter).await?;
    Ok(HttpResponse::Ok().json(SegmentView::of(&segment, Some(count))))
}

#[utoipa::path(
    delete,
    path = "/api/v1/segments/{id}",
    operation_id = "segments.delete",
    tag = "contacts",
    summary = "Remove a segment",
    params(("id" = Uuid, Path, description = "the segment's id")),
    responses((status = 204, description = "removed"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageSegments>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let segment = existing(&state, tenant, *id).await?;
    if !state.store.delete_segment(tenant, segment.id).await? {
        return Err(ApiError::not_found("segment"));
    }
    audit_segment(&state, &client, &auth, "segment.delete", &segment).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContactsQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
    /// At most 200 per page (a larger value gives 200); 50 when left out.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/segments/{id}/contacts",
    operation_id = "segments.contacts",
    tag = "contacts",
    summary = "The contacts a segment holds now",
    description = "Newest first. Reads at most `inbox.contact_filter_scan` contacts per request: \
        a page may hold fewer than `limit` and still have a `next_cursor`.",
    params(("id" = Uuid, Path, description = "the segment's id"), ContactsQuery),
    responses((status = 200, description = "a page of contacts", body = Page<ContactView>))
)]
pub async fn contacts(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
    id: web::Path<Uuid>,
    query: Query<ContactsQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let segment = existing(&state, tenant, *id).await?;
    let selection = Selection {
        filter: Some(&segment.filter),
        q: None,
    };
    scanned_page(&state, tenant, selection, query.cursor, query.limit).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SegmentPreview)]
pub struct CountRequest {
    filter: ContactFilter,
}

#[utoipa::path(
    post,
    path = "/api/v1/segments/count",
    operation_id = "segments.count",
    tag = "contacts",
    summary = "Count the contacts a filter selects, before saving it",
    request_body = CountRequest,
    responses((status = 200, description = "the count now", body = SegmentCount))
)]
pub async fn count(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
    body: Json<CountRequest>,
) -> Result<HttpResponse, ApiError> {
    body.filter.check()?;
    let count = count_of(&state, auth.caller.tenant_id(), &body.filter).await?;
    Ok(HttpResponse::Ok().json(SegmentCount { count }))
}

async fn count_of(
    state: &AppState,
    tenant: TenantId,
    filter: &ContactFilter,
) -> Result<u64, ApiError> {
    let selection = Selection {
        filter: Some(filter),
        q: None,
    };
    Ok(scan::count(state.store.as_ref(), tenant, selection, Millis::now()).await?)
}

async fn existing(state: &AppState, tenant: TenantId, id: Uuid) -> Result<Segment, ApiError> {
    state
        .store
        .segment(tenant, SegmentId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("segment"))
}

async fn audit_segment(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authorized<ManageSegments>,
    action: &'static str,
    segment: &Segment,
) {
    let event = Event {
        tenant: auth.caller.tenant_id(),
        actor: auth.caller.audit_actor(),
        action,
        target: Some(("segment", segment.id.to_string())),
        details: json!({ "name": segment.name, "filter": segment.filter }),
    };
    audit::record(state.store.as_ref(), client, event).await;
}
