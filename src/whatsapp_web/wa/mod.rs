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
    DriverClient, DriverError, SessionDriver, SessionSpec, WaOutgoing,
};
use tokio::sync::Mutex;
use whatsapp_rust::Client;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::prelude::{Jid, MessageBuilderExt, wa};

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
        let sent = match message.kind {
            MessageKind::Text => match attachment_text(message, "reply_to") {
                Some(quoted) => {
                    let context = wa::ContextInfo {
                        stanza_id: Some(quoted.to_owned()),
                        ..Default::default()
                    };
                    self.client
                        .send_message(to, wa::Message::text_with_context(text, context))
                        .await
                }
                None => self.client.send_message(to, wa::Message::text(text)).await,
            },
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
