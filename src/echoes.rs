//! Trigger "Message echoed": what the business sent from the WhatsApp Business app, on a
//! number that uses the app and the Cloud API at once ("Coexistence").
//!
//! Meta reports those messages with the `smb_message_echoes` webhook, under
//! `value.message_echoes`, each in the shape of a received message (`from` is the
//! business's number) plus `to`, the customer (Meta's "smb_message_echoes webhook
//! reference"). They never arrive under `messages`, so "Message received" never answers
//! the business's own echoes. One [`EchoEvent`] per echo, read by the same lenient reader
//! as a received message: nothing is dropped for its shape.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;
use serde::ser::Serializer;

use crate::identity::{Identifiers, SenderFilter};
use crate::trigger;
use crate::webhook::{self, Message, OBJECT, Value, wire};

/// The webhook field Meta reports echoes under.
pub const FIELD: &str = "smb_message_echoes";

/// One echo: the trigger's documented output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EchoEvent {
    pub object: String,
    pub entry: EchoEntry,
    /// The message ID, as for a received message. Not part of the documented output.
    #[serde(skip)]
    pub dedup_key: String,
}

/// `entry`, narrowed to one echo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EchoEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub changes: EchoChange,
}

/// `entry.changes`, narrowed to one echo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EchoChange {
    pub value: Value,
    pub message_echoes: Echo,
}

/// `message_echoes[]`: a message, and whom it went to. JSON: the message's members with
/// `to` after `from`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Echo {
    /// `to`: the customer.
    pub to: Option<String>,
    pub message: Message,
}

impl Serialize for Echo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.message.serialize_to(self.to.as_ref(), serializer)
    }
}

/// One `message_echoes[]` element: the message reader's work, with `to` taken out of its
/// other members when it is a string.
fn echo(raw: &serde_json::value::RawValue) -> Echo {
    let mut message = wire::message(raw);
    let to = message
        .others
        .iter()
        .position(|(key, value)| key == "to" && value.get().starts_with('"'))
        .and_then(|at| {
            let (_, value) = message.others.remove(at);
            wire::string(value.as_raw())
        });
    Echo { to, message }
}

/// Parses a webhook body into echo events sent to `recipient` (every echo when `None`),
/// each handed to `convert` as it is made.
pub fn events_into<T>(
    body: &[u8],
    recipient: Option<&SenderFilter>,
    mut convert: impl FnMut(EchoEvent) -> T,
) -> Result<Vec<T>, String> {
    let payload = webhook::read(body)?;
    let mut events = Vec::new();
    for (entry, _, value) in webhook::changes_of(&payload, |f| f == Some(FIELD)) {
        let echoes = value.message_echoes.0.as_deref().unwrap_or_default();
        if echoes.is_empty() {
            continue;
        }
        let shared = value.to_value();
        for raw in echoes {
            let echo = echo(raw);
            let to = echo.to.as_deref();
            let passes = recipient.is_none_or(|filter| {
                filter.matches(Identifiers {
                    phone: to,
                    user_id: to,
                    ..Identifiers::default()
                })
            });
            if !passes {
                continue;
            }
            events.push(convert(EchoEvent {
                object: OBJECT.to_owned(),
                dedup_key: webhook::dedup_key(echo.message.id.as_deref(), raw.get()),
                entry: EchoEntry {
                    id: entry.id.0.as_deref().map(str::to_owned),
                    changes: EchoChange {
                        value: shared.clone(),
                        message_echoes: echo,
                    },
                },
            }));
        }
    }
    Ok(events)
}

/// Handles one request to the trigger's webhook URL, exactly as "Message received" does
/// (handshake, signature), with `recipient` as the property.
pub fn handle_into<E>(
    request: trigger::WebhookRequest<'_>,
    recipient: Option<&str>,
    secrets: trigger::Secrets<'_>,
    convert: impl FnMut(EchoEvent) -> E,
) -> Result<trigger::Outcome<E>, trigger::WebhookError> {
    trigger::handle_with(request, secrets, |body| {
        let recipient = trigger::who("recipient", recipient)?;
        events_into(body, recipient.as_ref(), convert)
            .map_err(trigger::WebhookError::InvalidPayload)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(echoes: &str) -> String {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"message_echoes":[{echoes}]}},"field":"smb_message_echoes"}}]}}]}}"#
        )
    }

    const TEXT: &str = r#"{"from":"15550783881","to":"16505551234","id":"wamid.E1","timestamp":"1739321024","type":"text","text":{"body":"Here's the info you requested!"}}"#;

    #[test]
    fn an_echo_is_a_message_with_its_recipient() {
        let events = events_into(body(TEXT).as_bytes(), None, |e| e).unwrap();
        assert_eq!(events.len(), 1);
        let echo = &events[0].entry.changes.message_echoes;
        assert_eq!(echo.to.as_deref(), Some("16505551234"));
        assert_eq!(
            echo.message.text.as_deref(),
            Some("Here's the info you requested!")
        );
        assert!(
            echo.message.others.is_empty(),
            "`to` is not among the others"
        );
        assert_eq!(events[0].dedup_key, "wamid.E1");
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(
            json["entry"]["changes"]["message_echoes"],
            serde_json::json!({"from": "15550783881", "to": "16505551234", "id": "wamid.E1", "timestamp": "1739321024", "type": "text", "text": {"body": "Here's the info you requested!"}})
        );
        // The same echo under `messages` is not an echo, and an echo is not a message.
        let as_messages = body(TEXT).replace("message_echoes", "messages");
        assert!(
            events_into(as_messages.as_bytes(), None, |e| e)
                .unwrap()
                .is_empty()
        );
        assert!(
            webhook::events(body(TEXT).as_bytes(), None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_recipient_filter_and_odd_shapes() {
        let filter = SenderFilter::parse(Some("+1 650 555 1234"))
            .unwrap()
            .unwrap();
        let other = SenderFilter::parse(Some("+1 650 555 0000"))
            .unwrap()
            .unwrap();
        assert_eq!(
            events_into(body(TEXT).as_bytes(), Some(&filter), |e| e)
                .unwrap()
                .len(),
            1
        );
        assert!(
            events_into(body(TEXT).as_bytes(), Some(&other), |e| e)
                .unwrap()
                .is_empty()
        );
        // A `to` that is not a string stays among the others; a non-object is carried raw.
        let odd = body(&format!(
            "{},7",
            TEXT.replace("\"16505551234\"", "16505551234")
        ));
        let events = events_into(odd.as_bytes(), None, |e| e).unwrap();
        assert_eq!(events.len(), 2);
        let first = &events[0].entry.changes.message_echoes;
        assert_eq!(first.to, None);
        assert_eq!(first.message.others[0].0, "to");
        assert_eq!(
            events[1]
                .entry
                .changes
                .message_echoes
                .message
                .raw
                .as_ref()
                .map(|r| r.get()),
            Some("7")
        );
        assert!(events[1].dedup_key.starts_with("sha256:"));
    }
}
