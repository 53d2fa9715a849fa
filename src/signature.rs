//! `X-Hub-Signature-256`: Meta signs every webhook POST with the app secret.
//!
//! The header is `sha256=` followed by the lowercase hex HMAC-SHA256 of the raw body.
//! It is checked on the raw bytes before anything parses them, and compared in
//! constant time (`hmac`'s `verify_slice`).

#[allow(unused_imports)]
use crate::prelude::*;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name, lowercase.
pub const HEADER: &str = "x-hub-signature-256";
const PREFIX: &str = "sha256=";
const HEX_LEN: usize = 64;

fn mac(app_secret: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC accepts any key length")
}

/// The header value Meta would send for `body`.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = mac(app_secret);
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a header value against the body. The error says what was wrong with the
/// header, never what the right signature would have been.
pub fn verify(app_secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), String> {
    let header = header.ok_or("the X-Hub-Signature-256 header is missing")?;
    let hex_digits = header
        .strip_prefix(PREFIX)
        .ok_or("the X-Hub-Signature-256 header must start with \"sha256=\"")?;
    if hex_digits.len() != HEX_LEN {
        return Err(format!(
            "the X-Hub-Signature-256 header must hold {HEX_LEN} hex digits, it holds {}",
            hex_digits.len()
        ));
    }
    // Meta sends lowercase; anything else did not come from Meta.
    if !hex_digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("the X-Hub-Signature-256 header must be lowercase hex".into());
    }
    let expected = hex::decode(hex_digits).map_err(|_| "the signature is not hex")?;
    let mut mac = mac(app_secret);
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| "the signature does not match the body".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_its_body() {
        let sig = sign("s3cret", b"{\"a\":1}");
        assert!(verify("s3cret", Some(&sig), b"{\"a\":1}").is_ok());
        assert!(verify("s3cret", Some(&sig), b"{\"a\":2}").is_err());
        assert!(verify("other", Some(&sig), b"{\"a\":1}").is_err());
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let sig = sign("k", b"x");
        let bad = [
            String::new(),
            sig.replacen("sha256=", "sha1=", 1),
            sig.to_uppercase().replacen("SHA256=", "sha256=", 1),
            sig[..sig.len() - 1].to_owned(),
            format!("{sig}0"),
        ];
        for header in bad {
            assert!(verify("k", Some(&header), b"x").is_err(), "{header}");
        }
        assert!(verify("k", None, b"x").unwrap_err().contains("missing"));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog")
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
