//! The REST API's contract: an OpenAPI 3.1 document generated from the handlers'
//! annotations and the request and view types, served at `/api/v1/openapi.json`, and
//! Swagger UI (its files vendored into the binary at build) reading it at
//! `/api/v1/docs/`.
//!
//! What the annotations cannot know comes from here: the error envelope with every
//! code of the one error table, the bearer scheme, and the limits of the running
//! server's configuration.

use super::*;
use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, KnownFormat, Ref, RefOr, ResponseBuilder, Schema, SchemaFormat,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard REST API",
        description = "Conversations, contacts, channels, automations and outbound webhooks of one tenant. \
            Every request but sign-in and the probes carries `Authorization: Bearer <token>`: an access \
            token from `/api/v1/auth/login` or an API key (`sbk_…`). Every error is the `Error` envelope; \
            its `code` says what went wrong. Lists are pages: pass `next_cursor` (or the last item's id as \
            `before`) to get the next one. The live socket and the webhook payloads are described in \
            docs/protocol.md."
    ),
    paths(
        health::health, health::ready, health::metrics,
        auth::register, auth::login, auth::refresh, auth::logout, auth::me,
        auth::accept_invite, auth::change_password,
        users::list, users::invite, users::team, users::get, users::update,
        api_keys::list, api_keys::create, api_keys::revoke,
        audit_log::list,
        conversations::list, conversations::get, conversations::update,
        conversations::assign, conversations::assignments, conversations::add_tag,
        conversations::remove_tag, conversations::mark_read, conversations::add_note,
        conversations::messages, conversations::send,
        pipeline::handoff, pipeline::lead_history, pipeline::settings, pipeline::save_settings,
        ai::settings, ai::save_settings, ai::reply_settings, ai::save_reply_settings, ai::usage,
        automations::list, automations::create, automations::run, automations::get,
        automations::replace, automations::delete, automations::enable, automations::disable,
        automations::runs, automations::dry_run, automations::jobs, automations::retry_job,
        webhooks::types, webhooks::list, webhooks::create, webhooks::get, webhooks::update,
        webhooks::delete, webhooks::rotate_secret, webhooks::test, webhooks::replay,
        webhooks::deliveries, webhooks::delivery, webhooks::redeliver,
        knowledge::list, knowledge::add, knowledge::search, knowledge::get,
        knowledge::replace, knowledge::delete,
        contacts::search, contacts::create, contacts::get, contacts::update,
        contacts::merge, contacts::unmerge, contacts::leads, contacts::filter,
        contact_fields::list, contact_fields::create, contact_fields::update, contact_fields::delete,
        segments::list, segments::create, segments::get, segments::update, segments::delete,
        segments::contacts, segments::count,
        broadcasts::create, broadcasts::list, broadcasts::get, broadcasts::recipients,
        broadcasts::pause, broadcasts::resume, broadcasts::cancel,
        quick_replies::list, quick_replies::create, quick_replies::replace, quick_replies::delete,
        quick_replies::for_conversation,
        contact_imports::create, contact_imports::get, contact_imports::errors, contact_imports::export,
        media::get,
        channels::retry_message,
        tags::list, tags::create, tags::delete,
        sandbox::inbound,
        channels::list, channels::create, channels::get, channels::update, channels::delete,
        channels::status, channels::tenant_settings, channels::set_tenant_settings,
        channels::templates, channels::sync_templates,
        channels::webhook_log, channels::dead_letters, channels::retry_dead_letter,
        sessions::get, sessions::history, sessions::restart, sessions::logout,
        sessions::pairing_code,
        crate::webhooks::meta::handshake, crate::webhooks::meta::receive,
        crate::ws::connect, crate::web_ui::serve,
        openapi_json, reference,
    ),
    // Schemas reached only through query parameters or a self-referring condition,
    // which the paths do not collect by themselves.
    components(schemas(
        switchboard_actors::ChannelKey,
        switchboard_actors::pipeline::sentiment::SentimentLabel,
        switchboard_actors::automation::rules::FieldTest,
    )),
    security(("bearer" = [])),
    modifiers(&Contract),
)]
struct ApiDoc;

/// The document for a server running with `config`.
pub fn document(config: &Config) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let limits = limits(config);
    let description = doc.info.description.take().unwrap_or_default();
    doc.info.description = Some(format!("{description}\n\n{limits}"));
    doc
}

/// The limits a client meets, with this server's values.
fn limits(config: &Config) -> String {
    let rate = &config.rate_limit;
    format!(
        "## Limits\n\n\
         - Request bodies: at most {body} bytes (`413 payload_too_large`).\n\
         - API requests: {ip_rate}/s per client address (bursts of {ip_burst}) and {tenant_rate}/s per tenant \
           (bursts of {tenant_burst}); beyond them `429 rate_limited` with `Retry-After`.\n\
         - Sign-in, registration, refresh and invitation acceptance: {auth} per minute per address; \
           {failures} failed sign-ins in a row to one account make each further attempt wait (429).\n\
         - A request head must arrive within {head} s and its body within {body_secs} s (`408 request_timeout`).\n\
         - Pages: `limit` is bounded per list (see each parameter).\n\
         - Text: control characters other than tab and line breaks are removed from every string; \
           names are 1-200 characters; replies and notes 1-4,096; passwords 10 characters to 256 bytes \
           and not easily guessed; unknown fields in a body are refused (`invalid_json`).\n\
         - Webhook endpoints: {endpoints} per tenant (`409 limit_reached`).\n\
         - When the server is overloaded it answers `503 busy` with `Retry-After`.",
        body = config.server.body_limit_bytes,
        ip_rate = rate.per_ip_per_second,
        ip_burst = rate.per_ip_burst,
        tenant_rate = rate.per_tenant_per_second,
        tenant_burst = rate.per_tenant_burst,
        auth = rate.auth_per_ip_per_minute,
        failures = rate.sign_in_failures_per_account,
        head = config.server.request_head_timeout_secs,
        body_secs = config.server.body_read_timeout_secs,
        endpoints = config.webhooks.max_endpoints,
    )
}

/// Adds what every operation shares: the bearer scheme, the error envelope and the
/// error answers.
struct Contract;

impl utoipa::Modify for Contract {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token, or an API key sbk_…")
                    .description(Some(
                        "An access token (15 minutes by default; renew it with /api/v1/auth/refresh) \
                         or an API key, whose scopes bound what it may do.",
                    ))
                    .build(),
            ),
        );
        components
            .schemas
            .insert("Error".to_owned(), error_envelope());
        components.responses.insert(
            "Error".to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description(
                        "An error. `error.code` names it; the status follows from the code. \
                         429 and 503 carry `Retry-After` in seconds.",
                    )
                    .header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .schema(ObjectBuilder::new().schema_type(Type::Integer))
                            .description(Some("seconds to wait, on 429 and 503"))
                            .build(),
                    )
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Error")))
                            .build(),
                    )
                    .build(),
            ),
        );
        for item in doc.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add_error_answers(operation);
            }
        }
    }
}

fn add_error_answers(operation: &mut Operation) {
    for range in ["4XX", "5XX"] {
        operation
            .responses
            .responses
            .entry(range.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Error")));
    }
}

/// `{"error":{"code","message","details","request_id"}}`, its codes from the one table.
fn error_envelope() -> RefOr<Schema> {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    let error = ObjectBuilder::new()
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes))
                .description(Some("what went wrong; part of the contract")),
        )
        .required("code")
        .property(
            "message",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("for people; may change")),
        )
        .required("message")
        .property(
            "details",
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some("more about it, or null")),
        )
        .required("details")
        .property(
            "request_id",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                .description(Some("the `x-request-id` of the request, for support")),
        )
        .required("request_id");
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .property("error", error)
            .required("error")
            .build(),
    ))
}

/// The document itself.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "reference", security(()),
    responses((status = 200, description = "this document", content_type = "application/json"))
)]
pub async fn openapi_json(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let body = document(&state.config)
        .to_json()
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// What the reference page may load: its own files, and this server's document.
/// Swagger UI sets inline styles and draws icons from `data:` URLs; no script runs
/// that is not one of its vendored files.
const REFERENCE_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Swagger UI, for reading the document and trying calls with a token.
#[utoipa::path(
    get, path = "/api/v1/docs/{file}", tag = "reference", security(()),
    params(("file" = String, Path, description = "a file of the page; empty for the page itself")),
    responses((status = 200, description = "a file of Swagger UI", content_type = "text/html"))
)]
pub async fn reference(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let config = Arc::new(utoipa_swagger_ui::Config::new(["/api/v1/openapi.json"]));
    let served = utoipa_swagger_ui::serve(&file, config)
        .map_err(|err| ApiError::internal(err.to_string()))?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such file of the reference"))?;
    Ok(HttpResponse::Ok()
        .content_type(served.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, REFERENCE_POLICY))
        .body(served.bytes.into_owned()))
}

/// `/api/v1/docs` without its slash: the page's relative links need it.
pub async fn reference_home() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/api/v1/docs/"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use switchboard_actors::contacts::{fields, segments};
    use switchboard_actors::inbox::records as inbox;
    use switchboard_actors::quick_replies as quick;

    /// The bounds the schemas state are literals (utoipa takes no constants); each
    /// must be the bound the handler enforces.
    #[test]
    fn request_bounds_in_the_document_are_the_ones_the_handlers_enforce() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document");
        let schemas = &doc["components"]["schemas"];
        let bound = |schema: &str, property: &str, keyword: &str| -> u64 {
            schemas[schema]["properties"][property][keyword]
                .as_u64()
                .unwrap_or_else(|| panic!("{schema}.{property} has no {keyword}"))
        };
        let password = crate::auth::password::MAX_LENGTH;
        let min_password = crate::auth::password::MIN_LENGTH;
        let secret_min = crate::auth::strength::MIN_CHANNEL_SECRET_CHARS;
        let checks: &[(&str, &str, &str, usize)] = &[
            (
                "RegisterRequest",
                "tenant_name",
                "maxLength",
                auth::MAX_NAME_CHARS,
            ),
            ("RegisterRequest", "name", "maxLength", auth::MAX_NAME_CHARS),
            ("RegisterRequest", "password", "maxLength", password),
            ("RegisterRequest", "password", "minLength", min_password),
            ("AcceptInviteRequest", "password", "minLength", min_password),
            (
                "ChangePasswordRequest",
                "new_password",
                "maxLength",
                password,
            ),
            ("InviteRequest", "name", "maxLength", auth::MAX_NAME_CHARS),
            ("UserChange", "name", "maxLength", auth::MAX_NAME_CHARS),
            ("NewContact", "name", "maxLength", contacts::MAX_NAME_CHARS),
            (
                "NewContact",
                "phones",
                "maxItems",
                inbox::MAX_CONTACT_PHONES,
            ),
            (
                "NewContact",
                "emails",
                "maxItems",
                inbox::MAX_CONTACT_EMAILS,
            ),
            ("NewContact", "tags", "maxItems", inbox::MAX_CONTACT_TAGS),
            (
                "ContactChange",
                "phones",
                "maxItems",
                inbox::MAX_CONTACT_PHONES,
            ),
            (
                "NewContactField",
                "label",
                "maxLength",
                fields::MAX_FIELD_LABEL_CHARS,
            ),
            (
                "NewContactField",
                "options",
                "maxItems",
                fields::MAX_FIELD_OPTIONS,
            ),
            (
                "ContactFieldChange",
                "label",
                "maxLength",
                fields::MAX_FIELD_LABEL_CHARS,
            ),
            (
                "ContactFieldChange",
                "options",
                "maxItems",
                fields::MAX_FIELD_OPTIONS,
            ),
            (
                "NewSegment",
                "name",
                "maxLength",
                segments::MAX_SEGMENT_NAME_CHARS,
            ),
            (
                "SegmentChange",
                "name",
                "maxLength",
                segments::MAX_SEGMENT_NAME_CHARS,
            ),
            (
                "NewQuickReply",
                "shortcut",
                "maxLength",
                quick::MAX_SHORTCUT_CHARS,
            ),
            (
                "NewQuickReply",
                "text",
                "maxLength",
                quick::MAX_QUICK_REPLY_CHARS,
            ),
            ("NoteRequest", "body", "maxLength", inbox::MAX_BODY_CHARS),
            ("SendRequest", "body", "maxLength", inbox::MAX_BODY_CHARS),
            (
                "TemplateRequest",
                "name",
                "maxLength",
                inbox::MAX_PART_CHARS,
            ),
            (
                "TemplateRequest",
                "parameters",
                "maxItems",
                inbox::MAX_TEMPLATE_PARAMETERS,
            ),
            (
                "MediaRequest",
                "caption",
                "maxLength",
                inbox::MAX_PART_CHARS,
            ),
            ("NewEndpoint", "url", "maxLength", webhooks::MAX_URL_CHARS),
            (
                "NewEndpoint",
                "description",
                "maxLength",
                webhooks::MAX_DESCRIPTION_CHARS,
            ),
            (
                "EndpointChange",
                "url",
                "maxLength",
                webhooks::MAX_URL_CHARS,
            ),
            ("ApiKeyRequest", "name", "maxLength", auth::MAX_NAME_CHARS),
            ("NewChannel", "name", "maxLength", auth::MAX_NAME_CHARS),
            (
                "NewChannel",
                "account_id",
                "maxLength",
                channels::MAX_ACCOUNT_CHARS,
            ),
            ("NewChannel", "app_secret", "minLength", secret_min),
            (
                "NewChannel",
                "app_secret",
                "maxLength",
                channels::MAX_SECRET_CHARS,
            ),
            ("NewChannel", "verify_token", "minLength", secret_min),
            ("ChannelChange", "app_secret", "minLength", secret_min),
            (
                "DocumentRequest",
                "title",
                "maxLength",
                knowledge::MAX_TITLE_CHARS,
            ),
            (
                "CustomerMessage",
                "from",
                "maxLength",
                crate::channels::sandbox::MAX_HANDLE_LEN,
            ),
            (
                "CustomerMessage",
                "text",
                "maxLength",
                crate::channels::sandbox::MAX_TEXT_CHARS,
            ),
        ];
        for (schema, property, keyword, expected) in checks {
            assert_eq!(
                bound(schema, property, keyword),
                *expected as u64,
                "{schema}.{property} {keyword}"
            );
        }
        assert_eq!(
            bound("ApiKeyRequest", "expires_in_days", "maximum"),
            u64::from(api_keys::MAX_EXPIRY_DAYS)
        );
        // Request bodies of different resources are different schemas (utoipa names a
        // schema by its type's name, so two `CreateRequest`s would share one).
        assert!(schemas["NewTag"]["properties"]["color"].is_object());
        assert!(schemas["NewContact"]["properties"]["phones"].is_object());
        assert_eq!(
            doc["paths"]["/api/v1/tags"]["post"]["requestBody"]["content"]["application/json"]["schema"]
                ["$ref"],
            Value::from("#/components/schemas/NewTag")
        );
    }
}
