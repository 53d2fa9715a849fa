//! Trigger "Marketing preference changed": a customer stopped or resumed marketing
//! messages from the business (WhatsApp's "Offers and announcements" setting).
//!
//! Meta reports it with the `user_preferences` webhook, `value.user_preferences[]` of
//! `{wa_id, detail, category: "marketing_messages", value: "stop" | "resume", timestamp}`
//! (a number), next to the customer's `contacts` card (Meta's "user_preferences webhook
//! reference"). After a `stop`, a marketing template to that customer fails with 131050:
//! a workflow that keeps its own list in step stops sending before Meta refuses. One
//! [`PreferenceEvent`] per element, read leniently: nothing is dropped for its shape.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;

use crate::identity::{Identifiers, SenderFilter};
use crate::trigger;
use crate::webhook::{self, Contact, OBJECT, RawJson, Value, wire};

/// The webhook field Meta reports preferences under.
pub const FIELD: &str = "user_preferences";

/// One change of preference: the trigger's documented output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreferenceEvent {
    pub object: String,
    pub entry: PreferenceEntry,
    /// `wa_id:category:value:timestamp`, or `sha256:` of the element's JSON text when
    /// one is missing. Not part of the documented output.
    #[serde(skip)]
    pub dedup_key: String,
}

/// `entry`, narrowed to one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreferenceEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub changes: PreferenceChange,
}

/// `entry.changes`, narrowed to one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreferenceChange {
    pub value: Value,
    /// The customer's contact card, when the change has one for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Contact>,
    pub user_preferences: Preference,
}

/// `user_preferences[]`: one change, every member kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preference {
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
    /// `marketing_messages`.
    pub category: Option<String>,
    /// `stop` or `resume`.
    pub value: Option<String>,
    pub detail: Option<String>,
    /// Unix seconds: a number in Meta's webhook, kept as its JSON text. A `timestamp`
    /// of another type is carried among the others.
    pub timestamp: Option<RawJson>,
    pub others: Vec<(String, RawJson)>,
    /// The element itself when it is not an object, or repeats a key.
    pub raw: Option<RawJson>,
}

impl Serialize for Preference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(raw) = &self.raw {
            return raw.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in [
            ("wa_id", &self.wa_id),
            ("user_id", &self.user_id),
            ("detail", &self.detail),
            ("category", &self.category),
            ("value", &self.value),
        ] {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        if let Some(timestamp) = &self.timestamp {
            map.serialize_entry("timestamp", timestamp)?;
        }
        for (key, value) in &self.others {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// One `user_preferences[]` element, every member kept.
fn preference(raw: &RawValue) -> Preference {
    let mut p = Preference::default();
    let others = wire::members_into(raw, |key, value| {
        let slot = match key {
            "wa_id" => &mut p.wa_id,
            "user_id" => &mut p.user_id,
            "category" => &mut p.category,
            "value" => &mut p.value,
            "detail" => &mut p.detail,
            "timestamp" => {
                p.timestamp = wire::is_number(value).then(|| value.into());
                return p.timestamp.is_some();
            }
            _ => return false,
        };
        *slot = wire::string(value);
        slot.is_some()
    });
    match others {
        Some(others) => Preference { others, ..p },
        None => Preference {
            raw: Some(RawJson::from(raw)),
            ..Preference::default()
        },
    }
}

/// Parses a webhook body into preference events of `customer` (every customer when
/// `None`), each handed to `convert` as it is made.
pub fn events_into<T>(
    body: &[u8],
    customer: Option<&SenderFilter>,
    mut convert: impl FnMut(PreferenceEvent) -> T,
) -> Result<Vec<T>, String> {
    let payload = webhook::read(body)?;
    let mut events = Vec::new();
    for (entry, _, value) in webhook::changes_of(&payload, |f| f == Some(FIELD)) {
        let preferences = value.user_preferences.0.as_deref().unwrap_or_default();
        if preferences.is_empty() {
            continue;
        }
        let contacts: Vec<Contact> = value
            .contacts
            .0
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.0.as_ref().map(|o| o.0.to_contact()))
            .collect();
        let shared = value.to_value();
        for raw in preferences {
            let preference = preference(raw);
            let contact = match (&preference.wa_id, contacts.as_slice()) {
                (Some(wa_id), _) => contacts
                    .iter()
                    .find(|c| c.wa_id.as_ref() == Some(wa_id))
                    .or(match contacts.as_slice() {
                        [only] if only.wa_id.is_none() => Some(only),
                        _ => None,
                    }),
                (None, [only]) => Some(only),
                (None, _) => None,
            };
            let passes = customer.is_none_or(|filter| {
                filter.matches(Identifiers {
                    phone: preference.wa_id.as_deref(),
                    user_id: preference.user_id.as_deref(),
                    wa_id: contact.and_then(|c| c.wa_id.as_deref()),
                    contact_user_id: contact.and_then(|c| c.user_id.as_deref()),
                    ..Identifiers::default()
                })
            });
            if !passes {
                continue;
            }
            let dedup_key = match &preference {
                Preference {
                    wa_id: Some(wa_id),
                    category: Some(category),
                    value: Some(value),
                    timestamp: Some(timestamp),
                    ..
                } => format!("{wa_id}:{category}:{value}:{}", timestamp.get()),
                _ => webhook::dedup_key(None, raw.get()),
            };
            events.push(convert(PreferenceEvent {
                object: OBJECT.to_owned(),
                dedup_key,
                entry: PreferenceEntry {
                    id: entry.id.0.as_deref().map(str::to_owned),
                    changes: PreferenceChange {
                        value: shared.clone(),
                        contacts: contact.cloned(),
                        user_preferences: preference,
                    },
                },
            }));
        }
    }
    Ok(events)
}

/// Handles one request to the trigger's webhook URL, exactly as "Message received" does
/// (handshake, signature), with `customer` as the property.
pub fn handle_into<E>(
    request: trigger::WebhookRequest<'_>,
    customer: Option<&str>,
    secrets: trigger::Secrets<'_>,
    convert: impl FnMut(PreferenceEvent) -> E,
) -> Result<trigger::Outcome<E>, trigger::WebhookError> {
    trigger::handle_with(request, secrets, |body| {
        let customer = trigger::who("customer", customer)?;
        events_into(body, customer.as_ref(), convert).map_err(trigger::WebhookError::InvalidPayload)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(preferences: &str) -> String {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"contacts":[{{"profile":{{"name":"Sheena Nelson"}},"wa_id":"16505551234"}}],"user_preferences":[{preferences}]}},"field":"user_preferences"}}]}}]}}"#
        )
    }

    const STOP: &str = r#"{"wa_id":"16505551234","detail":"User requested to stop marketing messages","category":"marketing_messages","value":"stop","timestamp":1731705721}"#;

    #[test]
    fn a_stop_is_one_event_with_its_contact_and_a_readable_key() {
        let events = events_into(body(STOP).as_bytes(), None, |e| e).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(
            event.dedup_key,
            "16505551234:marketing_messages:stop:1731705721"
        );
        let p = &event.entry.changes.user_preferences;
        assert_eq!(p.value.as_deref(), Some("stop"));
        assert_eq!(p.timestamp.as_ref().map(RawJson::get), Some("1731705721"));
        assert_eq!(
            event
                .entry
                .changes
                .contacts
                .as_ref()
                .unwrap()
                .profile_name
                .as_deref(),
            Some("Sheena Nelson")
        );
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(
            json["entry"]["changes"]["user_preferences"],
            serde_json::json!({"wa_id": "16505551234", "detail": "User requested to stop marketing messages", "category": "marketing_messages", "value": "stop", "timestamp": 1731705721})
        );
        // A resume later is another event.
        let resume = STOP
            .replace("stop", "resume")
            .replace("1731705721", "1731705999");
        let later = events_into(body(&resume).as_bytes(), None, |e| e).unwrap();
        assert_ne!(later[0].dedup_key, event.dedup_key);
    }

    #[test]
    fn the_customer_filter_and_odd_shapes() {
        let mine = SenderFilter::parse(Some("+1 650 555 1234"))
            .unwrap()
            .unwrap();
        let theirs = SenderFilter::parse(Some("+1 650 555 0000"))
            .unwrap()
            .unwrap();
        assert_eq!(
            events_into(body(STOP).as_bytes(), Some(&mine), |e| e)
                .unwrap()
                .len(),
            1
        );
        assert!(
            events_into(body(STOP).as_bytes(), Some(&theirs), |e| e)
                .unwrap()
                .is_empty()
        );
        let odd = body(&format!(
            "{},{},\"x\"",
            STOP.replace("1731705721", "\"1731705721\""),
            STOP.replace("\"stop\"", "false")
        ));
        let events = events_into(odd.as_bytes(), None, |e| e).unwrap();
        assert_eq!(events.len(), 3);
        // A string timestamp is not Meta's number: carried among the others, as sent.
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(
            json["entry"]["changes"]["user_preferences"]["timestamp"],
            "1731705721"
        );
        assert_eq!(events[0].entry.changes.user_preferences.timestamp, None);
        let second = &events[1].entry.changes.user_preferences;
        assert_eq!(second.value, None);
        assert_eq!(
            second.others,
            [(
                "value".to_owned(),
                RawJson::from_string("false".into()).unwrap()
            )]
        );
        assert!(events[1].dedup_key.starts_with("sha256:"));
        assert!(events[2].entry.changes.user_preferences.raw.is_some());
        // Not a user_preferences change: nothing.
        let messages =
            body(STOP).replace("\"field\":\"user_preferences\"", "\"field\":\"messages\"");
        assert!(
            events_into(messages.as_bytes(), None, |e| e)
                .unwrap()
                .is_empty()
        );
    }
}
