//! Contacts: create, read, change, search, and merge duplicates (audited).

use super::views::Page;
use crate::audit::{self, Event};
use crate::auth::extract::{Authorized, Caller};
use crate::auth::permission::{MergeContacts, ReadContacts, WriteContacts};
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchboard_actors::contacts::consent::{Consent, ConsentSource};
use switchboard_actors::contacts::fields::{self, Presence};
use switchboard_actors::contacts::filter::ContactFilter;
use switchboard_actors::contacts::scan::{self, Selection};
use switchboard_actors::inbox::records::{Contact, ContactChange, check_contact_lists};
use switchboard_actors::inbox::views::{ContactView, MessageView};
use switchboard_actors::{ContactId, Email, Millis, PhoneE164, TagName, TenantId};
use uuid::Uuid;

pub(super) const MAX_NAME_CHARS: usize = 200;

fn contact_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(format!(
            "name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewContact)]
pub struct CreateRequest {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[serde(default)]
    #[schema(max_items = 20)]
    phones: Vec<PhoneE164>,
    #[serde(default)]
    #[schema(max_items = 20)]
    emails: Vec<Email>,
    /// At most 50 fields; a name has 1-64 characters, a value at most 1 KiB as JSON.
    /// A defined field's value is checked against its kind (see
    /// `/api/v1/contact-fields`) and stored in one form; every required field needs
    /// a value; a null leaves a field out.
    #[serde(default)]
    custom_fields: Map<String, Value>,
    #[serde(default)]
    #[schema(max_items = 50)]
    tags: Vec<TagName>,
}

#[utoipa::path(
    post,
    path = "/api/v1/contacts",
    operation_id = "contacts.create",
    tag = "contacts",
    summary = "Create a contact",
    request_body = CreateRequest,
    responses((status = 201, description = "the contact", body = ContactView))
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: Authorized<WriteContacts>,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_contact_lists(
        Some(&body.phones),
        Some(&body.emails),
        Some(&body.tags),
        Some(&body.custom_fields),
    )?;
    let tenant = auth.caller.tenant_id();
    let definitions = state.store.fields(tenant).await?;
    let custom_fields = fields::apply(
        &definitions,
        body.custom_fields,
        &Map::new(),
        Presence::AllRequired,
    )?;
    let now = Millis::now();
    let contact = Contact {
        tenant_id: tenant,
        id: ContactId::new(),
        name: contact_name(&body.name)?,
        phones: body.phones,
        emails: body.emails,
        identities: Vec::new(),
        custom_fields,
        tags: body.tags,
        merged_into: None,
        consent: None,
        created_at: now,
        updated_at: now,
    };
    state.store.create_contact(&contact).await?;
    Ok(HttpResponse::Created().json(ContactView::from(&contact)))
}

#[utoipa::path(
    get,
    path = "/api/v1/contacts/{id}",
    operation_id = "contacts.get",
    tag = "contacts",
    summary = "One contact",
    params(("id" = Uuid, Path, description = "the contact's id")),
    responses((status = 200, description = "the contact", body = ContactView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let contact = state
        .store
        .contact(auth.caller.tenant_id(), ContactId(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("contact"))?;
    Ok(HttpResponse::Ok().json(ContactView::from(&contact)))
}

/// Undoes the merge that absorbed this contact: it shows again with its identities
/// and conversations, and the contact it was merged into loses what it gained.
#[utoipa::path(
    post,
    path = "/api/v1/contacts/{id}/unmerge",
    operation_id = "contacts.unmerge",
    tag = "contacts",
    summary = "Undo a merge",
    params(("id" = Uuid, Path, description = "the absorbed contact's id")),
    responses((status = 200, description = "the absorbed contact, restored", body = ContactView))
)]
pub async fn unmerge(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<MergeContacts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let restored = state
        .store
        .unmerge_contact(tenant, ContactId(*id), Millis::now())
        .await?
        .ok_or_else(|| ApiError::not_found("merged contact"))?;
    state.inbox.publish(tenant, restored.events.clone());
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "contact.unmerge",
        target: Some(("contact", id.to_string())),
        details: json!({ "conversations_moved": restored.events.len() }),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Ok().json(ContactView::from(&restored.contact)))
}

/// The contact's lead form submissions, newest first, with their source (form, ad).
#[utoipa::path(
    get,
    path = "/api/v1/contacts/{id}/leads",
    operation_id = "contacts.leads",
    tag = "contacts",
    summary = "The contact's Lead Ads submissions",
    params(("id" = Uuid, Path, description = "the contact's id")),
    responses((status = 200, description = "`{data: [...]}`", body = Object))
)]
pub async fn leads(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    if state.store.contact(tenant, ContactId(*id)).await?.is_none() {
        return Err(ApiError::not_found("contact"));
    }
    let leads = state.store.leads(tenant, ContactId(*id)).await?;
    Ok(HttpResponse::Ok().json(Page::whole(leads.iter().map(MessageView::from).collect())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContactChange)]
pub struct UpdateRequest {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(max_items = 20)]
    phones: Option<Vec<PhoneE164>>,
    #[schema(max_items = 20)]
    emails: Option<Vec<Email>>,
    /// Replaces the whole set, checked as on create; a value the contact already
    /// holds passes as it is.
    custom_fields: Option<Map<String, Value>>,
    #[schema(max_items = 50)]
    tags: Option<Vec<TagName>>,
    /// Opts the contact out of marketing (broadcasts skip them) or back in; recorded
    /// with who did it and when, and audited.
    opted_out: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/contacts/{id}",
    operation_id = "contacts.update",
    tag = "contacts",
    summary = "Change a contact",
    params(("id" = Uuid, Path, description = "the contact's id")),
    request_body = UpdateRequest,
    responses((status = 200, description = "the contact as changed", body = ContactView))
)]
pub async fn update(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<WriteContacts>,
    id: web::Path<Uuid>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_contact_lists(
        body.phones.as_deref(),
        body.emails.as_deref(),
        body.tags.as_deref(),
        body.custom_fields.as_ref(),
    )?;
    let tenant = auth.caller.tenant_id();
    let custom_fields = match body.custom_fields {
        Some(given) => {
            let stored = state
                .store
                .contact(tenant, ContactId(*id))
                .await?
                .ok_or_else(|| ApiError::not_found("contact"))?;
            let definitions = state.store.fields(tenant).await?;
            Some(fields::apply(
                &definitions,
                given,
                &stored.custom_fields,
                Presence::AllRequired,
            )?)
        }
        None => None,
    };
    let change = ContactChange {
        name: body.name.as_deref().map(contact_name).transpose()?,
        phones: body.phones,
        emails: body.emails,
        custom_fields,
        tags: body.tags,
    };
    let now = Millis::now();
    let changed = state
        .store
        .update_contact(tenant, ContactId(*id), &change, now)
        .await?
        .ok_or_else(|| ApiError::not_found("contact"))?;
    // A new name shows in the contact's conversations, live and in their actors.
    state.inbox.publish(tenant, changed.events);
    let mut contact = changed.contact;
    if let Some(opted_out) = body.opted_out
        && opted_out != contact.opted_out()
    {
        contact = record_consent(&state, &client, &auth, contact.id, opted_out, now).await?;
    }
    Ok(HttpResponse::Ok().json(ContactView::from(&contact)))
}

/// An agent's or integration's consent change, recorded and audited.
async fn record_consent(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authorized<WriteContacts>,
    id: ContactId,
    opted_out: bool,
    at: Millis,
) -> Result<Contact, ApiError> {
    let tenant = auth.caller.tenant_id();
    let source = match auth.caller {
        Caller::User(_) => ConsentSource::Agent,
        Caller::ApiKey(_) => ConsentSource::Api,
    };
    let consent = Consent {
        opted_out,
        source,
        at,
    };
    let (contact, taken) = state
        .store
        .record_consent(tenant, id, consent)
        .await?
        .ok_or_else(|| ApiError::not_found("contact"))?;
    if taken {
        let event = Event {
            tenant,
            actor: auth.caller.audit_actor(),
            action: if opted_out {
                "contact.opt_out"
            } else {
                "contact.opt_in"
            },
            target: Some(("contact", id.to_string())),
            details: json!({ "source": source.as_str() }),
        };
        audit::record(state.store.as_ref(), client, event).await;
    }
    Ok(contact)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Part of a name, phone number or email address.
    q: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
    /// At most 200 per page (a larger value gives 200); 50 when left out.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/contacts",
    operation_id = "contacts.search",
    tag = "contacts",
    summary = "Search contacts",
    params(SearchQuery),
    responses((status = 200, description = "matches by name, phone or email", body = Page<ContactView>))
)]
pub async fn search(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
    query: Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let found = state
        .store
        .search_contacts(
            auth.caller.tenant_id(),
            q,
            query.cursor.map(ContactId),
            limit,
        )
        .await?;
    let next_cursor = (found.len() == limit as usize)
        .then(|| found.last())
        .flatten()
        .map(|c| c.id.to_string());
    Ok(HttpResponse::Ok().json(Page {
        data: found.iter().map(ContactView::from).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContactSearch)]
pub struct FilterRequest {
    /// Tags, the contact's own fields, custom fields, consent, channels, when they
    /// last wrote and lead temperature, combined with `all`, `any` and `not` (6
    /// levels, 50 tests at most).
    filter: Option<ContactFilter>,
    /// Part of a name, phone number, email address or custom field value.
    q: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
    /// At most 200 per page (a larger value gives 200); 50 when left out.
    #[schema(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

#[utoipa::path(
    post,
    path = "/api/v1/contacts/search",
    operation_id = "contacts.filter",
    tag = "contacts",
    summary = "Find contacts by tags and fields",
    description = "Reads at most `inbox.contact_filter_scan` contacts (10,000 by default) per \
        request: a page may hold fewer than `limit` matches and still have a `next_cursor`. \
        Follow `next_cursor` until it is null.",
    request_body = FilterRequest,
    responses((status = 200, description = "matches, newest first", body = Page<ContactView>))
)]
pub async fn filter(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
    body: Json<FilterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if let Some(filter) = &body.filter {
        filter.check()?;
    }
    let selection = Selection {
        filter: body.filter.as_ref(),
        q: body.q.as_deref().map(str::trim).filter(|q| !q.is_empty()),
    };
    scanned_page(
        &state,
        auth.caller.tenant_id(),
        selection,
        body.cursor,
        body.limit,
    )
    .await
}

/// A page of the contacts a selection holds after `cursor`, newest first, read
/// within `inbox.contact_filter_scan`.
pub(super) async fn scanned_page(
    state: &AppState,
    tenant: TenantId,
    selection: Selection<'_>,
    cursor: Option<Uuid>,
    limit: Option<u32>,
) -> Result<HttpResponse, ApiError> {
    let found = scan::page(
        state.store.as_ref(),
        tenant,
        selection,
        cursor.map(ContactId),
        limit.unwrap_or(50).clamp(1, 200) as usize,
        state.config.inbox.contact_filter_scan,
        Millis::now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page {
        data: found.contacts.iter().map(ContactView::from).collect(),
        next_cursor: found.next.map(|id| id.to_string()),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The duplicate to fold into the contact in the path.
    merge_id: Uuid,
}

#[utoipa::path(
    post,
    path = "/api/v1/contacts/{id}/merge",
    operation_id = "contacts.merge",
    tag = "contacts",
    summary = "Merge another contact into this one",
    params(("id" = Uuid, Path, description = "the contact's id")),
    request_body = MergeRequest,
    responses((status = 200, description = "the surviving contact", body = ContactView))
)]
pub async fn merge(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<MergeContacts>,
    id: web::Path<Uuid>,
    body: Json<MergeRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let (keep, absorb) = (ContactId(*id), ContactId(body.merge_id));
    if keep == absorb {
        return Err(ApiError::invalid("a contact cannot be merged into itself"));
    }
    let merged = state
        .store
        .merge_contacts(tenant, keep, absorb, Millis::now())
        .await?
        .ok_or_else(|| {
            ApiError::not_found("contact (both must exist and not be merged already)")
        })?;
    state.inbox.publish(tenant, merged.events.clone());
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "contact.merge",
        target: Some(("contact", keep.to_string())),
        details: json!({ "merged_id": absorb.to_string(), "conversations_moved": merged.events.len() }),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Ok().json(ContactView::from(&merged.contact)))
}
