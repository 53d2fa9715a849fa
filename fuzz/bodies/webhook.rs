//! The body of the `webhook` fuzz target, shared with `cargo test` (`tests/all/fuzz_seeds.rs`
//! runs it over the seed corpus in `fuzz/seeds/webhook/`), so CI compiles and exercises it
//! although cargo-fuzz needs nightly; and the independent oracle the property tests use.
//!
//! Any bytes as a webhook POST through the trigger's whole request path, with a real app
//! secret: the signature check, the sender filter, the parse. The first byte of the input
//! picks the filter and whether the body is signed genuinely; the rest is the body.
//! - A forged signature is always refused, before anything is parsed.
//! - A genuine one gives exactly the events an independent reading of the body
//!   (`serde_json::Value`) counts, each passing the filter; or a refusal that names the
//!   body's shape, only when that reading agrees it is not a webhook.

use serde_json::Value;
use whatsapp_connector::secret::Secret;
use whatsapp_connector::signature;
use whatsapp_connector::trigger::{self, Outcome, Secrets, WebhookError, WebhookRequest};

/// The app secret the target signs with.
pub const APP_SECRET: &str = "fuzz-app-secret";
/// The filters the first byte picks from.
pub const FILTERS: [Option<&str>; 3] = [
    None,
    Some("+1 650 555 1234"),
    Some("US.13491208655302741918"),
];

/// What an independent reading of a body says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A webhook with this many messages.
    Webhook(usize),
    /// Not a WhatsApp Business Account webhook.
    NotWebhook,
    /// The reading cannot tell: nested deeper than `serde_json::Value` reads (128), or a
    /// key given twice (which `Value` silently resolves and the trigger refuses).
    Unknown,
}

/// Reads `body` with `serde_json::Value`: how many messages a webhook has.
pub fn read(body: &[u8]) -> Reading {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) if e.to_string().contains("recursion limit") => return Reading::Unknown,
        Err(_) => return Reading::NotWebhook,
    };
    if has_duplicate_keys(body) {
        return Reading::Unknown;
    }
    if value.get("object").and_then(Value::as_str) != Some("whatsapp_business_account") {
        return Reading::NotWebhook;
    }
    let Some(entries) = value.get("entry").and_then(Value::as_array) else {
        return Reading::NotWebhook;
    };
    let mut count = 0;
    for entry in entries {
        let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
            continue;
        };
        for change in changes.iter().filter(|c| c.is_object()) {
            // Only a change that names another field is skipped: one whose `field` is
            // missing or not a string keeps its messages (none is lost for its shape).
            if change
                .get("field")
                .and_then(Value::as_str)
                .is_some_and(|f| f != "messages")
            {
                continue;
            }
            let messages = change
                .get("value")
                .and_then(|v| v.get("messages"))
                .and_then(Value::as_array);
            count += messages.map_or(0, Vec::len);
        }
    }
    Reading::Webhook(count)
}

/// Whether any object in `body` repeats a key.
pub fn has_duplicate_keys(body: &[u8]) -> bool {
    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    /// Any JSON value, refusing an object that repeats a key.
    struct Strict;
    impl<'de> Deserialize<'de> for Strict {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Strict;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("JSON")
                }
                fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
                    Ok(Strict)
                }
                fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
                    Ok(Strict)
                }
                fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
                    Ok(Strict)
                }
                fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
                    Ok(Strict)
                }
                fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
                    Ok(Strict)
                }
                fn visit_unit<E>(self) -> Result<Strict, E> {
                    Ok(Strict)
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
                    while seq.next_element::<Strict>()?.is_some() {}
                    Ok(Strict)
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
                    let mut keys = std::collections::HashSet::new();
                    while let Some(key) = map.next_key::<String>()? {
                        if !keys.insert(key) {
                            return Err(de::Error::custom("duplicate key"));
                        }
                        map.next_value::<Strict>()?;
                    }
                    Ok(Strict)
                }
            }
            d.deserialize_any(V)
        }
    }
    serde_json::from_slice::<Strict>(body).is_err_and(|e| e.to_string().contains("duplicate key"))
}

/// The target: see the module's doc.
pub fn run(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let filter = FILTERS[usize::from(selector & 0b11) % FILTERS.len()];
    let genuine = selector & 0b100 == 0;
    let secret = if genuine {
        APP_SECRET
    } else {
        "a-guessed-secret"
    };
    let headers = [(signature::HEADER.to_owned(), signature::sign(secret, body))];
    let request = WebhookRequest {
        method: "POST",
        headers: &headers,
        query: "",
        body,
    };
    let secrets = Secrets {
        app_secret: Some(Secret::new(APP_SECRET)),
        verify_token: None,
    };
    let outcome = trigger::handle(request, filter, secrets);
    if !genuine {
        assert!(
            matches!(outcome, Err(WebhookError::InvalidSignature(_))),
            "a forged signature passed: {outcome:?}"
        );
        return;
    }
    match (outcome, read(body)) {
        (Ok(Outcome::Events(events)), reading) => {
            if filter.is_none() && reading != Reading::Unknown {
                assert_eq!(Reading::Webhook(events.len()), reading);
            }
            for event in &events {
                let m = &event.entry.changes.messages;
                let contact = event.entry.changes.contacts.as_ref();
                let passes = match filter {
                    None => true,
                    Some(id) if id.starts_with("US.") => [
                        m.from_user_id.as_deref(),
                        m.from_parent_user_id.as_deref(),
                        contact.and_then(|c| c.user_id.as_deref()),
                        contact.and_then(|c| c.parent_user_id.as_deref()),
                    ]
                    .contains(&Some(id)),
                    Some(_) => [m.from.as_deref(), contact.and_then(|c| c.wa_id.as_deref())]
                        .into_iter()
                        .flatten()
                        .any(|n| n.bytes().filter(u8::is_ascii_digit).eq(*b"16505551234")),
                };
                assert!(
                    passes,
                    "an event that fails the filter {filter:?}: {event:?}"
                );
            }
        }
        (Ok(other), _) => panic!("a POST was answered directly: {other:?}"),
        (Err(WebhookError::InvalidPayload(reason)), Reading::NotWebhook | Reading::Unknown) => {
            assert!(!reason.is_empty());
        }
        (Err(error), reading) => panic!("{reading:?} refused: {error:?}"),
    }
}
