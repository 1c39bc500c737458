//! Media through WhatsApp Web sessions: a customer's file fetched from WhatsApp's CDN
//! (a fake one on 127.0.0.1 serving files encrypted the way WhatsApp encrypts them)
//! and decrypted, and media replies whose linked file is handed to the session.

use crate::common;
use crate::whatsapp_web::{
    Setup, connect_number, conversations, message_in, messages_of, pair, post, setup,
};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::Backend;
use common::fake_files::FakeFiles;
use common::fake_whatsapp::text_from;
use common::wait::until;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::config::Config;
use switchboard::whatsapp_web::media::MediaRef;
use switchboard_actors::ChannelId;
use switchboard_actors::MessageKind;
use whatsapp_rust::wacore::download::MediaType;
use whatsapp_rust::wacore::upload::encrypt_media;

const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a photo of a broken kettle";
const PATH: &str = "/v/t62.7118-24/12345_67890_n.enc";

/// Fetching from the fake CDN and the fake file host on 127.0.0.1.
fn local_files(config: &mut Config, cdns: &[&FakeFiles]) {
    config.fetch.allow_private_addresses = true;
    config.fetch.allow_plain_http = true;
    config.channels.media_hosts = vec!["127.0.0.1".into()];
    config.whatsapp_web.media_urls = cdns.iter().map(|cdn| cdn.base.clone()).collect();
}

/// `PHOTO` encrypted as WhatsApp does, and the reference a message carries to it.
fn encrypted_photo() -> (Vec<u8>, MediaRef) {
    let encrypted = encrypt_media(PHOTO, MediaType::Image).unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let reference = MediaRef {
        direct_path: PATH.into(),
        media_key: b64(&encrypted.media_key),
        file_enc_sha256: b64(&encrypted.file_enc_sha256),
        file_sha256: b64(&encrypted.file_sha256),
    };
    (encrypted.data_to_upload, reference)
}

/// A customer's photo arrives; returns the stored message's id.
async fn photo_arrives(setup: &Setup, channel: ChannelId, reference: &MediaRef) -> String {
    let mut photo = text_from("+4917612345678", "PHOTO1", "");
    photo.kind = MessageKind::Image;
    photo.body = Some("the kettle".into());
    photo.attachment = Some(json!({
        "mime_type": "image/jpeg",
        "size": PHOTO.len(),
        "wa_media": reference,
    }));
    assert!(setup.fake.deliver(channel, photo).await);
    let conversation = until("the conversation", || async {
        conversations(setup).await.first()?["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let messages = messages_of(setup, &conversation).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["type"], "image");
    messages[0]["id"].as_str().unwrap().to_owned()
}

async fn media(setup: &Setup, message: &str) -> reqwest::Response {
    setup
        .app
        .http
        .get(setup.app.url(&format!("/api/v1/messages/{message}/media")))
        .bearer_auth(&setup.token)
        .send()
        .await
        .unwrap()
}

async fn a_customers_photo_is_fetched_from_the_cdn_decrypted_once_and_served(backend: Backend) {
    // The first CDN does not have the file; the second does.
    let empty = FakeFiles::start();
    let cdn = FakeFiles::start();
    let (encrypted, reference) = encrypted_photo();
    cdn.put(PATH, &encrypted, "application/octet-stream");
    let setup = setup(backend, |config| local_files(config, &[&empty, &cdn])).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    let message = photo_arrives(&setup, channel, &reference).await;

    for _ in 0..2 {
        let response = media(&setup, &message).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        assert_eq!(response.headers()["content-disposition"], "inline");
        assert_eq!(response.bytes().await.unwrap().as_ref(), PHOTO);
    }
    // Asked for by its encrypted hash, once: the second view came from local storage.
    let token = URL_SAFE_NO_PAD.encode(
        base64::engine::general_purpose::STANDARD
            .decode(&reference.file_enc_sha256)
            .unwrap(),
    );
    assert_eq!(cdn.requests(), vec![format!("{PATH}?token={token}")]);
    assert_eq!(empty.requests().len(), 1);
}

async fn a_tampered_file_or_a_path_to_another_host_is_refused_and_never_kept(backend: Backend) {
    let cdn = FakeFiles::start();
    let (mut encrypted, reference) = encrypted_photo();
    let last = encrypted.len() - 1;
    encrypted[last] ^= 1;
    cdn.put(PATH, &encrypted, "application/octet-stream");
    let setup = setup(backend, |config| local_files(config, &[&cdn])).await;
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(&setup, channel).await;
    let message = photo_arrives(&setup, channel, &reference).await;

    for _ in 0..2 {
        let refused = setup
            .app
            .get(
                &format!("/api/v1/messages/{message}/media"),
                Some(&setup.token),
            )
            .await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
        assert_eq!(refused.body["error"]["code"], "not_found");
        assert_eq!(
            refused.body["error"]["message"],
            "this media cannot be fetched: the CDN's file does not match its hash"
        );
    }
    // Nothing was kept: each view asked the CDN again.
    assert_eq!(cdn.requests().len(), 2);

    let elsewhere = MediaRef {
        direct_path: "//169.254.169.254/latest/meta-data".into(),
        ..reference
    };
    let mut photo = text_from("+4917612345678", "PHOTO2", "");
    photo.kind = MessageKind::Image;
    photo.attachment = Some(json!({ "mime_type": "image/jpeg", "wa_media": elsewhere }));
    assert!(setup.fake.deliver(channel, photo).await);
    let conversation = conversations(&setup).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = until("the second photo", || async {
        messages_of(&setup, &conversation)
            .await
            .into_iter()
            .find(|m| m["provider_id"] == "PHOTO2")
            .map(|m| m["id"].as_str().unwrap().to_owned())
    })
    .await;
    let refused = setup
        .app
        .get(
            &format!("/api/v1/messages/{second}/media"),
            Some(&setup.token),
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(
        refused.body["error"]["message"],
        "this media cannot be fetched: the media reference has no usable path"
    );
    assert_eq!(cdn.requests().len(), 2);
}

/// A paired session and a conversation a customer opened on it.
async fn customer_wrote(setup: &Setup) -> (ChannelId, String) {
    let channel = connect_number(&setup.app, &setup.token).await;
    pair(setup, channel).await;
    assert!(
        setup
            .fake
            .deliver(channel, text_from("+4917612345678", "IN1", "Menu?"))
            .await
    );
    let conversation = until("the conversation", || async {
        conversations(setup).await.first()?["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    (channel, conversation)
}

/// Sends a media reply and waits until it failed; returns its error.
async fn failed_media_reply(setup: &Setup, conversation: &str, media: Value) -> String {
    let reply = post(
        setup,
        &format!("/api/v1/conversations/{conversation}/messages"),
        json!({ "media": media }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    until("the reply failed", || async {
        let reply = message_in(setup, conversation, &id).await?;
        (reply["status"] == "failed").then(|| reply["error"].as_str().unwrap().to_owned())
    })
    .await
}

async fn a_media_reply_hands_the_linked_file_to_the_session(backend: Backend) {
    let host = FakeFiles::start();
    let menu = b"%PDF-1.7 the spring menu";
    host.put("/files/menu.pdf", menu, "application/pdf");
    let setup = setup(backend, |config| local_files(config, &[])).await;
    let (channel, conversation) = customer_wrote(&setup).await;
    let link = format!("{}/files/menu.pdf", host.base);
    let sent = post(
        &setup,
        &format!("/api/v1/conversations/{conversation}/messages"),
        json!({ "media": { "type": "document", "link": link, "caption": "Our menu" } }),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let reply_id = sent.body["id"].as_str().unwrap().to_owned();
    until("the reply sent", || async {
        let reply = message_in(&setup, &conversation, &reply_id).await?;
        (reply["status"] == "sent").then_some(())
    })
    .await;
    let out = setup.fake.sent(channel);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, MessageKind::Document);
    assert_eq!(out[0].body.as_deref(), Some("Our menu"));
    let file = out[0].file.as_ref().unwrap();
    assert_eq!(file.bytes, menu);
    assert_eq!(file.mime_type, "application/pdf");
    assert_eq!(host.requests(), vec!["/files/menu.pdf".to_owned()]);

    // A link to nothing fails the reply, saying why; nothing reaches the session.
    let error = failed_media_reply(
        &setup,
        &conversation,
        json!({ "type": "image", "link": format!("{}/files/gone.jpg", host.base) }),
    )
    .await;
    assert_eq!(error, "HTTP 404 (404)");
    assert_eq!(setup.fake.sent(channel).len(), 1);
}

async fn a_media_reply_whose_file_is_over_the_limit_fails_saying_so(backend: Backend) {
    let host = FakeFiles::start();
    host.put("/files/big.jpg", &[7u8; 17], "image/jpeg");
    let setup = setup(backend, |config| {
        local_files(config, &[]);
        config.whatsapp_web.reply_file_max_bytes = 16;
    })
    .await;
    let (channel, conversation) = customer_wrote(&setup).await;
    let error = failed_media_reply(
        &setup,
        &conversation,
        json!({ "type": "image", "link": format!("{}/files/big.jpg", host.base) }),
    )
    .await;
    assert_eq!(
        error,
        "the media link cannot be fetched: the response is larger than 16 bytes"
    );
    assert!(setup.fake.sent(channel).is_empty());
}

on_both_backends!(
    a_customers_photo_is_fetched_from_the_cdn_decrypted_once_and_served,
    a_tampered_file_or_a_path_to_another_host_is_refused_and_never_kept,
    a_media_reply_hands_the_linked_file_to_the_session,
    a_media_reply_whose_file_is_over_the_limit_fails_saying_so,
);
