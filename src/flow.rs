//! WhatsApp Flows: action "Send Flow" (an interactive message of type `flow`) and the
//! reading of a Flow's answers (`nfm_reply`) for trigger "Message received".
//!
//! Shapes and limits from Meta's references "Sending a Flow", "Flow Message" (the
//! `interactive.action.parameters` table) and "Response Message Webhook"
//! (developers.facebook.com/docs/whatsapp/flows/reference/responsemsgwebhook):
//!
//! - `flow_message_version` is `"3"`, the only version Meta accepts;
//! - the Flow is named by `flow_id` or `flow_name`, never both;
//! - `flow_cta` is at most 20 characters, with no emoji;
//! - `flow_action` is `navigate` (with `flow_action_payload.screen` and, optionally, a
//!   non-empty object `data`) or `data_exchange` (with no payload);
//! - header and footer text at most 60 characters, body 1 to 1024, as for every
//!   interactive message.
//!
//! The answer arrives as `{"type": "interactive", "interactive": {"type": "nfm_reply",
//! "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "<JSON text>"}}}`:
//! [`read_reply`] turns `response_json` into a JSON object, or says why it could not.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::graph::{Credentials, Error, GraphRequest};
use crate::interactive::{Interactive, MAX_BODY_CHARS};
use crate::outgoing::{self, Addressee};
use crate::webhook::RawJson;
use crate::webhook::wire::Members;

/// `flow_message_version`: the only one Meta accepts.
pub const FLOW_MESSAGE_VERSION: &str = "3";
/// `flow_cta`: the button's text.
pub const MAX_CTA_CHARS: usize = 20;
/// `flow_token`, and a template FLOW button's token.
pub const MAX_TOKEN_CHARS: usize = 2000;
/// `flow_name`.
pub const MAX_NAME_CHARS: usize = 200;
/// `flow_action_payload.screen`.
pub const MAX_SCREEN_CHARS: usize = 200;

/// Which Flow.
#[derive(Debug, Clone, Copy)]
pub enum FlowRef<'a> {
    /// `flow_id`, digits.
    Id(&'a str),
    /// `flow_name`.
    Name(&'a str),
}

/// What tapping the button does.
#[derive(Debug, Clone, Copy)]
pub enum FlowAction<'a> {
    /// `navigate` to `screen`, with `data` (the JSON text of a non-empty object).
    Navigate {
        screen: &'a str,
        data: Option<&'a str>,
    },
    /// `data_exchange`: the Flow's endpoint gives the first screen.
    DataExchange,
}

/// The action's properties.
#[derive(Debug, Clone, Copy)]
pub struct FlowInput<'a> {
    pub to: Addressee<'a>,
    pub flow: FlowRef<'a>,
    pub cta: &'a str,
    pub token: Option<&'a str>,
    /// `draft` when true; `published` when false; Meta's default when absent.
    pub draft: Option<bool>,
    pub action: Option<FlowAction<'a>>,
    pub header_text: Option<&'a str>,
    pub body: &'a str,
    pub footer: Option<&'a str>,
}

#[derive(Serialize)]
struct Action<'a> {
    name: &'static str,
    parameters: Parameters<'a>,
}

#[derive(Serialize)]
struct Parameters<'a> {
    flow_message_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_name: Option<&'a str>,
    flow_cta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_action_payload: Option<Payload<'a>>,
}

#[derive(Serialize)]
struct Payload<'a> {
    screen: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
}

/// Whether `c` is pictographic: the emoji blocks (emoticons, symbols and pictographs,
/// transport, flags, supplemental symbols), the miscellaneous symbols and dingbats
/// (☀ ✅), technical symbols with emoji forms (⌚ ⏰), stars and arrows (⭐ ⬆), and the
/// joiners that build emoji sequences (ZWJ, variation selector 16, keycap).
fn is_emoji(c: char) -> bool {
    matches!(
        c as u32,
        0x1F000..=0x1FAFF
            | 0x2600..=0x27BF
            | 0x2300..=0x23FF
            | 0x2B00..=0x2BFF
            | 0x200D
            | 0xFE0F
            | 0x20E3
    )
}

/// A token: 1 to `MAX_TOKEN_CHARS` characters, no control characters.
pub fn check_token(field: &'static str, token: &str) -> Result<(), Error> {
    outgoing::chars(field, token, 1, MAX_TOKEN_CHARS)?;
    if token.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains control characters"));
    }
    Ok(())
}

/// JSON text of a non-empty object, as `flow_action_payload.data` and a template FLOW
/// button's `flow_action_data` must be.
pub fn object_data<'a>(field: &'static str, data: &'a str) -> Result<&'a RawValue, Error> {
    let raw: &RawValue = serde_json::from_str(data)
        .map_err(|e| Error::invalid(field, format!("is not JSON: {e}")))?;
    // Valid JSON that starts with `{` is an object; `{` then `}` is the empty one.
    match raw.get().strip_prefix('{').map(str::trim_start) {
        None => Err(Error::invalid(field, "must be a JSON object")),
        Some(rest) if rest.starts_with('}') => Err(Error::invalid(
            field,
            "is an empty object; give at least one member, or leave it out",
        )),
        Some(_) => Ok(raw),
    }
}

/// Validates every input and builds the request. Nothing is sent when any is invalid.
pub fn prepare(credentials: Credentials<'_>, input: &FlowInput<'_>) -> Result<GraphRequest, Error> {
    let to = outgoing::address(credentials, input.to)?;
    to.not_to_a_group("a Flow")?;
    let (flow_id, flow_name) = match input.flow {
        FlowRef::Id(id) => {
            outgoing::chars("flow", id, 1, 64)?;
            if !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::invalid("flow", "a Flow ID is digits only"));
            }
            (Some(id), None)
        }
        FlowRef::Name(name) => {
            outgoing::chars("flow", name, 1, MAX_NAME_CHARS)?;
            if name.chars().any(char::is_control) {
                return Err(Error::invalid("flow", "contains control characters"));
            }
            (None, Some(name))
        }
    };
    outgoing::chars("flow-cta", input.cta, 1, MAX_CTA_CHARS)?;
    if input.cta.chars().any(is_emoji) {
        return Err(Error::invalid(
            "flow-cta",
            "contains an emoji; the Flow's button takes text only",
        ));
    }
    if let Some(token) = input.token {
        check_token("flow-token", token)?;
    }
    let (flow_action, flow_action_payload) = match input.action {
        None => (None, None),
        Some(FlowAction::DataExchange) => (Some("data_exchange"), None),
        Some(FlowAction::Navigate { screen, data }) => {
            outgoing::chars("flow-action", screen, 1, MAX_SCREEN_CHARS)?;
            if screen.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::invalid(
                    "flow-action",
                    "a screen ID has no whitespace or control characters",
                ));
            }
            let data = data.map(|d| object_data("flow-action", d)).transpose()?;
            (Some("navigate"), Some(Payload { screen, data }))
        }
    };
    let interactive = Interactive::framed(
        "flow",
        input.header_text,
        input.body,
        MAX_BODY_CHARS,
        input.footer,
        Action {
            name: "flow",
            parameters: Parameters {
                flow_message_version: FLOW_MESSAGE_VERSION,
                flow_id,
                flow_name,
                flow_cta: input.cta,
                flow_token: input.token,
                mode: input.draft.map(|d| if d { "draft" } else { "published" }),
                flow_action,
                flow_action_payload,
            },
        },
    )?;
    Ok(to.request("interactive", &interactive))
}

/// A Flow's answers, from an `nfm_reply`. JSON: `{response?, flow_token?,
/// invalid_reason?}`, with `response` embedded as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct FlowReply {
    /// `response_json` parsed: a JSON object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<RawJson>,
    /// `response.flow_token`, when a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    /// Why `response` is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
}

impl FlowReply {
    fn invalid(reason: impl Into<String>) -> Self {
        Self {
            invalid_reason: Some(reason.into()),
            ..Self::default()
        }
    }
}

/// Reads an `interactive` object. `None` unless its `type` is `nfm_reply`; then the
/// answers, or the reason they could not be read (the message stays an event either way).
///
/// It reads with the webhook's own member reader, so that the guest carries no second
/// JSON reader for it.
pub fn read_reply(interactive: &str) -> Option<FlowReply> {
    let members = Members::of(interactive)?;
    if members.string("type").as_deref() != Some("nfm_reply") {
        return None;
    }
    let Some(reply) = members
        .get("nfm_reply")
        .and_then(|raw| Members::of(raw.get()))
    else {
        return Some(FlowReply::invalid(
            "`nfm_reply` is missing or not an object",
        ));
    };
    let Some(text) = reply.string("response_json") else {
        return Some(FlowReply::invalid(
            "`nfm_reply.response_json` is missing or not a string",
        ));
    };
    if !text.trim_start().starts_with('{') {
        return Some(FlowReply::invalid(
            "`nfm_reply.response_json` is not the JSON text of an object",
        ));
    }
    let flow_token = Members::of(&text).and_then(|m| m.string("flow_token"));
    Some(match RawJson::from_string(text) {
        Ok(response) => FlowReply {
            response: Some(response),
            flow_token,
            invalid_reason: None,
        },
        Err(e) => FlowReply::invalid(format!("`nfm_reply.response_json` is not JSON: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactive::{MAX_FOOTER_CHARS, MAX_HEADER_CHARS};
    use crate::secret::Secret;
    use serde_json::json;

    const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "1",
    };

    fn input<'a>() -> FlowInput<'a> {
        FlowInput {
            to: Addressee {
                send_message_to: "+15550101234",
                reply_to: None,
            },
            flow: FlowRef::Id("1234567890"),
            cta: "Book!",
            token: None,
            draft: None,
            action: None,
            header_text: None,
            body: "Book your appointment",
            footer: None,
        }
    }

    fn body(input: &FlowInput<'_>) -> serde_json::Value {
        serde_json::from_slice(&prepare(CREDS, input).unwrap().json_body.unwrap()).unwrap()
    }

    fn refused(input: &FlowInput<'_>) -> (&'static str, String) {
        match prepare(CREDS, input) {
            Err(Error::InvalidInput { field, reason }) => (field, reason),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_flow_in_meta_s_shape() {
        let navigate = FlowInput {
            token: Some("booking-42"),
            draft: Some(true),
            action: Some(FlowAction::Navigate {
                screen: "WELCOME",
                data: Some(r#"{"product_name": "Haircut"}"#),
            }),
            header_text: Some("Lucky Shrub"),
            footer: Some("Tap to book"),
            ..input()
        };
        assert_eq!(
            body(&navigate),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "+15550101234",
                "type": "interactive",
                "interactive": {
                    "type": "flow",
                    "header": {"type": "text", "text": "Lucky Shrub"},
                    "body": {"text": "Book your appointment"},
                    "footer": {"text": "Tap to book"},
                    "action": {"name": "flow", "parameters": {
                        "flow_message_version": "3",
                        "flow_id": "1234567890",
                        "flow_cta": "Book!",
                        "flow_token": "booking-42",
                        "mode": "draft",
                        "flow_action": "navigate",
                        "flow_action_payload": {"screen": "WELCOME", "data": {"product_name": "Haircut"}}
                    }}
                }
            })
        );
        let exchange = FlowInput {
            flow: FlowRef::Name("appointment_booking"),
            action: Some(FlowAction::DataExchange),
            draft: Some(false),
            ..input()
        };
        assert_eq!(
            body(&exchange)["interactive"]["action"]["parameters"],
            json!({
                "flow_message_version": "3",
                "flow_name": "appointment_booking",
                "flow_cta": "Book!",
                "mode": "published",
                "flow_action": "data_exchange"
            })
        );
    }

    #[test]
    fn the_button_text_is_short_and_has_no_emoji() {
        let twenty = "a".repeat(MAX_CTA_CHARS);
        assert!(
            prepare(
                CREDS,
                &FlowInput {
                    cta: &twenty,
                    ..input()
                }
            )
            .is_ok()
        );
        let over = "a".repeat(MAX_CTA_CHARS + 1);
        let (field, reason) = refused(&FlowInput {
            cta: &over,
            ..input()
        });
        assert_eq!(field, "flow-cta");
        assert!(reason.contains("21 characters"), "{reason}");
        for emoji in ["Book 📅", "Go ✅", "⭐ Rate", "1️⃣", "Sí señor ☀"] {
            let (field, reason) = refused(&FlowInput {
                cta: emoji,
                ..input()
            });
            assert_eq!(field, "flow-cta", "{emoji}");
            assert!(reason.contains("emoji"), "{reason}");
        }
        assert!(
            prepare(
                CREDS,
                &FlowInput {
                    cta: "Réserver — 2 €",
                    ..input()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn every_limit_refuses_before_any_request() {
        let name = "n".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            refused(&FlowInput {
                flow: FlowRef::Name(&name),
                ..input()
            })
            .0,
            "flow"
        );
        assert_eq!(
            refused(&FlowInput {
                flow: FlowRef::Id("12a"),
                ..input()
            })
            .0,
            "flow"
        );
        let token = "t".repeat(MAX_TOKEN_CHARS);
        assert!(
            prepare(
                CREDS,
                &FlowInput {
                    token: Some(&token),
                    ..input()
                }
            )
            .is_ok()
        );
        let token = "t".repeat(MAX_TOKEN_CHARS + 1);
        assert_eq!(
            refused(&FlowInput {
                token: Some(&token),
                ..input()
            })
            .0,
            "flow-token"
        );
        let navigate = |screen, data| FlowInput {
            action: Some(FlowAction::Navigate { screen, data }),
            ..input()
        };
        assert_eq!(refused(&navigate("", None)).0, "flow-action");
        assert_eq!(refused(&navigate("TWO WORDS", None)).0, "flow-action");
        for data in ["{}", "[1]", "\"x\"", "{not json"] {
            let (field, reason) = refused(&navigate("WELCOME", Some(data)));
            assert_eq!(field, "flow-action", "{data}: {reason}");
        }
        let header = "h".repeat(MAX_HEADER_CHARS);
        assert!(
            prepare(
                CREDS,
                &FlowInput {
                    header_text: Some(&header),
                    ..input()
                }
            )
            .is_ok()
        );
        let header = "h".repeat(MAX_HEADER_CHARS + 1);
        assert_eq!(
            refused(&FlowInput {
                header_text: Some(&header),
                ..input()
            })
            .0,
            "header-text"
        );
        let body = "b".repeat(MAX_BODY_CHARS);
        assert!(
            prepare(
                CREDS,
                &FlowInput {
                    body: &body,
                    ..input()
                }
            )
            .is_ok()
        );
        let body = "b".repeat(MAX_BODY_CHARS + 1);
        assert_eq!(
            refused(&FlowInput {
                body: &body,
                ..input()
            })
            .0,
            "body"
        );
        assert_eq!(
            refused(&FlowInput {
                body: " ",
                ..input()
            })
            .0,
            "body"
        );
        let footer = "f".repeat(MAX_FOOTER_CHARS + 1);
        assert_eq!(
            refused(&FlowInput {
                footer: Some(&footer),
                ..input()
            })
            .0,
            "footer"
        );
    }

    #[test]
    fn an_nfm_reply_gives_its_answers_as_an_object() {
        let interactive = r#"{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent","response_json":"{\"flow_token\": \"booking-42\", \"date\": \"2026-12-01\", \"slots\": [1, 2]}"}}"#;
        let reply = read_reply(interactive).unwrap();
        assert_eq!(
            reply.response.as_ref().map(RawJson::get),
            Some(r#"{"flow_token": "booking-42", "date": "2026-12-01", "slots": [1, 2]}"#)
        );
        assert_eq!(reply.flow_token.as_deref(), Some("booking-42"));
        assert_eq!(reply.invalid_reason, None);
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            json!({"response": {"flow_token": "booking-42", "date": "2026-12-01", "slots": [1, 2]}, "flow_token": "booking-42"})
        );
    }

    #[test]
    fn an_unreadable_nfm_reply_says_why() {
        let cases = [
            (
                r#"{"type":"nfm_reply","nfm_reply":{"response_json":"not json"}}"#,
                "not the JSON text of an object",
            ),
            (
                r#"{"type":"nfm_reply","nfm_reply":{"response_json":"{\"a\": }"}}"#,
                "not JSON",
            ),
            (
                r#"{"type":"nfm_reply","nfm_reply":{"response_json":"[1]"}}"#,
                "not the JSON text of an object",
            ),
            (
                r#"{"type":"nfm_reply","nfm_reply":{"response_json":{"a":1}}}"#,
                "not a string",
            ),
            (
                r#"{"type":"nfm_reply","nfm_reply":{"name":"flow"}}"#,
                "missing or not a string",
            ),
            (r#"{"type":"nfm_reply","nfm_reply":"x"}"#, "not an object"),
            (r#"{"type":"nfm_reply"}"#, "missing or not an object"),
        ];
        for (interactive, expected) in cases {
            let reply = read_reply(interactive).unwrap();
            assert_eq!(reply.response, None, "{interactive}");
            let reason = reply.invalid_reason.unwrap();
            assert!(reason.contains(expected), "{interactive}: {reason}");
        }
        assert_eq!(
            read_reply(r#"{"type":"button_reply","button_reply":{"id":"1"}}"#),
            None
        );
        assert_eq!(read_reply("[]"), None);
    }
}
