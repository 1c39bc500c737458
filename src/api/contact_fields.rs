//! Custom contact fields: the tenant's definitions (admins change them, everyone
//! who reads contacts reads them), audited.

use super::views::Page;
use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::{ManageContactFields, ReadContacts};
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::json::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_actors::contacts::fields::{
    FieldDefinition, FieldKey, FieldKind, MAX_FIELD_DEFINITIONS,
};
use switchboard_actors::{Millis, TenantId};

/// A custom field as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FieldView {
    pub key: FieldKey,
    pub label: String,
    pub kind: FieldKind,
    /// The allowed values of a `choice` or `multi_choice` field, in order.
    pub options: Vec<String>,
    pub required: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&FieldDefinition> for FieldView {
    fn from(f: &FieldDefinition) -> Self {
        Self {
            key: f.key.clone(),
            label: f.label.clone(),
            kind: f.kind,
            options: f.options.clone(),
            required: f.required,
            created_at: f.created_at.to_rfc3339(),
            updated_at: f.updated_at.to_rfc3339(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/contact-fields",
    operation_id = "contact_fields.list",
    tag = "contacts",
    summary = "The custom fields of contacts",
    responses((status = 200, description = "every definition, oldest first", body = Page<FieldView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
) -> Result<HttpResponse, ApiError> {
    let fields = state.store.fields(auth.caller.tenant_id()).await?;
    Ok(HttpResponse::Ok().json(Page::whole(fields.iter().map(FieldView::from).collect())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewContactField)]
pub struct CreateRequest {
    key: FieldKey,
    #[schema(min_length = 1, max_length = 100)]
    label: String,
    kind: FieldKind,
    /// Required for `choice` and `multi_choice` (1-100 options of 1-100
    /// characters, distinct regardless of case); refused for other kinds.
    #[serde(default)]
    #[schema(max_items = 100)]
    options: Vec<String>,
    /// Contacts written through the API must then have a value.
    #[serde(default)]
    required: bool,
}

#[utoipa::path(
    post,
    path = "/api/v1/contact-fields",
    operation_id = "contact_fields.create",
    tag = "contacts",
    summary = "Define a custom field",
    request_body = CreateRequest,
    responses((status = 201, description = "the definition", body = FieldView))
)]
pub async fn create(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageContactFields>,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let now = Millis::now();
    let field = FieldDefinition {
        tenant_id: tenant,
        key: body.key,
        label: body.label,
        kind: body.kind,
        options: body.options,
        required: body.required,
        created_at: now,
        updated_at: now,
    }
    .tidy()?;
    if state.store.fields(tenant).await?.len() >= MAX_FIELD_DEFINITIONS {
        return Err(ApiError::new(
            ErrorCode::LimitReached,
            format!(
                "a tenant holds at most {MAX_FIELD_DEFINITIONS} custom fields; remove one first"
            ),
        ));
    }
    state.store.create_field(&field).await?;
    audit_field(&state, &client, &auth, "contact_field.create", &field).await;
    Ok(HttpResponse::Created().json(FieldView::from(&field)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContactFieldChange)]
pub struct UpdateRequest {
    #[schema(min_length = 1, max_length = 100)]
    label: Option<String>,
    /// Replaces the list. Values contacts already hold stay as they are until they
    /// are written again.
    #[schema(max_items = 100)]
    options: Option<Vec<String>>,
    required: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/contact-fields/{key}",
    operation_id = "contact_fields.update",
    tag = "contacts",
    summary = "Change a custom field's label, options or required flag",
    description = "A field's key and kind never change: define a new field instead.",
    params(("key" = String, Path, description = "the field's key")),
    request_body = UpdateRequest,
    responses((status = 200, description = "the definition as changed", body = FieldView))
)]
pub async fn update(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageContactFields>,
    key: web::Path<String>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let mut field = existing(&state, tenant, &key).await?;
    if let Some(label) = body.label {
        field.label = label;
    }
    if let Some(options) = body.options {
        field.options = options;
    }
    if let Some(required) = body.required {
        field.required = required;
    }
    field.updated_at = Millis::now();
    let field = field.tidy()?;
    if !state.store.update_field(&field).await? {
        return Err(ApiError::not_found("custom field"));
    }
    audit_field(&state, &client, &auth, "contact_field.update", &field).await;
    Ok(HttpResponse::Ok().json(FieldView::from(&field)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/contact-fields/{key}",
    operation_id = "contact_fields.delete",
    tag = "contacts",
    summary = "Remove a custom field's definition",
    description = "Contacts keep the values they hold under its key, as free-form fields.",
    params(("key" = String, Path, description = "the field's key")),
    responses((status = 204, description = "removed"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ManageContactFields>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let field = existing(&state, tenant, &key).await?;
    if !state.store.delete_field(tenant, &field.key).await? {
        return Err(ApiError::not_found("custom field"));
    }
    audit_field(&state, &client, &auth, "contact_field.delete", &field).await;
    Ok(HttpResponse::NoContent().finish())
}

/// The tenant's definition under `key`, or `not_found`.
async fn existing(
    state: &AppState,
    tenant: TenantId,
    key: &str,
) -> Result<FieldDefinition, ApiError> {
    let key = FieldKey::parse(key)?;
    state
        .store
        .fields(tenant)
        .await?
        .into_iter()
        .find(|f| f.key == key)
        .ok_or_else(|| ApiError::not_found("custom field"))
}

async fn audit_field(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authorized<ManageContactFields>,
    action: &'static str,
    field: &FieldDefinition,
) {
    let event = Event {
        tenant: auth.caller.tenant_id(),
        actor: auth.caller.audit_actor(),
        action,
        target: Some(("contact_field", field.key.to_string())),
        details: json!({
            "label": field.label,
            "kind": field.kind.as_str(),
            "options": field.options,
            "required": field.required,
        }),
    };
    audit::record(state.store.as_ref(), client, event).await;
}
