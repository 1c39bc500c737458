//! The real server with WhatsApp Web sessions on the test suite's fake WhatsApp (the
//! `SessionDriver` boundary), for the browser tests of the session card: a browser
//! cannot scan a QR code, so the test plays the phone and WhatsApp through a control
//! listener on 127.0.0.1. Everything above the driver is the production server,
//! configured from the environment exactly as the `switchboard` binary is.
//!
//! Prints `Switchboard inbox: <url>/` and `Fake WhatsApp: <url>` once both listen.
//! Control routes (channel = the WhatsApp Web channel's id):
//! `POST /sessions/{channel}/qr` WhatsApp issues the next code;
//! `POST /sessions/{channel}/scan` `{"phone"}` the phone scans it;
//! `POST /sessions/{channel}/drop` the connection drops;
//! `POST /sessions/{channel}/messages` `{"from","id","text"}` a customer writes;
//! `GET /sessions/{channel}` what the session did: clients built and alive, logouts,
//! and the texts it sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../integration/common/fake_whatsapp.rs"]
mod fake_whatsapp;

use actix_web::{App, HttpResponse, HttpServer, web};
use fake_whatsapp::{FakeWhatsApp, text_from};
use serde::Deserialize;
use serde_json::json;
use std::process::ExitCode;
use switchboard::Application;
use switchboard::config::Config;
use switchboard_actors::ChannelId;
use uuid::Uuid;

#[derive(Deserialize)]
struct Scan {
    phone: String,
}

#[derive(Deserialize)]
struct Customer {
    from: String,
    id: String,
    text: String,
}

fn done(happened: bool) -> HttpResponse {
    if happened {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::Conflict().json(json!({ "error": "no client of this session is connected" }))
    }
}

async fn qr(fake: web::Data<FakeWhatsApp>, channel: web::Path<Uuid>) -> HttpResponse {
    done(fake.rotate_qr(ChannelId(*channel)).await)
}

async fn scan(
    fake: web::Data<FakeWhatsApp>,
    channel: web::Path<Uuid>,
    body: web::Json<Scan>,
) -> HttpResponse {
    let channel = ChannelId(*channel);
    if !fake.connected(channel) {
        return done(false);
    }
    fake.scan(channel, &body.phone).await;
    done(true)
}

async fn drop_connection(fake: web::Data<FakeWhatsApp>, channel: web::Path<Uuid>) -> HttpResponse {
    done(fake.drop_connection(ChannelId(*channel)).await)
}

async fn message(
    fake: web::Data<FakeWhatsApp>,
    channel: web::Path<Uuid>,
    body: web::Json<Customer>,
) -> HttpResponse {
    let inbound = text_from(&body.from, &body.id, &body.text);
    done(fake.deliver(ChannelId(*channel), inbound).await)
}

async fn report(fake: web::Data<FakeWhatsApp>, channel: web::Path<Uuid>) -> HttpResponse {
    let channel = ChannelId(*channel);
    let sent: Vec<_> = fake
        .sent(channel)
        .into_iter()
        .map(|m| json!({ "to": m.to, "body": m.body }))
        .collect();
    HttpResponse::Ok().json(json!({
        "connects": fake.connects(channel),
        "alive": fake.alive(channel),
        "logouts": fake.logouts(channel),
        "sent": sent,
    }))
}

#[actix_web::main]
async fn main() -> ExitCode {
    let config = match Config::load(None) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("fake_whatsapp_server: {err}");
            return ExitCode::from(2);
        }
    };
    switchboard::telemetry::init_logs(&config.log);
    let fake = FakeWhatsApp::new();
    let app = Application::build_with(config, Some(fake.driver()))
        .await
        .expect("the server starts");
    let control = HttpServer::new({
        let fake = fake.clone();
        move || {
            App::new()
                .app_data(web::Data::new(fake.clone()))
                .route("/sessions/{channel}", web::get().to(report))
                .route("/sessions/{channel}/qr", web::post().to(qr))
                .route("/sessions/{channel}/scan", web::post().to(scan))
                .route("/sessions/{channel}/drop", web::post().to(drop_connection))
                .route("/sessions/{channel}/messages", web::post().to(message))
        }
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("the control listener binds");
    let control_port = control.addrs()[0].port();
    let control = control.run();
    let stop_control = control.handle();
    actix_rt::spawn(control);
    println!("Fake WhatsApp: http://127.0.0.1:{control_port}");
    println!("Switchboard inbox: http://127.0.0.1:{}/", app.port());
    let served = app.run_until_stopped().await;
    stop_control.stop(false).await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fake_whatsapp_server: {err}");
            ExitCode::FAILURE
        }
    }
}
