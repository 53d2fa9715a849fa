//! Action "Send Message": inputs → a validated Graph API request → the output.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::{Deserialize, Serialize};

use crate::graph::{Credentials, Error, GraphRequest, HttpResponse, parse_answer};
use crate::outgoing::{self, Addressee};

/// Most characters (Unicode scalar values) a text message may hold.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// The action's properties.
#[derive(Debug, Clone, Copy)]
pub struct SendInput<'a> {
    pub message: &'a str,
    /// A `+` number or a business-scoped user ID.
    pub send_message_to: &'a str,
    /// The ID of the message this one replies to (quoted), sent as `context.message_id`.
    pub reply_to: Option<&'a str>,
    /// Whether WhatsApp shows a preview of the first URL in the message.
    pub preview_url: Option<bool>,
}

#[derive(Serialize)]
struct Text<'a> {
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    preview_url: Option<bool>,
}

/// Validates every input and builds `POST /vNN.0/{phone-number-id}/messages`.
/// Nothing is sent when any input is invalid.
pub fn prepare(credentials: Credentials<'_>, input: SendInput<'_>) -> Result<GraphRequest, Error> {
    let to = outgoing::address(
        credentials,
        Addressee {
            send_message_to: input.send_message_to,
            reply_to: input.reply_to,
        },
    )?;
    outgoing::chars("message", input.message, 1, MAX_MESSAGE_CHARS)?;
    let text = Text {
        body: input.message,
        preview_url: input.preview_url,
    };
    Ok(to.request("text", &text))
}

/// `contacts[]` of the answer: the recipient as sent, and who it turned out to be. A
/// send to a BSUID may come back with `user_id` and no `wa_id`; neither is required
/// (the message ID is what proves the send).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Contact {
    pub input: String,
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
}

/// `messages[]` of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentMessage {
    pub id: String,
}

/// The action's output: `{messaging_product, contacts: [{input, wa_id?, user_id?}],
/// messages: [{id}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Output {
    pub messaging_product: String,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    pub messages: Vec<SentMessage>,
}

/// Reads the Graph API's answer to the send request.
pub fn parse_output(response: &HttpResponse) -> Result<Output, Error> {
    let output: Output = parse_answer(response)?;
    if output.messages.is_empty() {
        return Err(Error::UnexpectedResponse {
            status: response.status,
            reason: "the answer lists no sent message".into(),
            retryable: false,
        });
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Method;
    use crate::secret::Secret;

    const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "106540352242922",
    };

    fn input<'a>(message: &'a str, to: &'a str) -> SendInput<'a> {
        SendInput {
            message,
            send_message_to: to,
            reply_to: None,
            preview_url: None,
        }
    }

    #[test]
    fn builds_the_documented_request() {
        let req = prepare(CREDS, input("Hi \"there\"", "+1 555-010-1234")).unwrap();
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.path_and_query, "/v27.0/106540352242922/messages");
        assert_eq!(
            String::from_utf8(req.json_body.unwrap()).unwrap(),
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"+15550101234","type":"text","text":{"body":"Hi \"there\""}}"#
        );
    }

    #[test]
    fn a_reply_quotes_its_message_and_previews_on_request() {
        let reply = SendInput {
            reply_to: Some("wamid.QUOTED"),
            preview_url: Some(true),
            ..input("see https://example.com", "+15550101234")
        };
        assert_eq!(
            String::from_utf8(prepare(CREDS, reply).unwrap().json_body.unwrap()).unwrap(),
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"+15550101234","context":{"message_id":"wamid.QUOTED"},"type":"text","text":{"body":"see https://example.com","preview_url":true}}"#
        );
        let bad = SendInput {
            reply_to: Some("not a message id"),
            ..input("hi", "+15550101234")
        };
        assert!(matches!(
            prepare(CREDS, bad),
            Err(Error::InvalidInput {
                field: "reply-to",
                ..
            })
        ));
    }

    #[test]
    fn a_bsuid_goes_out_as_recipient_never_to() {
        let req = prepare(CREDS, input("Hi", "US.13491208655302741918")).unwrap();
        assert_eq!(
            String::from_utf8(req.json_body.unwrap()).unwrap(),
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"US.13491208655302741918","type":"text","text":{"body":"Hi"}}"#
        );
    }

    #[test]
    fn message_length_counts_scalar_values() {
        let emoji = "😀".repeat(MAX_MESSAGE_CHARS);
        assert!(prepare(CREDS, input(&emoji, "+15550101234")).is_ok());
        let too_long = "😀".repeat(MAX_MESSAGE_CHARS + 1);
        let err = prepare(CREDS, input(&too_long, "+15550101234")).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { field: "message", ref reason } if reason.contains("4097"))
        );
    }

    #[test]
    fn every_invalid_input_names_its_field() {
        let cases = [
            (CREDS, input("hi", "15550101234"), "send-message-to"),
            (CREDS, input("", "+15550101234"), "message"),
            (
                Credentials {
                    token: Secret::new(""),
                    ..CREDS
                },
                input("hi", "+15550101234"),
                "system-user-access-token",
            ),
            (
                Credentials {
                    token: Secret::new("a\r\nX-Evil: 1"),
                    ..CREDS
                },
                input("hi", "+15550101234"),
                "system-user-access-token",
            ),
            (
                Credentials {
                    phone_number_id: "12ab",
                    ..CREDS
                },
                input("hi", "+15550101234"),
                "phone-number-id",
            ),
        ];
        for (creds, input, expected) in cases {
            match prepare(creds, input) {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, expected),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn output_is_parsed_and_checked() {
        let ok = HttpResponse {
            status: 200,
            retry_after: None,
            body: br#"{"messaging_product":"whatsapp","contacts":[{"input":"+15550101234","wa_id":"15550101234"}],"messages":[{"id":"wamid.X"}]}"#.to_vec(),
        };
        let out = parse_output(&ok).unwrap();
        assert_eq!(out.messages[0].id, "wamid.X");
        assert_eq!(out.contacts[0].wa_id.as_deref(), Some("15550101234"));
        let to_a_user_id = HttpResponse {
            status: 200,
            retry_after: None,
            body: br#"{"messaging_product":"whatsapp","contacts":[{"input":"US.13491208655302741918","user_id":"US.13491208655302741918"}],"messages":[{"id":"wamid.Y"}]}"#.to_vec(),
        };
        let out = parse_output(&to_a_user_id).unwrap();
        assert_eq!(out.contacts[0].wa_id, None);
        assert_eq!(
            out.contacts[0].user_id.as_deref(),
            Some("US.13491208655302741918")
        );
        let html = HttpResponse {
            status: 200,
            retry_after: None,
            body: b"<html></html>".to_vec(),
        };
        assert!(matches!(
            parse_output(&html),
            Err(Error::UnexpectedResponse { status: 200, .. })
        ));
    }

    #[test]
    fn credentials_debug_redacts_the_token() {
        assert!(!format!("{CREDS:?}").contains("EAAtoken"));
    }
}
