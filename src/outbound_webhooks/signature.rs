//! Standard Webhooks signing: `webhook-signature` is `v1,` and the base64 of
//! HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the
//! base64-decoded part of a `whsec_` secret. During a rotation each secret's
//! signature is sent, space-separated, so a receiver holding either verifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

/// Secret bytes drawn for a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A new random `whsec_` secret.
pub fn generate_secret() -> Result<String, getrandom::Error> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::fill(&mut key)?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The signing key a `whsec_` secret holds; None when it is not one.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

/// One `v1,` signature of a message.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per key, space-separated.
pub fn signature_header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| sign(key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published vector, from the fixtures copied into the
    /// repository.
    fn vector() -> serde_json::Value {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/signature-vectors.json"
        ));
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        json["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["scheme"] == "standard-webhooks-v1")
            .unwrap()
            .clone()
    }

    #[test]
    fn the_published_vector_signs_to_the_published_signature() {
        let v = vector();
        let key = secret_key(v["secret"].as_str().unwrap()).unwrap();
        let timestamp: i64 = v["webhook-timestamp"].as_str().unwrap().parse().unwrap();
        let signed = sign(
            &key,
            v["webhook-id"].as_str().unwrap(),
            timestamp,
            v["payload"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(signed, v["expected"].as_str().unwrap());
    }

    #[test]
    fn a_flipped_byte_another_id_or_time_or_secret_signs_differently() {
        let v = vector();
        let key = secret_key(v["secret"].as_str().unwrap()).unwrap();
        let (id, payload) = (
            v["webhook-id"].as_str().unwrap(),
            v["payload"].as_str().unwrap(),
        );
        let expected = v["expected"].as_str().unwrap();
        let mut flipped = payload.as_bytes().to_vec();
        flipped[3] ^= 1;
        assert_ne!(sign(&key, id, 1_614_265_330, &flipped), expected);
        assert_ne!(
            sign(&key, "msg_other", 1_614_265_330, payload.as_bytes()),
            expected
        );
        assert_ne!(sign(&key, id, 1_614_265_331, payload.as_bytes()), expected);
        let other = secret_key(&generate_secret().unwrap()).unwrap();
        assert_ne!(
            sign(&other, id, 1_614_265_330, payload.as_bytes()),
            expected
        );
    }

    #[test]
    fn during_a_rotation_both_signatures_are_sent_space_separated() {
        let (a, b) = (b"first".to_vec(), b"second".to_vec());
        let header = signature_header(&[a.clone(), b.clone()], "msg_1", 1, b"{}");
        assert_eq!(
            header,
            format!(
                "{} {}",
                sign(&a, "msg_1", 1, b"{}"),
                sign(&b, "msg_1", 1, b"{}")
            )
        );
    }

    #[test]
    fn a_generated_secret_reads_back_as_thirty_two_bytes_and_others_do_not() {
        let secret = generate_secret().unwrap();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret_key(&secret).unwrap().len(), 32);
        assert_eq!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), None);
        assert_eq!(secret_key("whsec_not base64!"), None);
    }
}
