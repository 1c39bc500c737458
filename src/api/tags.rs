//! The tenant's tag list. Tags used on a conversation join it automatically.

use super::views::Page;
use crate::auth::extract::Authorized;
use crate::auth::permission::{ManageTags, ReadInbox};
use crate::error::ApiError;
use crate::http::json::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use switchboard_actors::inbox::records::Tag;
use switchboard_actors::inbox::views::TagView;
use switchboard_actors::{Millis, TagName};

#[utoipa::path(
    get,
    path = "/api/v1/tags",
    operation_id = "tags.list",
    tag = "tags",
    summary = "The tag list",
    responses((status = 200, description = "every tag", body = Page<TagView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ReadInbox>,
) -> Result<HttpResponse, ApiError> {
    let tags = state.store.tags(auth.caller.tenant_id()).await?;
    Ok(HttpResponse::Ok().json(Page::whole(tags.iter().map(TagView::from).collect())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewTag)]
pub struct CreateRequest {
    name: TagName,
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    color: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/tags",
    operation_id = "tags.create",
    tag = "tags",
    summary = "Create a tag",
    request_body = CreateRequest,
    responses((status = 201, description = "the tag", body = TagView))
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: Authorized<ManageTags>,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if let Some(color) = &body.color {
        let hex = color.strip_prefix('#').unwrap_or_default();
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ApiError::invalid("color must look like #1a2b3c"));
        }
    }
    let tag = Tag {
        name: body.name,
        color: body.color,
        created_at: Millis::now(),
    };
    state
        .store
        .create_tag(auth.caller.tenant_id(), &tag)
        .await?;
    Ok(HttpResponse::Created().json(TagView::from(&tag)))
}

/// Removes the tag everywhere; each conversation that had it is updated live.
#[utoipa::path(
    delete,
    path = "/api/v1/tags/{name}",
    operation_id = "tags.delete",
    tag = "tags",
    summary = "Remove a tag everywhere",
    params(("name" = String, Path, description = "the tag")),
    responses((status = 204, description = "removed"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Authorized<ManageTags>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let events = state
        .store
        .delete_tag(tenant, &TagName::parse(&name)?, Millis::now())
        .await?
        .ok_or_else(|| ApiError::not_found("tag"))?;
    state.inbox.publish(tenant, events);
    Ok(HttpResponse::NoContent().finish())
}
