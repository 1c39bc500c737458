//! Contacts in and out as CSV: an import is previewed (a dry run), then read by a
//! job with its progress on admins' sockets and its refused rows in a downloadable
//! report; an export writes every contact, or a segment's, with the tenant's custom
//! fields as columns.

use crate::audit::{self, Event};
use crate::auth::extract::Authorized;
use crate::auth::permission::{ImportContacts, ReadContacts};
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::http::json::{Json, Query};
use crate::state::AppState;
use actix_web::{HttpResponse, http::header, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use switchboard_actors::contacts::export;
use switchboard_actors::contacts::filter::ContactFilter;
use switchboard_actors::contacts::import::{self, Import, ImportStatus, ImportView, Row};
use switchboard_actors::contacts::import_job::IMPORT_JOB;
use switchboard_actors::contacts::scan::{self, Selection};
use switchboard_actors::jobs::NewJob;
use switchboard_actors::{ContactId, ImportId, Millis, SegmentId, country_code};
use uuid::Uuid;

/// Rows and refusals a preview shows.
const PREVIEW_ROWS: usize = 20;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewContactImport)]
pub struct ImportRequest {
    /// The file's text: a header row, then one contact per row (at most 50,000 rows
    /// and 100 columns; the request is held to the server's body limit).
    csv: String,
    /// Column header → `name`, `phone`, `email`, `tags` (split on `,` or `;`),
    /// `field:<key>` or `skip`; columns left out are skipped.
    mapping: BTreeMap<String, String>,
    /// Where phone numbers without `+` are from (ISO 3166, such as `DE`).
    default_country: Option<String>,
    /// Only read the file and show what it would do.
    #[serde(default)]
    dry_run: bool,
}

/// What a dry run found.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportPreview {
    pub total: u64,
    pub valid: u64,
    pub refused: u64,
    pub headers: Vec<String>,
    /// The first 20 usable rows and what each would do.
    pub rows: Vec<PreviewRow>,
    /// The first 20 refused rows and why.
    pub errors: Vec<PreviewError>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviewRow {
    pub line: u64,
    /// `create`, or `update` of the contact in `contact_id`.
    pub action: &'static str,
    pub contact_id: Option<ContactId>,
    pub name: Option<String>,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub tags: Vec<String>,
    pub custom_fields: Map<String, Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviewError {
    pub line: u64,
    pub reason: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/contacts/imports",
    operation_id = "contacts.import",
    tag = "contacts",
    summary = "Import contacts from CSV, or preview the import",
    description = "Rows match existing contacts by phone, then email, and update them (name, \
        fields over theirs; phones, emails and tags added); other rows create contacts. A row \
        needs a phone or an email. With `dry_run` the answer is a preview (200); otherwise the \
        import is queued (202) and `contacts.import` events report its progress to admins.",
    request_body = ImportRequest,
    responses(
        (status = 200, description = "the preview of a dry run", body = ImportPreview),
        (status = 202, description = "the import, queued", body = ImportView)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    client: ClientInfo,
    auth: Authorized<ImportContacts>,
    body: Json<ImportRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tenant = auth.caller.tenant_id();
    let default_country = body
        .default_country
        .as_deref()
        .map(country_code)
        .transpose()?;
    let definitions = state.store.fields(tenant).await?;
    let sheet = import::read(
        &body.csv,
        &body.mapping,
        &definitions,
        default_country.as_deref(),
    )?;
    let total = sheet.rows.len() as u64;
    if body.dry_run {
        let valid: Vec<&Row> = sheet.rows.iter().filter_map(|r| r.as_ref().ok()).collect();
        let mut rows = Vec::new();
        for row in valid.iter().take(PREVIEW_ROWS) {
            rows.push(preview(&state, tenant, row).await?);
        }
        let errors = sheet
            .rows
            .iter()
            .filter_map(|r| r.as_ref().err())
            .take(PREVIEW_ROWS)
            .map(|refused| PreviewError {
                line: refused.line,
                reason: refused.reason.clone(),
            })
            .collect();
        return Ok(HttpResponse::Ok().json(ImportPreview {
            total,
            valid: valid.len() as u64,
            refused: total - valid.len() as u64,
            headers: sheet.headers,
            rows,
            errors,
        }));
    }
    let now = Millis::now();
    let errors = import::error_report_header(&sheet.headers);
    let import = Import {
        tenant_id: tenant,
        id: ImportId::new(),
        status: ImportStatus::Queued,
        csv: body.csv,
        mapping: body.mapping,
        default_country,
        created_by: auth.caller.user_id(),
        total,
        processed: 0,
        created: 0,
        updated: 0,
        failed: 0,
        errors,
        created_at: now,
        updated_at: now,
    };
    state.store.create_import(&import).await?;
    let job = NewJob {
        tenant,
        kind: IMPORT_JOB.to_owned(),
        payload: json!({ "import_id": import.id }),
        run_at: now,
        max_attempts: 10,
        idempotency_key: Some(format!("contacts.import:{}", import.id)),
    };
    state.store.add_job(&job, now).await?;
    let event = Event {
        tenant,
        actor: auth.caller.audit_actor(),
        action: "contact.import",
        target: Some(("contact_import", import.id.to_string())),
        details: json!({ "rows": total, "mapping": import.mapping }),
    };
    audit::record(state.store.as_ref(), &client, event).await;
    Ok(HttpResponse::Accepted().json(import.view()))
}

async fn preview(
    state: &AppState,
    tenant: switchboard_actors::TenantId,
    row: &Row,
) -> Result<PreviewRow, ApiError> {
    let matched = state
        .store
        .contact_by_handles(tenant, &row.phones, &row.emails)
        .await?;
    Ok(PreviewRow {
        line: row.line,
        action: if matched.is_some() {
            "update"
        } else {
            "create"
        },
        contact_id: matched.map(|c| c.id),
        name: row.name.clone(),
        phones: row.phones.iter().map(|p| p.as_str().to_owned()).collect(),
        emails: row.emails.iter().map(|e| e.as_str().to_owned()).collect(),
        tags: row.tags.iter().map(ToString::to_string).collect(),
        custom_fields: row.fields.clone(),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/contacts/imports/{id}",
    operation_id = "contacts.import_status",
    tag = "contacts",
    summary = "How far an import got",
    params(("id" = Uuid, Path, description = "the import's id")),
    responses((status = 200, description = "the import", body = ImportView))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ImportContacts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let import = existing(&state, &auth, *id).await?;
    Ok(HttpResponse::Ok().json(import.view()))
}

#[utoipa::path(
    get,
    path = "/api/v1/contacts/imports/{id}/errors",
    operation_id = "contacts.import_errors",
    tag = "contacts",
    summary = "An import's refused rows, as CSV",
    description = "Each refused row's line in the file, the reason, then the row as it was.",
    params(("id" = Uuid, Path, description = "the import's id")),
    responses((status = 200, description = "the report", content_type = "text/csv", body = String))
)]
pub async fn errors(
    state: web::Data<AppState>,
    auth: Authorized<ImportContacts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let import = existing(&state, &auth, *id).await?;
    Ok(csv_file(
        &format!("import-{}-errors.csv", import.id),
        import.errors,
    ))
}

async fn existing(
    state: &AppState,
    auth: &Authorized<ImportContacts>,
    id: Uuid,
) -> Result<Import, ApiError> {
    state
        .store
        .import(auth.caller.tenant_id(), ImportId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("import"))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Only this segment's contacts.
    segment_id: Option<Uuid>,
}

#[utoipa::path(
    get,
    path = "/api/v1/contacts/export",
    operation_id = "contacts.export",
    tag = "contacts",
    summary = "Every contact, or a segment's, as CSV",
    description = "Columns: id, name, phones, emails and tags (each list joined by `;`), \
        opted_out, created_at, then one column per custom field definition (multi-choice \
        values joined by `;`). Newest first.",
    params(ExportQuery),
    responses((status = 200, description = "the file", content_type = "text/csv", body = String))
)]
pub async fn export(
    state: web::Data<AppState>,
    auth: Authorized<ReadContacts>,
    query: Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.caller.tenant_id();
    let filter: Option<ContactFilter> = match query.segment_id {
        Some(id) => Some(
            state
                .store
                .segment(tenant, SegmentId(id))
                .await?
                .ok_or_else(|| ApiError::not_found("segment"))?
                .filter,
        ),
        None => None,
    };
    let definitions = state.store.fields(tenant).await?;
    let mut file = export::header(&definitions);
    let selection = Selection {
        filter: filter.as_ref(),
        q: None,
    };
    let mut after = None;
    loop {
        let found = scan::page(
            state.store.as_ref(),
            tenant,
            selection,
            after,
            500,
            usize::MAX,
            Millis::now(),
        )
        .await?;
        for contact in &found.contacts {
            file.push_str(&export::record(contact, &definitions));
        }
        match found.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(csv_file("contacts.csv", file))
}

fn csv_file(name: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(body)
}
