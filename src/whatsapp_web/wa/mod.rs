//! The production `SessionDriver`: a `whatsapp-rust` bot per session, its keys in
//! our store (`backend`), its events turned into `DriverEvent`s (`events`). The
//! crate's own reconnect loop is switched off: the session actor decides when and
//! how to reconnect, so a drop, a logout or a conflict is seen and recorded once.

mod backend;
mod events;

pub use backend::KeysBackend;

use async_trait::async_trait;
use std::sync::Arc;
use switchboard_actors::MessageKind;
use switchboard_actors::session::driver::{
    DriverClient, DriverError, SessionDriver, SessionSpec, WaOutgoing, WaRead,
};
use tokio::sync::Mutex;
use whatsapp_rust::Client;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::media::{self, AudioOptions, DocumentOptions, ImageOptions, VideoOptions};
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::prelude::{Jid, MessageBuilderExt, wa};
use whatsapp_rust::upload::UploadOptions;
use whatsapp_rust::wacore::download::MediaType;

pub struct WhatsAppRust;

#[async_trait]
impl SessionDriver for WhatsAppRust {
    async fn connect(&self, spec: SessionSpec) -> Result<Arc<dyn DriverClient>, DriverError> {
        let backend = Arc::new(KeysBackend::new(spec.keys.clone()));
        let events = spec.events.clone();
        let bot = Bot::builder()
            .with_backend_arc(backend)
            // The inbox keeps its own history; the phone's old chats are not imported.
            .skip_history_sync()
            .on_event(move |event, client| {
                let events = events.clone();
                async move { events::forward(&event, &client, &events).await }
            })
            .build()
            .await
            .map_err(|err| DriverError::Transient(format!("cannot build the client: {err}")))?;
        // The crate reconnects by itself until the session is connected (the restart
        // after pairing is its own); `events` turns that off at `Connected`.
        let client = bot.client();
        let handle = bot.spawn();
        Ok(Arc::new(WaClient {
            client,
            handle: Mutex::new(Some(handle)),
        }))
    }
}

struct WaClient {
    client: Arc<Client>,
    handle: Mutex<Option<BotHandle>>,
}

fn chat(jid: &str) -> Result<Jid, DriverError> {
    jid.parse()
        .map_err(|_| DriverError::Permanent(format!("'{jid}' is not a WhatsApp chat")))
}

fn attachment_text<'a>(message: &'a WaOutgoing, key: &str) -> Option<&'a str> {
    message
        .attachment
        .as_ref()
        .and_then(|a| a.get(key))
        .and_then(|v| v.as_str())
}

impl WaClient {
    /// Uploads a media reply's file (encrypted by the crate) and builds the message
    /// that points to it.
    async fn media_message(
        &self,
        message: &WaOutgoing,
        context_info: Option<Box<wa::ContextInfo>>,
    ) -> Result<wa::Message, DriverError> {
        // Fetched by the node that sends; a reply that reached this node without it
        // (the session moved here meanwhile) is fetched on its next try.
        let file = message.file.as_ref().ok_or_else(|| {
            DriverError::Transient("the media reply's file was not fetched here".into())
        })?;
        let media_type = match message.kind {
            MessageKind::Image => MediaType::Image,
            MessageKind::Video => MediaType::Video,
            MessageKind::Audio => MediaType::Audio,
            _ => MediaType::Document,
        };
        let upload = self
            .client
            .upload(file.bytes.clone(), media_type, UploadOptions::default())
            .await
            .map_err(|err| DriverError::Transient(format!("cannot upload the file: {err}")))?;
        let caption = message.body.clone().filter(|c| !c.is_empty());
        let mimetype = Some(file.mime_type.clone());
        Ok(match message.kind {
            MessageKind::Image => media::image_message(
                upload,
                ImageOptions {
                    caption,
                    mimetype,
                    context_info,
                    ..Default::default()
                },
            ),
            MessageKind::Video => media::video_message(
                upload,
                VideoOptions {
                    caption,
                    mimetype,
                    context_info,
                    ..Default::default()
                },
            ),
            MessageKind::Audio => media::audio_message(
                upload,
                AudioOptions {
                    mimetype,
                    context_info,
                    ..Default::default()
                },
            ),
            _ => media::document_message(
                upload,
                DocumentOptions {
                    mimetype,
                    file_name: attachment_text(message, "filename").map(str::to_owned),
                    caption,
                    context_info,
                    ..Default::default()
                },
            ),
        })
    }
}

#[async_trait]
impl DriverClient for WaClient {
    async fn pairing_code(&self, phone: &str) -> Result<String, DriverError> {
        let options = PairCodeOptions {
            phone_number: phone.to_owned(),
            show_push_notification: true,
            ..Default::default()
        };
        self.client
            .pair_with_code(options)
            .await
            .map_err(|err| DriverError::Transient(err.to_string()))
    }

    async fn send(&self, message: &WaOutgoing) -> Result<String, DriverError> {
        let to = chat(&message.to)?;
        let text = message.body.clone().unwrap_or_default();
        let quoted = attachment_text(message, "reply_to").map(|quoted| wa::ContextInfo {
            stanza_id: Some(quoted.to_owned()),
            ..Default::default()
        });
        let sent = match message.kind {
            MessageKind::Text => match quoted {
                Some(context) => {
                    self.client
                        .send_message(to, wa::Message::text_with_context(text, context))
                        .await
                }
                None => self.client.send_message(to, wa::Message::text(text)).await,
            },
            MessageKind::Image
            | MessageKind::Video
            | MessageKind::Audio
            | MessageKind::Document => {
                let media = self.media_message(message, quoted.map(Box::new)).await?;
                self.client.send_message(to, media).await
            }
            MessageKind::Reaction => {
                let target = attachment_text(message, "message_id")
                    .ok_or_else(|| DriverError::Permanent("a reaction names no message".into()))?;
                let key = wa::MessageKey {
                    remote_jid: Some(message.to.clone()),
                    from_me: Some(false),
                    id: Some(target.to_owned()),
                    participant: None,
                };
                self.client.send_reaction(&to, key, &text).await
            }
            other => {
                return Err(DriverError::Permanent(format!(
                    "sending a {} message through a WhatsApp Web session is not supported yet",
                    other.as_str()
                )));
            }
        };
        sent.map(|result| result.message_id)
            .map_err(|err| DriverError::Transient(err.to_string()))
    }

    async fn mark_read(&self, read: &WaRead) -> Result<(), DriverError> {
        let to = chat(&read.chat)?;
        let sender = read.sender.as_deref().map(chat).transpose()?;
        let ids: Vec<&str> = read.ids.iter().map(String::as_str).collect();
        self.client
            .mark_as_read(&to, sender.as_ref(), &ids)
            .await
            .map_err(|err| DriverError::Transient(err.to_string()))
    }

    async fn logout(&self) -> Result<(), DriverError> {
        self.client.logout().await;
        Ok(())
    }

    async fn shutdown(&self) {
        if let Some(handle) = self.handle.lock().await.take() {
            handle.shutdown().await;
        }
    }
}
