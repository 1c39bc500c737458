//! Every integration test in one binary: each test still starts its own server on
//! port 0 with its own database, but the suite links once instead of once per file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

mod access;
mod ai_replies;
mod auth;
mod automations;
mod binary;
mod bootstrap;
mod broadcasts;
mod client_address;
mod cluster;
mod cluster_failover;
mod connection_limits;
mod contact_fields;
mod contact_imports;
mod conversation_cache;
mod handoff_triggers;
mod http;
mod inbox_api;
mod inbox_store;
mod job_runner;
mod job_store;
mod knowledge;
mod knowledge_embeddings;
mod live_inbox;
mod loadtest_smoke;
mod message_templates;
mod meta_channels;
mod openapi;
mod pipeline;
mod pipeline_model;
mod pipeline_store;
mod private_files;
mod quick_replies;
mod revocation;
mod runtime_shutdown;
mod segments;
#[cfg(feature = "whatsapp-web")]
mod session_keys;
mod session_leases;
mod session_relay;
mod store_conformance;
mod supervision;
mod text_input;
mod web_ui;
mod webhooks;
mod whatsapp_web;
#[cfg(feature = "whatsapp-web")]
mod whatsapp_web_media;
