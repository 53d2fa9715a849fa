//! Trigger "Message received": one request to the webhook URL → a response for Meta,
//! the events to run the workflow with, or why the request was refused.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::handshake::{self, HandshakeError};
use crate::identity::SenderFilter;
use crate::secret::Secret;
use crate::signature;
use crate::webhook::{self, Event};

/// A webhook request as the workflow host received it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub method: &'a str,
    pub headers: &'a [(String, String)],
    pub query: &'a str,
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// The values of a header, by case-insensitive name.
    fn header_values<'h>(&'h self, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The secrets that authenticate webhook traffic. An empty string counts as unset.
/// `Debug` shows only whether each is given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Secrets<'a> {
    pub app_secret: Option<Secret<&'a str>>,
    pub verify_token: Option<Secret<&'a str>>,
}

/// What the host does with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<E = Event> {
    /// Answer Meta with this as is.
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Answer 200 and run the workflow once per event.
    Events(Vec<E>),
}

/// Why a request was refused; mirrors the WIT `webhook-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    InvalidSignature(String),
    InvalidPayload(String),
    VerificationFailed(String),
    InvalidHandshake(String),
    MethodNotAllowed(String),
    InvalidProperty { field: &'static str, reason: String },
}

impl WebhookError {
    /// The WIT variant's name, e.g. `invalid-signature`.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::InvalidSignature(_) => "invalid-signature",
            WebhookError::InvalidPayload(_) => "invalid-payload",
            WebhookError::VerificationFailed(_) => "verification-failed",
            WebhookError::InvalidHandshake(_) => "invalid-handshake",
            WebhookError::MethodNotAllowed(_) => "method-not-allowed",
            WebhookError::InvalidProperty { .. } => "invalid-property",
        }
    }

    /// The HTTP status a webhook endpoint answers with.
    pub fn http_status(&self) -> u16 {
        http_status(self.kind())
    }
}

/// The HTTP status a webhook endpoint answers a refused request with, by the error's kind
/// (the WIT `webhook-error` variant's name): the one table the component and every host
/// use. A configuration error (an invalid property) is the endpoint's fault, not Meta's.
pub fn http_status(kind: &str) -> u16 {
    match kind {
        "invalid-signature" => 401,
        "verification-failed" => 403,
        "method-not-allowed" => 405,
        "invalid-property" | "execution-failed" => 500,
        _ => 400,
    }
}

/// Handles one request: a GET is the verification handshake; a POST is a notification,
/// whose signature is checked on the raw body (when an app secret is set) before it is
/// parsed into one event per message from `sender_number`, a phone number or a BSUID
/// (every sender when unset).
pub fn handle(
    request: WebhookRequest<'_>,
    sender_number: Option<&str>,
    secrets: Secrets<'_>,
) -> Result<Outcome, WebhookError> {
    handle_into(request, sender_number, secrets, |event| event)
}

/// [`handle`], each event handed to `convert` as soon as it is made (see
/// [`webhook::events_into`]).
pub fn handle_into<E>(
    request: WebhookRequest<'_>,
    sender_number: Option<&str>,
    secrets: Secrets<'_>,
    convert: impl FnMut(Event) -> E,
) -> Result<Outcome<E>, WebhookError> {
    handle_with(request, secrets, |body| {
        let filter = who("sender-number", sender_number)?;
        webhook::events_into(body, filter.as_ref(), convert).map_err(WebhookError::InvalidPayload)
    })
}

/// A trigger property naming someone (a phone number, a BSUID or `group:ID`), read as a
/// filter; a value that is none of them is the property's error.
pub fn who(field: &'static str, value: Option<&str>) -> Result<Option<SenderFilter>, WebhookError> {
    SenderFilter::parse(value).map_err(|reason| WebhookError::InvalidProperty { field, reason })
}

/// What every webhook trigger does with a request: a GET is the verification
/// handshake; a POST is a notification whose signature is checked on the raw body (when
/// an app secret is set) before `read` turns the body into events; anything else is 405.
pub fn handle_with<E>(
    request: WebhookRequest<'_>,
    secrets: Secrets<'_>,
    read: impl FnOnce(&[u8]) -> Result<Vec<E>, WebhookError>,
) -> Result<Outcome<E>, WebhookError> {
    // The checks are not generic: every trigger shares one copy of them in the guest.
    match authenticate(request, secrets)? {
        Some(challenge) => Ok(Outcome::Respond {
            status: 200,
            content_type: "text/plain",
            body: challenge,
        }),
        None => read(request.body).map(Outcome::Events),
    }
}

/// A GET's handshake challenge to answer with (`Some`), or an authentic POST whose body
/// may be read (`None`); else why the request is refused.
fn authenticate(
    request: WebhookRequest<'_>,
    secrets: Secrets<'_>,
) -> Result<Option<String>, WebhookError> {
    match request.method {
        "GET" => handshake::answer(request.query, secrets.verify_token.map(|t| *t.expose()))
            .map(Some)
            .map_err(|e| match e {
                HandshakeError::Invalid(r) => WebhookError::InvalidHandshake(r),
                HandshakeError::Forbidden(r) => WebhookError::VerificationFailed(r),
            }),
        "POST" => {
            if let Some(app_secret) = secrets
                .app_secret
                .map(|s| *s.expose())
                .filter(|s| !s.is_empty())
            {
                let mut values = request.header_values(signature::HEADER);
                let header = values.next();
                if values.next().is_some() {
                    return Err(WebhookError::InvalidSignature(
                        "the X-Hub-Signature-256 header is given more than once".into(),
                    ));
                }
                signature::verify(app_secret, header, request.body)
                    .map_err(WebhookError::InvalidSignature)?;
            }
            Ok(None)
        }
        other => Err(WebhookError::MethodNotAllowed(format!(
            "{} is not accepted: GET is the verification handshake, POST delivers notifications",
            other.chars().take(16).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            headers,
            query: "",
            body,
        }
    }

    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"123"},"messages":[{"from":"15550101234","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}"#;

    #[test]
    fn signed_post_yields_events_and_unsigned_is_refused() {
        let secrets = Secrets {
            app_secret: Some(Secret::new("app")),
            verify_token: None,
        };
        let headers = [(
            "X-Hub-Signature-256".to_owned(),
            signature::sign("app", BODY),
        )];
        let Ok(Outcome::Events(events)) = handle(post(&headers, BODY), None, secrets) else {
            panic!("signed post refused")
        };
        assert_eq!(events.len(), 1);
        let err = handle(post(&[], BODY), None, secrets).unwrap_err();
        assert!(matches!(err, WebhookError::InvalidSignature(_)));
        assert_eq!(err.http_status(), 401);
        let twice = [headers[0].clone(), headers[0].clone()];
        assert!(matches!(
            handle(post(&twice, BODY), None, secrets),
            Err(WebhookError::InvalidSignature(_))
        ));
    }

    #[test]
    fn sender_filter_applies() {
        let none = Secrets::default();
        let matching = handle(post(&[], BODY), Some("+1 (555) 010-1234"), none).unwrap();
        assert!(matches!(matching, Outcome::Events(ref e) if e.len() == 1));
        let other = handle(post(&[], BODY), Some("+15550101235"), none).unwrap();
        assert_eq!(other, Outcome::Events(vec![]));
        assert!(matches!(
            handle(post(&[], BODY), Some("bob"), none),
            Err(WebhookError::InvalidProperty {
                field: "sender-number",
                ..
            })
        ));
    }

    #[test]
    fn methods() {
        let req = WebhookRequest {
            method: "DELETE",
            headers: &[],
            query: "",
            body: b"",
        };
        assert_eq!(
            handle(req, None, Secrets::default())
                .unwrap_err()
                .http_status(),
            405
        );
        let get = WebhookRequest {
            method: "GET",
            query: "hub.mode=subscribe&hub.challenge=42&hub.verify_token=t",
            ..req
        };
        let secrets = Secrets {
            app_secret: None,
            verify_token: Some(Secret::new("t")),
        };
        assert_eq!(
            handle(get, None, secrets).unwrap(),
            Outcome::Respond {
                status: 200,
                content_type: "text/plain",
                body: "42".into()
            }
        );
    }

    #[test]
    fn secrets_debug_hides_values() {
        let s = Secrets {
            app_secret: Some(Secret::new("APPSECRET")),
            verify_token: Some(Secret::new("VT")),
        };
        let text = format!("{s:?}");
        assert!(
            !text.contains("APPSECRET") && !text.contains("VT\""),
            "{text}"
        );
        for kind in [
            "invalid-signature",
            "invalid-payload",
            "verification-failed",
            "invalid-handshake",
            "method-not-allowed",
            "invalid-property",
        ] {
            assert!((400..=500).contains(&http_status(kind)), "{kind}");
        }
    }
}
