//! Channel credentials and their encryption at rest.
//!
//! Sealed form: a random 12-byte nonce, then the AES-256-GCM ciphertext with its tag.
//! The channel id is the associated data, so credentials copied onto another channel's
//! row fail to open instead of being used there. Opening a tampered value is an
//! error, never garbage.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use switchboard_actors::ChannelId;

const NONCE_LEN: usize = 12;
pub const KEY_LEN: usize = 32;

/// What a channel needs to talk to the provider. Never logged, never returned whole.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// A Graph API access token (a system user token for WhatsApp, a page token).
    pub access_token: String,
    /// The Meta app secret: webhooks are signed with it.
    pub app_secret: String,
    /// What Meta sends back in the subscription handshake.
    pub verify_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the key must be {KEY_LEN} bytes in standard base64")]
    BadKey,
    #[error("the credentials cannot be opened: wrong key or tampered data")]
    Unopenable,
    #[error("cannot draw a random nonce: {0}")]
    Random(getrandom::Error),
}

/// Seals and opens credentials with the server's key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    /// From the base64 text of a 32-byte key.
    pub fn from_base64(key: &str) -> Result<Self, SealError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| SealError::BadKey)?;
        if bytes.len() != KEY_LEN {
            return Err(SealError::BadKey);
        }
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealError::BadKey)?;
        Ok(Self { cipher })
    }

    /// A new random key as base64, for a server that has none configured.
    pub fn generate_key() -> Result<String, SealError> {
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(SealError::Random)?;
        Ok(STANDARD.encode(key))
    }

    pub fn seal(
        &self,
        channel: ChannelId,
        credentials: &Credentials,
    ) -> Result<Vec<u8>, SealError> {
        // Serialising three strings cannot fail.
        let plain = serde_json::to_vec(credentials).unwrap_or_default();
        self.seal_bytes(channel.0.as_bytes(), &plain)
    }

    pub fn open(&self, channel: ChannelId, sealed: &[u8]) -> Result<Credentials, SealError> {
        let plain = self.open_bytes(channel.0.as_bytes(), sealed)?;
        serde_json::from_slice(&plain).map_err(|_| SealError::Unopenable)
    }

    /// Seals `plain` bound to `context` (the associated data): it opens only with
    /// the same context, so a value moved to another row fails instead of being used.
    pub fn seal_bytes(&self, context: &[u8], plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(SealError::Random)?;
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .map_err(|_| SealError::Unopenable)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open_bytes(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Unopenable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Unopenable)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| SealError::Unopenable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials {
            access_token: "EAAG-token".into(),
            app_secret: "app-secret".into(),
            verify_token: "verify-me".into(),
        }
    }

    fn sealer() -> Sealer {
        Sealer::from_base64(&Sealer::generate_key().unwrap()).unwrap()
    }

    #[test]
    fn sealed_credentials_open_to_the_same_values_and_hide_the_plain_text() {
        let sealer = sealer();
        let channel = ChannelId::new();
        let sealed = sealer.seal(channel, &credentials()).unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"EAAG-token"));
        assert_eq!(sealer.open(channel, &sealed).unwrap(), credentials());
        // A fresh nonce each time: sealing twice gives two different blobs.
        assert_ne!(sealer.seal(channel, &credentials()).unwrap(), sealed);
    }

    #[test]
    fn a_flipped_byte_anywhere_is_an_error_not_garbage() {
        let sealer = sealer();
        let channel = ChannelId::new();
        let sealed = sealer.seal(channel, &credentials()).unwrap();
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert!(
                matches!(sealer.open(channel, &tampered), Err(SealError::Unopenable)),
                "byte {i}"
            );
        }
        assert!(matches!(
            sealer.open(channel, &sealed[..5]),
            Err(SealError::Unopenable)
        ));
    }

    #[test]
    fn credentials_do_not_open_under_another_key_or_on_another_channel() {
        let channel = ChannelId::new();
        let sealed = sealer().seal(channel, &credentials()).unwrap();
        assert!(sealer().open(channel, &sealed).is_err());
        let same = sealer();
        let sealed = same.seal(channel, &credentials()).unwrap();
        assert!(same.open(ChannelId::new(), &sealed).is_err());
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused() {
        assert!(matches!(
            Sealer::from_base64("c2hvcnQ="),
            Err(SealError::BadKey)
        ));
        assert!(matches!(
            Sealer::from_base64("not base64!"),
            Err(SealError::BadKey)
        ));
    }
}
