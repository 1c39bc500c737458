//! `X-Hub-Signature-256`: Meta signs every webhook body with the app secret,
//! `sha256=<hex of HMAC-SHA256(raw body)>`. Checked on the raw bytes, before parsing,
//! in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-hub-signature-256";

/// Whether `header` is the signature of `body` under `secret`.
pub fn verify(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

/// The header value for `body` under `secret` (for the load generator and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented vector, from the fixtures copied into the repository.
    fn vector() -> (String, String, String) {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/signature-vectors.json"
        ));
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        let v = json["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["scheme"] == "meta-x-hub-signature-256")
            .unwrap();
        (
            v["secret"].as_str().unwrap().to_owned(),
            v["body"].as_str().unwrap().to_owned(),
            v["expected"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn the_documented_vector_verifies_and_signs_to_the_documented_value() {
        let (secret, body, expected) = vector();
        assert!(verify(&secret, body.as_bytes(), Some(&expected)));
        assert_eq!(sign(&secret, body.as_bytes()), expected);
    }

    #[test]
    fn a_flipped_byte_in_the_body_fails() {
        let (secret, body, expected) = vector();
        let mut tampered = body.into_bytes();
        tampered[0] ^= 0x01;
        assert!(!verify(&secret, &tampered, Some(&expected)));
    }

    #[test]
    fn a_flipped_digit_in_the_signature_fails() {
        let (secret, body, expected) = vector();
        let mut bad = expected.into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
        assert!(!verify(
            &secret,
            body.as_bytes(),
            Some(std::str::from_utf8(&bad).unwrap())
        ));
    }

    #[test]
    fn the_wrong_secret_fails() {
        let (_, body, expected) = vector();
        assert!(!verify(
            "It's a Secret to Nobody",
            body.as_bytes(),
            Some(&expected)
        ));
    }

    #[test]
    fn a_missing_or_malformed_header_fails() {
        let (secret, body, expected) = vector();
        assert!(!verify(&secret, body.as_bytes(), None));
        assert!(!verify(&secret, body.as_bytes(), Some("")));
        assert!(!verify(
            &secret,
            body.as_bytes(),
            Some(expected.trim_start_matches("sha256="))
        ));
        assert!(!verify(
            &secret,
            body.as_bytes(),
            Some("sha1=757107ea0eb2509fc211221cce984b8a37570b6d")
        ));
        assert!(!verify(&secret, body.as_bytes(), Some("sha256=zz")));
    }
}
