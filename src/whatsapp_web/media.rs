//! A customer's photo, voice note or file seen by a WhatsApp Web session.
//!
//! WhatsApp keeps media encrypted on its CDN; the message carries where (`direct_path`)
//! and the key. The session stores that reference in the message's attachment
//! (`wa_media`), and the first agent to open the media fetches it through the guarded
//! client, checks it and decrypts it (`GET /api/v1/messages/{id}/media` keeps the
//! result). The CDN asks for no session token on download, so any node can do this,
//! also after the session has logged out.

use crate::channels::meta::graph::{Graph, GraphError};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_actors::MessageKind;
use whatsapp_rust::wacore::download::{DownloadUtils, Downloadable, MediaType};

/// Where a message's encrypted file is and how to open it; base64 throughout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    pub direct_path: String,
    pub media_key: String,
    pub file_enc_sha256: String,
    pub file_sha256: String,
}

impl MediaRef {
    /// The reference a message's media carries, when it carries a whole one.
    pub fn of(media: &dyn Downloadable) -> Option<Self> {
        Some(Self {
            direct_path: media.direct_path()?.to_owned(),
            media_key: STANDARD.encode(media.media_key()?),
            file_enc_sha256: STANDARD.encode(media.file_enc_sha256()?),
            file_sha256: STANDARD.encode(media.file_sha256()?),
        })
    }
}

/// The key derivation WhatsApp uses for each kind of file.
fn media_type(kind: MessageKind) -> Option<MediaType> {
    Some(match kind {
        MessageKind::Image => MediaType::Image,
        MessageKind::Video => MediaType::Video,
        MessageKind::Audio => MediaType::Audio,
        MessageKind::Document => MediaType::Document,
        MessageKind::Sticker => MediaType::Sticker,
        _ => return None,
    })
}

/// Fetches the file `reference` names from the first CDN in `cdns` that has it, and
/// returns it decrypted once its hashes and MAC check out.
pub async fn download(
    graph: &Graph,
    cdns: &[String],
    kind: MessageKind,
    reference: &Value,
) -> Result<Vec<u8>, GraphError> {
    let bad = |what: &str| GraphError::Permanent(format!("the media reference {what}"));
    let reference: MediaRef =
        serde_json::from_value(reference.clone()).map_err(|_| bad("is not whole"))?;
    let media_type = media_type(kind).ok_or_else(|| bad("is on a message without a file"))?;
    // A path, never a host: `//host/…` or `@host` would send the fetch elsewhere.
    let path = &reference.direct_path;
    if !path.starts_with('/') || path.starts_with("//") || path.contains(['@', '\\', '#']) {
        return Err(bad("has no usable path"));
    }
    let decode = |field: &str, value: &str| {
        STANDARD
            .decode(value)
            .map_err(|_| bad(&format!("has a broken {field}")))
    };
    let media_key = decode("media_key", &reference.media_key)?;
    let enc_sha256 = decode("file_enc_sha256", &reference.file_enc_sha256)?;
    let plain_sha256 = decode("file_sha256", &reference.file_sha256)?;
    // The CDN finds the file by its encrypted hash (the URL's token), like WhatsApp's
    // own clients ask for it.
    let token = URL_SAFE_NO_PAD.encode(&enc_sha256);
    let mut last = GraphError::Permanent("no media CDN is configured".into());
    for cdn in cdns {
        let url = format!("{}{path}?token={token}", cdn.trim_end_matches('/'));
        let mut file = match graph.download(None, &url).await {
            Ok((bytes, _)) => bytes,
            Err(err) => {
                last = err;
                continue;
            }
        };
        if Sha256::digest(&file).as_slice() != enc_sha256.as_slice() {
            last = GraphError::Permanent("the CDN's file does not match its hash".into());
            continue;
        }
        // Decrypted where it lies: a file up to the media limit is not held twice.
        DownloadUtils::verify_and_decrypt_in_place(&mut file, &media_key, media_type)
            .map_err(|err| GraphError::Permanent(format!("cannot decrypt the media: {err}")))?;
        DownloadUtils::validate_plaintext_sha256(&file, &plain_sha256).map_err(|_| {
            GraphError::Permanent("the decrypted media does not match its hash".into())
        })?;
        return Ok(file);
    }
    Err(last)
}
