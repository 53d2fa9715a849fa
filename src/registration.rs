//! The trigger's webhook registration: switching "Message received" on and off.
//!
//! The trigger is a DYNAMIC_WEBHOOK: the workflow host hands over a fresh webhook URL and
//! the component makes Meta deliver the phone number's `messages` webhooks there, using
//! Meta's *webhook overrides*
//! (<https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override/>):
//!
//! - set: `POST /vNN.0/{phone-number-id}` with
//!   `{"webhook_configuration": {"override_callback_uri": URL, "verify_token": TOKEN}}`;
//!   Meta first verifies URL with a `hub.challenge` GET carrying TOKEN, then answers
//!   `{"success": true}`. The URL may have at most 200 characters. A phone number's
//!   override takes precedence over its WhatsApp Business Account's and the app's
//!   callback URL, for the `messages` field among others;
//! - read: `GET /vNN.0/{phone-number-id}?fields=webhook_configuration` answers
//!   `{"webhook_configuration": {"phone_number": URL, "whatsapp_business_account": …,
//!   "application": …}, "id": …}`, `phone_number` absent when no override is set;
//! - remove: the same POST with `"override_callback_uri": ""`.
//!
//! Because Meta's GET arrives *while* the set POST is in flight, the webhook endpoint must
//! already know the token then. So switching on takes two steps: [`new`] makes the
//! registration without any network (the host stores it), then [`enable_request`] sets the
//! override while the stored registration answers the handshake.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::{Deserialize, Serialize};

use crate::graph::{Credentials, Error, GraphRequest, HttpResponse, parse_answer};
use crate::identity::SenderFilter;
use crate::secret::Secret;

/// Meta's limit on an alternate callback URL.
pub const MAX_CALLBACK_URL_CHARS: usize = 200;
/// Random bytes in a verify token: 192 bits, written as 48 lowercase hex characters
/// (URL-safe, so Meta's GET carries it unescaped).
pub const VERIFY_TOKEN_BYTES: usize = 24;

/// What `enable` hands the workflow host to store, and what `disable` and the webhook
/// handler get back; its JSON form is what a host stores. `Debug` and
/// [`Registration::redacted`] never show the verify token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub phone_number_id: String,
    pub callback_url: String,
    pub verify_token: Secret<String>,
    /// Unix seconds.
    pub created_at: u64,
}

impl Registration {
    /// The JSON form without the verify token: what may be shown to an operator.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({
            "phone_number_id": self.phone_number_id,
            "callback_url": self.callback_url,
            "verify_token": "[redacted]",
            "created_at": self.created_at,
        })
    }
}

/// What `disable` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The phone number's override was this registration's URL; it is removed.
    Removed,
    /// No override was set (already disabled, or removed by someone else).
    NothingToRemove,
    /// The override now points at another URL, set since by another registration; it is
    /// left alone, and this registration's URL receives nothing.
    Superseded,
}

/// Checks that `url` can be an alternate callback: `https`, a host, at most 200
/// characters, nothing that a URL cannot carry literally.
pub fn validate_callback_url(url: &str) -> Result<(), Error> {
    let invalid = |reason: &str| Err(Error::invalid("webhook-url", reason));
    let chars = url.chars().count();
    if chars > MAX_CALLBACK_URL_CHARS {
        return Err(Error::invalid(
            "webhook-url",
            format!("has {chars} characters; Meta accepts at most {MAX_CALLBACK_URL_CHARS}"),
        ));
    }
    let Some(rest) = url
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
    else {
        return invalid("must start with https:// (Meta only delivers webhooks over HTTPS)");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("contains whitespace or control characters");
    }
    if url.contains('#') {
        return invalid("must not contain a fragment (#)");
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return invalid("must not contain credentials (user@host)");
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(host, _)| host);
    if host.is_empty() {
        return invalid("has no host");
    }
    Ok(())
}

/// The verify token for `random` bytes (from `wasi:random` in the component).
pub fn verify_token(random: &[u8; VERIFY_TOKEN_BYTES]) -> String {
    hex::encode(random)
}

/// Step 1 of switching the trigger on, without any network: validates everything
/// `enable` will need and makes the registration the host stores.
pub fn new(
    credentials: Credentials<'_>,
    sender_number: Option<&str>,
    webhook_url: &str,
    random: &[u8; VERIFY_TOKEN_BYTES],
    now: u64,
) -> Result<Registration, Error> {
    credentials.validate()?;
    SenderFilter::parse(sender_number).map_err(|reason| Error::invalid("sender-number", reason))?;
    validate_callback_url(webhook_url)?;
    Ok(Registration {
        phone_number_id: credentials.phone_number_id.to_owned(),
        callback_url: webhook_url.to_owned(),
        verify_token: verify_token(random).into(),
        created_at: now,
    })
}

#[derive(Serialize)]
struct WebhookConfiguration<'a> {
    override_callback_uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_token: Option<&'a str>,
}

#[derive(Serialize)]
struct ConfigurationUpdate<'a> {
    webhook_configuration: WebhookConfiguration<'a>,
}

/// The registration belongs to the connection's phone number, and is well formed
/// (it may come back from a host's storage).
fn check(credentials: Credentials<'_>, registration: &Registration) -> Result<(), Error> {
    credentials.validate()?;
    if registration.phone_number_id != credentials.phone_number_id {
        return Err(Error::invalid(
            "registration",
            "was made for another phone number ID than the connection's",
        ));
    }
    validate_callback_url(&registration.callback_url)?;
    if registration.verify_token.expose().is_empty() {
        return Err(Error::invalid("registration", "has no verify token"));
    }
    Ok(())
}

/// Step 2: `POST /vNN.0/{phone-number-id}` setting the override to the registration's URL
/// and verify token.
pub fn enable_request(
    credentials: Credentials<'_>,
    registration: &Registration,
) -> Result<GraphRequest, Error> {
    check(credentials, registration)?;
    Ok(GraphRequest::post_json(
        credentials.phone_number_id,
        &ConfigurationUpdate {
            webhook_configuration: WebhookConfiguration {
                override_callback_uri: &registration.callback_url,
                verify_token: Some(registration.verify_token.expose()),
            },
        },
    ))
}

#[derive(Deserialize)]
struct Success {
    success: bool,
}

/// Reads the answer to a set or remove POST: `{"success": true}`.
pub fn parse_success(response: &HttpResponse) -> Result<(), Error> {
    let Success { success } = parse_answer(response)?;
    if success {
        Ok(())
    } else {
        Err(Error::UnexpectedResponse {
            status: response.status,
            reason: "the Graph API answered {\"success\": false}".into(),
            retryable: false,
        })
    }
}

/// Before removing: `GET /vNN.0/{phone-number-id}?fields=webhook_configuration`.
pub fn current_override_request(
    credentials: Credentials<'_>,
    registration: &Registration,
) -> Result<GraphRequest, Error> {
    check(credentials, registration)?;
    Ok(GraphRequest::get(&format!(
        "{}?fields=webhook_configuration",
        credentials.phone_number_id
    )))
}

#[derive(Deserialize)]
struct PhoneNumberFields {
    webhook_configuration: Option<Configuration>,
}

#[derive(Deserialize)]
struct Configuration {
    phone_number: Option<String>,
}

/// The phone number's override now, from the answer to [`current_override_request`].
pub fn parse_current_override(response: &HttpResponse) -> Result<Option<String>, Error> {
    let fields: PhoneNumberFields = parse_answer(response)?;
    Ok(fields
        .webhook_configuration
        .and_then(|c| c.phone_number)
        .filter(|url| !url.is_empty()))
}

/// What to do about the current override: remove it only when it is this registration's.
pub fn plan_removal(registration: &Registration, current: Option<&str>) -> Removal {
    match current {
        None => Removal::NothingToRemove,
        Some(url) if url == registration.callback_url => Removal::Removed,
        Some(_) => Removal::Superseded,
    }
}

/// `POST /vNN.0/{phone-number-id}` with an empty override: deliveries go back to the
/// WhatsApp Business Account's or the app's callback.
pub fn remove_request(credentials: Credentials<'_>) -> GraphRequest {
    GraphRequest::post_json(
        credentials.phone_number_id,
        &ConfigurationUpdate {
            webhook_configuration: WebhookConfiguration {
                override_callback_uri: "",
                verify_token: None,
            },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: Credentials<'static> = Credentials {
        token: crate::secret::Secret::new("TOKEN"),
        phone_number_id: "123",
    };
    const URL: &str = "https://hooks.example.com/whatsapp/abc";

    fn registration() -> Registration {
        new(
            CREDENTIALS,
            None,
            URL,
            &[0xab; VERIFY_TOKEN_BYTES],
            1_700_000_000,
        )
        .unwrap()
    }

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    fn field(error: Error) -> &'static str {
        match error {
            Error::InvalidInput { field, .. } => field,
            other => panic!("not invalid-input: {other:?}"),
        }
    }

    #[test]
    fn callback_urls_are_checked() {
        for ok in [
            URL,
            "HTTPS://example.com",
            "https://example.com:8443/hook?workflow=1",
        ] {
            assert!(validate_callback_url(ok).is_ok(), "{ok}");
        }
        let long = format!("https://example.com/{}", "a".repeat(181));
        assert_eq!(long.len(), 201);
        for bad in [
            "http://example.com/hook",
            "ftp://example.com",
            "example.com/hook",
            "https://",
            "https:///path",
            "https://:443/path",
            "https://exa mple.com",
            "https://example.com/\r\nX: y",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            long.as_str(),
        ] {
            assert_eq!(
                field(validate_callback_url(bad).unwrap_err()),
                "webhook-url",
                "{bad}"
            );
        }
        let exactly_200 = format!("https://example.com/{}", "é".repeat(180));
        assert_eq!(exactly_200.chars().count(), 200);
        assert!(validate_callback_url(&exactly_200).is_ok());
    }

    #[test]
    fn a_registration_carries_a_hex_token_and_hides_it_in_debug() {
        let random: [u8; VERIFY_TOKEN_BYTES] = core::array::from_fn(|i| i as u8 * 7);
        let r = new(CREDENTIALS, Some("+1 555 010 1234"), URL, &random, 42).unwrap();
        let token = r.verify_token.expose();
        assert_eq!(token.len(), 2 * VERIFY_TOKEN_BYTES);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(token, &hex::encode(random));
        assert_eq!((r.phone_number_id.as_str(), r.created_at), ("123", 42));
        assert!(!format!("{r:?}").contains(token.as_str()));
    }

    #[test]
    fn new_validates_before_anything() {
        let random = [1; VERIFY_TOKEN_BYTES];
        let bad_sender = new(CREDENTIALS, Some("abc"), URL, &random, 0).unwrap_err();
        assert_eq!(field(bad_sender), "sender-number");
        let bad_id = Credentials {
            phone_number_id: "12a",
            ..CREDENTIALS
        };
        assert_eq!(
            field(new(bad_id, None, URL, &random, 0).unwrap_err()),
            "phone-number-id"
        );
    }

    #[test]
    fn enable_sets_the_override_with_the_token() {
        let r = registration();
        let request = enable_request(CREDENTIALS, &r).unwrap();
        assert_eq!(request.path_and_query, "/v27.0/123");
        let body: serde_json::Value =
            serde_json::from_slice(request.json_body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"webhook_configuration": {
                "override_callback_uri": URL,
                "verify_token": r.verify_token.expose(),
            }})
        );
        let other_number = Credentials {
            phone_number_id: "999",
            ..CREDENTIALS
        };
        assert_eq!(
            field(enable_request(other_number, &r).unwrap_err()),
            "registration"
        );
    }

    #[test]
    fn success_answers() {
        assert!(parse_success(&answer(200, r#"{"success":true}"#)).is_ok());
        assert!(matches!(
            parse_success(&answer(200, r#"{"success":false}"#)),
            Err(Error::UnexpectedResponse { .. })
        ));
        assert!(matches!(
            parse_success(&answer(400, r#"{"error":{"message":"bad","code":100}}"#)),
            Err(Error::Graph(_))
        ));
    }

    #[test]
    fn removal_only_touches_our_own_override() {
        let r = registration();
        let current = |body: &str| parse_current_override(&answer(200, body)).unwrap();
        let ours = format!(
            r#"{{"webhook_configuration":{{"phone_number":"{URL}","application":"https://app.example.com"}},"id":"123"}}"#
        );
        assert_eq!(
            plan_removal(&r, current(&ours).as_deref()),
            Removal::Removed
        );
        let theirs = r#"{"webhook_configuration":{"phone_number":"https://other.example.com/x"},"id":"123"}"#;
        assert_eq!(
            plan_removal(&r, current(theirs).as_deref()),
            Removal::Superseded
        );
        for none in [
            r#"{"id":"123"}"#,
            r#"{"webhook_configuration":{"application":"https://app.example.com"},"id":"123"}"#,
            r#"{"webhook_configuration":{"phone_number":""},"id":"123"}"#,
        ] {
            assert_eq!(
                plan_removal(&r, current(none).as_deref()),
                Removal::NothingToRemove,
                "{none}"
            );
        }
        let request = remove_request(CREDENTIALS);
        assert_eq!(
            request.json_body.as_deref().unwrap(),
            br#"{"webhook_configuration":{"override_callback_uri":""}}"#
        );
    }
}
