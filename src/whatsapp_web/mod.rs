//! WhatsApp Web sessions on the server side: the sealed key store, QR codes as SVG,
//! replies as sessions send them, customers' media from WhatsApp's CDN, and the
//! production `SessionDriver` (the `whatsapp-rust` crate, behind the default
//! `whatsapp-web` feature).

pub mod keys;
#[cfg(feature = "whatsapp-web")]
pub mod media;
pub mod outgoing;
pub mod qr;
#[cfg(feature = "whatsapp-web")]
pub mod wa;

use crate::channels::credentials::Sealer;
use crate::config::WhatsAppWebConfig;
use std::sync::Arc;
use std::time::Duration;
use switchboard_actors::session::driver::SessionDriver;
use switchboard_actors::session::keys::SessionKeys;
use switchboard_actors::session::{KeysFactory, SessionSettings};
use switchboard_actors::store::Store;

pub fn settings(config: &WhatsAppWebConfig) -> SessionSettings {
    SessionSettings {
        lease_ttl: Duration::from_secs(config.lease_secs),
        backoff_base: Duration::from_millis(config.reconnect_base_ms),
        backoff_max: Duration::from_secs(config.reconnect_max_secs),
        stable_after: Duration::from_secs(config.stable_after_secs),
        max_qr_codes: config.max_qr_codes,
        qr_min_interval: Duration::from_millis(config.qr_min_interval_ms),
        connect_concurrency: config.connect_concurrency,
        connect_timeout: Duration::from_secs(config.connect_timeout_secs),
        send_timeout: Duration::from_secs(config.send_timeout_secs),
        ..SessionSettings::default()
    }
}

/// Each session's keys, sealed with the server's credentials key.
pub fn sealed_keys(store: Arc<dyn Store>, sealer: Sealer) -> KeysFactory {
    Arc::new(move |tenant, channel| {
        Arc::new(keys::SealedKeys::new(
            store.clone(),
            sealer.clone(),
            tenant,
            channel,
        )) as Arc<dyn SessionKeys>
    })
}

/// The driver this build has: `whatsapp-rust`, or one that says the feature is off.
pub fn production_driver() -> Arc<dyn SessionDriver> {
    #[cfg(feature = "whatsapp-web")]
    {
        Arc::new(wa::WhatsAppRust)
    }
    #[cfg(not(feature = "whatsapp-web"))]
    {
        Arc::new(unavailable::Unavailable)
    }
}

#[cfg(not(feature = "whatsapp-web"))]
mod unavailable {
    use async_trait::async_trait;
    use std::sync::Arc;
    use switchboard_actors::session::driver::{
        DriverClient, DriverError, SessionDriver, SessionSpec,
    };

    /// A build without the `whatsapp-web` feature: every session fails, saying why.
    pub struct Unavailable;

    #[async_trait]
    impl SessionDriver for Unavailable {
        async fn connect(&self, _: SessionSpec) -> Result<Arc<dyn DriverClient>, DriverError> {
            Err(DriverError::Permanent(
                "this server was built without the whatsapp-web feature".into(),
            ))
        }
    }
}
