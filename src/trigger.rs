//! Trigger "Message received": one request to the webhook URL → a response for Meta,
//! the events to run the workflow with, or why the request was refused.

use crate::handshake::{self, HandshakeError};
use crate::identity::SenderFilter;
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
/// `Debug` shows only whether each is set.
#[derive(Clone, Copy, Default)]
pub struct Secrets<'a> {
    pub app_secret: Option<&'a str>,
    pub verify_token: Option<&'a str>,
}

impl std::fmt::Debug for Secrets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: Option<&str>| {
            if s.is_some_and(|s| !s.is_empty()) {
                "[set]"
            } else {
                "[unset]"
            }
        };
        f.debug_struct("Secrets")
            .field("app_secret", &set(self.app_secret))
            .field("verify_token", &set(self.verify_token))
            .finish()
    }
}

/// What the host does with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer Meta with this as is.
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Answer 200 and run the workflow once per event.
    Events(Vec<Event>),
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
    /// The HTTP status a webhook endpoint answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::InvalidSignature(_) => 401,
            WebhookError::InvalidPayload(_) | WebhookError::InvalidHandshake(_) => 400,
            WebhookError::VerificationFailed(_) => 403,
            WebhookError::MethodNotAllowed(_) => 405,
            WebhookError::InvalidProperty { .. } => 500,
        }
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
    match request.method {
        "GET" => handshake::answer(request.query, secrets.verify_token)
            .map(|challenge| Outcome::Respond {
                status: 200,
                content_type: "text/plain",
                body: challenge,
            })
            .map_err(|e| match e {
                HandshakeError::Invalid(r) => WebhookError::InvalidHandshake(r),
                HandshakeError::Forbidden(r) => WebhookError::VerificationFailed(r),
            }),
        "POST" => {
            if let Some(app_secret) = secrets.app_secret.filter(|s| !s.is_empty()) {
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
            let filter = SenderFilter::parse(sender_number).map_err(|reason| {
                WebhookError::InvalidProperty {
                    field: "sender-number",
                    reason,
                }
            })?;
            webhook::events(request.body, filter.as_ref())
                .map(Outcome::Events)
                .map_err(WebhookError::InvalidPayload)
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
            app_secret: Some("app"),
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
            verify_token: Some("t"),
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
            app_secret: Some("APPSECRET"),
            verify_token: Some("VT"),
        };
        let text = format!("{s:?}");
        assert!(!text.contains("APPSECRET") && !text.contains("VT\""));
    }
}
