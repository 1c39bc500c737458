//! REST routes under `/api/v1`, and the probes at the root.

mod ai;
mod api_keys;
mod audit_log;
mod auth;
mod automations;
pub(crate) mod broadcasts;
mod channels;
mod contact_fields;
mod contact_imports;
mod contacts;
mod conversations;
mod health;
mod knowledge;
mod media;
mod openapi;
mod pipeline;
mod quick_replies;
mod sandbox;
mod segments;
mod sessions;
mod tags;
mod users;
mod views;
mod webhooks;

use crate::http::rate_limit::{Budget, limit_by_ip};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health::health))
        .route("/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .service(
            web::resource("/ws")
                .wrap(from_fn(|req, next| {
                    limit_by_ip(Budget::SocketUpgrade, req, next)
                }))
                .route(web::get().to(crate::ws::connect)),
        )
        .service(
            web::resource("/webhooks/meta/{channel_id}")
                .wrap(from_fn(|req, next| limit_by_ip(Budget::Webhook, req, next)))
                .route(web::get().to(crate::webhooks::meta::handshake))
                .route(web::post().to(crate::webhooks::meta::receive)),
        )
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(|req, next| limit_by_ip(Budget::Api, req, next)))
                .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store")))
                .service(
                    web::scope("/auth")
                        .route("/me", web::get().to(auth::me))
                        .route("/logout", web::post().to(auth::logout))
                        .route("/password", web::post().to(auth::change_password))
                        .service(
                            web::scope("")
                                .wrap(from_fn(|req, next| limit_by_ip(Budget::SignIn, req, next)))
                                .route("/register", web::post().to(auth::register))
                                .route("/login", web::post().to(auth::login))
                                .route("/refresh", web::post().to(auth::refresh))
                                .route("/accept-invite", web::post().to(auth::accept_invite)),
                        ),
                )
                .service(
                    web::resource("/users")
                        .route(web::get().to(users::list))
                        .route(web::post().to(users::invite)),
                )
                .route("/team", web::get().to(users::team))
                .service(
                    web::resource("/users/{id}")
                        .route(web::get().to(users::get))
                        .route(web::patch().to(users::update)),
                )
                .service(
                    web::resource("/api-keys")
                        .route(web::get().to(api_keys::list))
                        .route(web::post().to(api_keys::create)),
                )
                .route("/api-keys/{id}", web::delete().to(api_keys::revoke))
                .route("/audit-log", web::get().to(audit_log::list))
                .route("/openapi.json", web::get().to(openapi::openapi_json))
                .route("/docs", web::get().to(openapi::reference_home))
                .route("/docs/{file:.*}", web::get().to(openapi::reference))
                .configure(inbox_routes)
                .configure(channel_routes),
        );
}

fn inbox_routes(cfg: &mut web::ServiceConfig) {
    use conversations as conv;
    cfg.route("/conversations", web::get().to(conv::list))
        .service(
            web::resource("/conversations/{id}")
                .route(web::get().to(conv::get))
                .route(web::patch().to(conv::update)),
        )
        .route(
            "/conversations/{id}/assignment",
            web::put().to(conv::assign),
        )
        .route(
            "/conversations/{id}/assignments",
            web::get().to(conv::assignments),
        )
        .route("/conversations/{id}/tags", web::post().to(conv::add_tag))
        .route(
            "/conversations/{id}/tags/{tag}",
            web::delete().to(conv::remove_tag),
        )
        .route("/conversations/{id}/read", web::post().to(conv::mark_read))
        .route("/conversations/{id}/notes", web::post().to(conv::add_note))
        .route(
            "/conversations/{id}/handoff",
            web::post().to(pipeline::handoff),
        )
        .route(
            "/conversations/{id}/lead/history",
            web::get().to(pipeline::lead_history),
        )
        .service(
            web::resource("/settings/pipeline")
                .route(web::get().to(pipeline::settings))
                .route(web::put().to(pipeline::save_settings)),
        )
        .service(
            web::resource("/settings/ai")
                .route(web::get().to(ai::settings))
                .route(web::put().to(ai::save_settings)),
        )
        .service(
            web::resource("/settings/replies")
                .route(web::get().to(ai::reply_settings))
                .route(web::put().to(ai::save_reply_settings)),
        )
        .service(web::resource("/ai/usage").route(web::get().to(ai::usage)))
        .service(
            web::resource("/automations")
                .route(web::get().to(automations::list))
                .route(web::post().to(automations::create)),
        )
        .route("/automations/runs/{id}", web::get().to(automations::run))
        .service(
            web::resource("/automations/{id}")
                .route(web::get().to(automations::get))
                .route(web::put().to(automations::replace))
                .route(web::delete().to(automations::delete)),
        )
        .route(
            "/automations/{id}/enable",
            web::post().to(automations::enable),
        )
        .route(
            "/automations/{id}/disable",
            web::post().to(automations::disable),
        )
        .route("/automations/{id}/runs", web::get().to(automations::runs))
        .route(
            "/automations/{id}/dry-run",
            web::post().to(automations::dry_run),
        )
        .route("/webhooks/event-types", web::get().to(webhooks::types))
        .service(
            web::resource("/webhooks")
                .route(web::get().to(webhooks::list))
                .route(web::post().to(webhooks::create)),
        )
        .service(
            web::resource("/webhooks/{id}")
                .route(web::get().to(webhooks::get))
                .route(web::patch().to(webhooks::update))
                .route(web::delete().to(webhooks::delete)),
        )
        .route(
            "/webhooks/{id}/rotate-secret",
            web::post().to(webhooks::rotate_secret),
        )
        .route("/webhooks/{id}/test", web::post().to(webhooks::test))
        .route("/webhooks/{id}/replay", web::post().to(webhooks::replay))
        .route(
            "/webhooks/{id}/deliveries",
            web::get().to(webhooks::deliveries),
        )
        .route(
            "/webhooks/{id}/deliveries/{delivery}",
            web::get().to(webhooks::delivery),
        )
        .route(
            "/webhooks/{id}/deliveries/{delivery}/redeliver",
            web::post().to(webhooks::redeliver),
        )
        .route("/jobs", web::get().to(automations::jobs))
        .route("/jobs/{id}/retry", web::post().to(automations::retry_job))
        .service(
            web::resource("/ai/knowledge")
                .route(web::get().to(knowledge::list))
                .route(web::post().to(knowledge::add)),
        )
        .route("/ai/knowledge/search", web::get().to(knowledge::search))
        .service(
            web::resource("/ai/knowledge/{id}")
                .route(web::get().to(knowledge::get))
                .route(web::put().to(knowledge::replace))
                .route(web::delete().to(knowledge::delete)),
        )
        .service(
            web::resource("/conversations/{id}/messages")
                .route(web::get().to(conv::messages))
                .route(web::post().to(conv::send)),
        )
        .service(
            web::resource("/contacts")
                .route(web::get().to(contacts::search))
                .route(web::post().to(contacts::create)),
        )
        .route("/contacts/search", web::post().to(contacts::filter))
        .route("/contacts/export", web::get().to(contact_imports::export))
        .route("/contacts/imports", web::post().to(contact_imports::create))
        .route(
            "/contacts/imports/{id}",
            web::get().to(contact_imports::get),
        )
        .route(
            "/contacts/imports/{id}/errors",
            web::get().to(contact_imports::errors),
        )
        .service(
            web::resource("/contacts/{id}")
                .route(web::get().to(contacts::get))
                .route(web::patch().to(contacts::update)),
        )
        .route("/contacts/{id}/merge", web::post().to(contacts::merge))
        .service(
            web::resource("/quick-replies")
                .route(web::get().to(quick_replies::list))
                .route(web::post().to(quick_replies::create)),
        )
        .service(
            web::resource("/quick-replies/{id}")
                .route(web::put().to(quick_replies::replace))
                .route(web::delete().to(quick_replies::delete)),
        )
        .route(
            "/conversations/{id}/quick-replies",
            web::get().to(quick_replies::for_conversation),
        )
        .service(
            web::resource("/broadcasts")
                .route(web::get().to(broadcasts::list))
                .route(web::post().to(broadcasts::create)),
        )
        .route("/broadcasts/{id}", web::get().to(broadcasts::get))
        .route(
            "/broadcasts/{id}/recipients",
            web::get().to(broadcasts::recipients),
        )
        .route("/broadcasts/{id}/pause", web::post().to(broadcasts::pause))
        .route(
            "/broadcasts/{id}/resume",
            web::post().to(broadcasts::resume),
        )
        .route(
            "/broadcasts/{id}/cancel",
            web::post().to(broadcasts::cancel),
        )
        .route("/segments/count", web::post().to(segments::count))
        .service(
            web::resource("/segments")
                .route(web::get().to(segments::list))
                .route(web::post().to(segments::create)),
        )
        .service(
            web::resource("/segments/{id}")
                .route(web::get().to(segments::get))
                .route(web::patch().to(segments::update))
                .route(web::delete().to(segments::delete)),
        )
        .route("/segments/{id}/contacts", web::get().to(segments::contacts))
        .service(
            web::resource("/contact-fields")
                .route(web::get().to(contact_fields::list))
                .route(web::post().to(contact_fields::create)),
        )
        .service(
            web::resource("/contact-fields/{key}")
                .route(web::patch().to(contact_fields::update))
                .route(web::delete().to(contact_fields::delete)),
        )
        .route("/contacts/{id}/unmerge", web::post().to(contacts::unmerge))
        .route("/contacts/{id}/leads", web::get().to(contacts::leads))
        .route("/messages/{id}/media", web::get().to(media::get))
        .route(
            "/messages/{id}/retry",
            web::post().to(channels::retry_message),
        )
        .service(
            web::resource("/tags")
                .route(web::get().to(tags::list))
                .route(web::post().to(tags::create)),
        )
        .route("/tags/{name}", web::delete().to(tags::delete))
        .route(
            "/sandbox/{channel}/inbound",
            web::post().to(sandbox::inbound),
        );
}

fn channel_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/channels")
            .route(web::get().to(channels::list))
            .route(web::post().to(channels::create)),
    )
    .service(
        web::resource("/channels/{id}")
            .route(web::get().to(channels::get))
            .route(web::patch().to(channels::update))
            .route(web::delete().to(channels::delete)),
    )
    .route("/channels/{id}/status", web::get().to(channels::status))
    .route(
        "/channels/{id}/templates",
        web::get().to(channels::templates),
    )
    .route(
        "/channels/{id}/templates/sync",
        web::post().to(channels::sync_templates),
    )
    .route("/channels/{id}/session", web::get().to(sessions::get))
    .route(
        "/channels/{id}/session/history",
        web::get().to(sessions::history),
    )
    .route(
        "/channels/{id}/session/restart",
        web::post().to(sessions::restart),
    )
    .route(
        "/channels/{id}/session/logout",
        web::post().to(sessions::logout),
    )
    .route(
        "/channels/{id}/session/pairing-code",
        web::post().to(sessions::pairing_code),
    )
    .service(
        web::resource("/channel-settings")
            .route(web::get().to(channels::tenant_settings))
            .route(web::put().to(channels::set_tenant_settings)),
    )
    .route("/webhook-log", web::get().to(channels::webhook_log))
    .route("/dead-letters", web::get().to(channels::dead_letters))
    .route(
        "/dead-letters/{id}/retry",
        web::post().to(channels::retry_dead_letter),
    );
}
