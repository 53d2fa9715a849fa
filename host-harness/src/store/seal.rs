//! Secrets at rest in a shared store: every secret a registration carries (its verify
//! token, its app secret) is sealed with XChaCha20-Poly1305 under the key in
//! `WHATSAPP_STORE_KEY` before it leaves the process, so a dump of Redis shows none of
//! them. The phone number ID is the associated data: a sealed token copied onto another
//! number's record does not open.
//!
//! A sealed value is the string `sealed:v1:` + base64(24-byte nonce ‖ ciphertext).

use anyhow::Context as _;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::Value;

use super::STORE_KEY_VARIABLE;

const PREFIX: &str = "sealed:v1:";

/// Where a registration's JSON form holds secrets: its verify token and app secret,
/// and each HTTP subscription's signing secret, Basic auth and static header values.
fn secret_pointers(record: &Value) -> Vec<String> {
    let mut pointers = vec![
        "/registration/verify_token".to_owned(),
        "/app_secret".to_owned(),
    ];
    let subscriptions = record["subscriptions"].as_array().map_or(0, Vec::len);
    for i in 0..subscriptions {
        let delivery = format!("/subscriptions/{i}/delivery");
        let headers = record
            .pointer(&format!("{delivery}/headers"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        for j in 0..headers {
            pointers.push(format!("{delivery}/headers/{j}/value"));
        }
        pointers.push(format!("{delivery}/signing_secret"));
        pointers.push(format!("{delivery}/basic_auth"));
    }
    pointers
}

/// The store key. `Debug` never shows it.
#[derive(Clone)]
pub struct Key(Option<XChaCha20Poly1305>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Key([redacted])"
        } else {
            "Key(none)"
        })
    }
}

impl Key {
    /// The key in `WHATSAPP_STORE_KEY`, or none when it is unset.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var(STORE_KEY_VARIABLE) {
            Ok(hex) => Self::from_hex(&hex),
            Err(std::env::VarError::NotPresent) => Ok(Self(None)),
            Err(_) => anyhow::bail!("{STORE_KEY_VARIABLE} is not 64 hex digits"),
        }
    }

    /// 64 hex digits. The error never repeats the value.
    pub fn from_hex(hex: &str) -> anyhow::Result<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex.trim(), &mut bytes)
            .ok()
            .with_context(|| format!("{STORE_KEY_VARIABLE} is not 64 hex digits"))?;
        Ok(Self(Some(XChaCha20Poly1305::new((&bytes).into()))))
    }

    fn cipher(&self) -> anyhow::Result<&XChaCha20Poly1305> {
        self.0.as_ref().with_context(|| {
            format!(
                "this store keeps secrets sealed: set {STORE_KEY_VARIABLE} (32 bytes as 64 hex \
                 digits, the same on every instance)"
            )
        })
    }

    /// The record with every secret sealed.
    pub fn seal(&self, mut record: Value, phone_number_id: &str) -> anyhow::Result<Value> {
        for pointer in secret_pointers(&record) {
            if let Some(slot) = record.pointer_mut(&pointer)
                && let Some(plain) = slot.as_str()
            {
                let mut nonce = [0u8; 24];
                getrandom::fill(&mut nonce).context("no random nonce")?;
                let sealed = self
                    .cipher()?
                    .encrypt(
                        XNonce::from_slice(&nonce),
                        Payload {
                            msg: plain.as_bytes(),
                            aad: phone_number_id.as_bytes(),
                        },
                    )
                    .ok()
                    .context("sealing failed")?;
                let mut bytes = nonce.to_vec();
                bytes.extend(sealed);
                *slot = format!(
                    "{PREFIX}{}",
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                )
                .into();
            }
        }
        Ok(record)
    }

    /// The record with every sealed secret opened. Fails without the key, or with
    /// another one.
    pub fn open(&self, mut record: Value, phone_number_id: &str) -> anyhow::Result<Value> {
        for pointer in secret_pointers(&record) {
            if let Some(slot) = record.pointer_mut(&pointer)
                && let Some(sealed) = slot.as_str().and_then(|s| s.strip_prefix(PREFIX))
            {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(sealed)
                    .ok()
                    .filter(|b| b.len() > 24)
                    .context("a sealed secret is damaged")?;
                let (nonce, sealed) = bytes.split_at(24);
                let plain = self
                    .cipher()?
                    .decrypt(
                        XNonce::from_slice(nonce),
                        Payload {
                            msg: sealed,
                            aad: phone_number_id.as_bytes(),
                        },
                    )
                    .ok()
                    .with_context(|| {
                        format!("a sealed secret does not open with this {STORE_KEY_VARIABLE}")
                    })?;
                *slot = String::from_utf8(plain)
                    .ok()
                    .context("a sealed secret is not text")?
                    .into();
            }
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn secrets_are_sealed_bound_to_the_number_and_need_the_key() {
        let key = Key::from_hex(HEX).unwrap();
        let record = serde_json::json!({
            "registration": {"phone_number_id": "1", "verify_token": "TOKENvalue"},
            "app_secret": "APPsecret",
            "subscriptions": [
                {"id": "1", "sink": "-"},
                {"id": "2", "sink": "https://x", "delivery": {
                    "signing_secret": "whsec_SIGNING",
                    "headers": [{"name": "X-Key", "value": "HEADERvalue"}],
                    "basic_auth": "user:BASICpass",
                }},
            ],
        });
        let sealed = key.seal(record.clone(), "1").unwrap();
        let text = sealed.to_string();
        assert!(
            [
                "TOKENvalue",
                "APPsecret",
                "SIGNING",
                "HEADERvalue",
                "BASICpass"
            ]
            .iter()
            .all(|s| !text.contains(s))
                && text.contains("X-Key"),
            "{text}"
        );
        assert_eq!(key.open(sealed.clone(), "1").unwrap(), record);
        assert!(
            key.open(sealed.clone(), "2").is_err(),
            "bound to the number"
        );
        let other = Key::from_hex(&HEX.replace("00", "ff")).unwrap();
        assert!(other.open(sealed.clone(), "1").is_err());
        let error = Key(None).open(sealed, "1").unwrap_err().to_string();
        assert!(error.contains(STORE_KEY_VARIABLE), "{error}");
        assert!(Key::from_hex("abc").is_err());
        assert!(!format!("{key:?}").contains("0001"));
    }
}
