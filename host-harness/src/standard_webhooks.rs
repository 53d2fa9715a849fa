//! Standard Webhooks (standardwebhooks.com), the signing side: what a receiver needs to
//! trust a delivery and to recognise a retry.
//!
//! - `webhook-id`: [`webhook_id`], derived from the subscription and the event's
//!   deduplication key, so it is the same on every retry, on a re-drive, and on Meta's
//!   redelivery of the same webhook, and differs between subscriptions.
//! - `webhook-timestamp`: the attempt's time in Unix seconds (receivers refuse old ones,
//!   which is what stops a replay).
//! - `webhook-signature`: [`sign`], `v1,` + base64(HMAC-SHA256(key, `id.timestamp.body`)),
//!   the key being the bytes of a `whsec_` secret ([`SigningSecret`]).
//!
//! The tests check it against the specification's example and, in the integration tests,
//! against the `standardwebhooks` crate.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use whatsapp_connector::secret::Secret;

/// A signing secret's prefix, as the specification writes them.
pub const SECRET_PREFIX: &str = "whsec_";

/// A subscription's signing secret. `Debug` never shows it.
#[derive(Debug, Clone)]
pub struct SigningSecret(Secret<Vec<u8>>);

impl SigningSecret {
    /// 32 random bytes (the specification asks for 24 to 64).
    pub fn generate() -> anyhow::Result<(Self, Secret<String>)> {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes).context("no random bytes for a signing secret")?;
        let text = format!("{SECRET_PREFIX}{}", STANDARD.encode(&bytes));
        Ok((Self(Secret::new(bytes)), text.into()))
    }

    /// Reads `whsec_` + base64. The error never repeats the value.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let bytes = STANDARD
            .decode(encoded)
            .ok()
            .context("a signing secret is not whsec_ followed by base64")?;
        Ok(Self(Secret::new(bytes)))
    }

    /// The `webhook-signature` header of one attempt.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose()).expect("any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-id` of a subscription's event: `evt_` + 32 hex digits of
/// SHA-256(subscription key, deduplication key).
pub fn webhook_id(subscription: &str, dedup_key: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(subscription.as_bytes());
    digest.update(b"\n");
    digest.update(dedup_key.as_bytes());
    format!("evt_{}", hex::encode(&digest.finalize()[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_specifications_example() {
        // standard-webhooks/spec, "Signature scheme" example.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn generated_secrets_parse_back_and_never_show() {
        let (secret, text) = SigningSecret::generate().unwrap();
        assert!(text.expose().starts_with(SECRET_PREFIX));
        let parsed = SigningSecret::parse(text.expose()).unwrap();
        assert_eq!(parsed.sign("a", 1, b"x"), secret.sign("a", 1, b"x"));
        assert!(!format!("{secret:?}").contains(&text.expose()[6..]));
        let refused = SigningSecret::parse("whsec_!!!not-base64").unwrap_err();
        assert!(!format!("{refused:#}").contains("not-base64"));
    }

    #[test]
    fn ids_are_stable_per_event_and_differ_per_subscription() {
        assert_eq!(
            webhook_id("1/ab/1", "wamid.X"),
            webhook_id("1/ab/1", "wamid.X")
        );
        assert_ne!(
            webhook_id("1/ab/1", "wamid.X"),
            webhook_id("1/ab/2", "wamid.X")
        );
        assert_ne!(
            webhook_id("1/ab/1", "wamid.X"),
            webhook_id("1/ab/1", "wamid.Y")
        );
        assert_eq!(webhook_id("s", "k").len(), 36);
    }
}
