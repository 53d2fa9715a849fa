//! Trigger "Group updated": what happened to the business's groups (Groups API).
//!
//! Meta reports it with four webhook fields, each a `value.groups[]` list (Meta's
//! "Webhooks for Groups API"): `group_lifecycle_update` (a group created, with its
//! invite link, or deleted; a failure carries `errors`), `group_participants_update`
//! (joins by invite link, join requests, leaves, removals), `group_settings_update`
//! and `group_status_update` (a suspension, or its end). Creating a group answers with a
//! request ID only; its result arrives here, carrying the same `request_id`. One
//! [`GroupEvent`] per element, read leniently: `group_id`, `type`, `timestamp` and
//! `request_id` are read, `errors` and every other member are carried as JSON.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::trigger;
use crate::webhook::{self, OBJECT, RawJson, Value, wire};

/// Meta's four group webhook fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupField {
    Lifecycle,
    Participants,
    Settings,
    Status,
}

impl GroupField {
    pub const ALL: [GroupField; 4] = [
        GroupField::Lifecycle,
        GroupField::Participants,
        GroupField::Settings,
        GroupField::Status,
    ];

    /// The webhook field's name.
    pub fn name(self) -> &'static str {
        match self {
            GroupField::Lifecycle => "group_lifecycle_update",
            GroupField::Participants => "group_participants_update",
            GroupField::Settings => "group_settings_update",
            GroupField::Status => "group_status_update",
        }
    }
}

/// Which updates fire the trigger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilter {
    /// The fields that fire; empty: all four.
    pub fields: Vec<GroupField>,
    /// Only this group's updates.
    pub group_id: Option<String>,
}

/// One group update: the trigger's documented output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupEvent {
    pub object: String,
    pub entry: GroupEntry,
    /// `sha256:` of the field and the update's JSON text. Not part of the documented
    /// output.
    #[serde(skip)]
    pub dedup_key: String,
}

/// `entry`, narrowed to one update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub changes: GroupChange,
}

/// `entry.changes`, narrowed to one update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupChange {
    /// Which of the four webhooks.
    pub field: String,
    pub value: Value,
    pub groups: GroupUpdate,
}

/// `groups[]`: one update, every member kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupUpdate {
    pub group_id: Option<String>,
    /// `type`: `group_create`, `group_delete`, `group_participants_add`, …
    pub kind: Option<String>,
    /// As Meta sent it: a string, or a number's JSON text.
    pub timestamp: Option<String>,
    pub request_id: Option<String>,
    pub errors: Option<RawJson>,
    pub others: Vec<(String, RawJson)>,
    /// The element itself when it is not an object, or repeats a key.
    pub raw: Option<RawJson>,
}

impl Serialize for GroupUpdate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(raw) = &self.raw {
            return raw.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in [
            ("timestamp", &self.timestamp),
            ("group_id", &self.group_id),
            ("type", &self.kind),
            ("request_id", &self.request_id),
        ] {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        if let Some(errors) = &self.errors {
            map.serialize_entry("errors", errors)?;
        }
        for (key, value) in &self.others {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// One `groups[]` element, every member kept. A `timestamp` that is not a string (Meta
/// sends strings) is carried among the others, so that its JSON form does not change.
fn update(raw: &RawValue) -> GroupUpdate {
    let mut u = GroupUpdate::default();
    let others = wire::members_into(raw, |key, value| {
        let slot = match key {
            "group_id" => &mut u.group_id,
            "type" => &mut u.kind,
            "timestamp" => &mut u.timestamp,
            "request_id" => &mut u.request_id,
            "errors" => {
                u.errors = Some(value.into());
                return true;
            }
            _ => return false,
        };
        *slot = wire::string(value);
        slot.is_some()
    });
    match others {
        Some(others) => GroupUpdate { others, ..u },
        None => GroupUpdate {
            raw: Some(RawJson::from(raw)),
            ..GroupUpdate::default()
        },
    }
}

/// Parses a webhook body into the group events that pass `filter`, each handed to
/// `convert` as it is made.
pub fn events_into<T>(
    body: &[u8],
    filter: &GroupFilter,
    mut convert: impl FnMut(GroupEvent) -> T,
) -> Result<Vec<T>, String> {
    let payload = webhook::read(body)?;
    let fields: &[GroupField] = if filter.fields.is_empty() {
        &GroupField::ALL
    } else {
        &filter.fields
    };
    let mut events = Vec::new();
    let wanted = |f: Option<&str>| fields.iter().any(|field| Some(field.name()) == f);
    for (entry, field, value) in webhook::changes_of(&payload, wanted) {
        let updates = value.groups.0.as_deref().unwrap_or_default();
        let field = field.unwrap_or_default();
        for raw in updates {
            let update = update(raw);
            if filter
                .group_id
                .as_ref()
                .is_some_and(|id| update.group_id.as_ref() != Some(id))
            {
                continue;
            }
            let mut digest = Sha256::new();
            digest.update(field.as_bytes());
            digest.update(b"\n");
            digest.update(raw.get().as_bytes());
            events.push(convert(GroupEvent {
                object: OBJECT.to_owned(),
                dedup_key: format!("sha256:{}", hex::encode(digest.finalize())),
                entry: GroupEntry {
                    id: entry.id.0.as_deref().map(str::to_owned),
                    changes: GroupChange {
                        field: field.to_owned(),
                        value: value.to_value(),
                        groups: update,
                    },
                },
            }));
        }
    }
    Ok(events)
}

/// Handles one request to the trigger's webhook URL, exactly as "Message received" does
/// (handshake, signature), with `filter` as the properties.
pub fn handle_into<E>(
    request: trigger::WebhookRequest<'_>,
    filter: &GroupFilter,
    secrets: trigger::Secrets<'_>,
    convert: impl FnMut(GroupEvent) -> E,
) -> Result<trigger::Outcome<E>, trigger::WebhookError> {
    trigger::handle_with(request, secrets, |body| {
        if filter.group_id.as_deref().is_some_and(str::is_empty) {
            return Err(trigger::WebhookError::InvalidProperty {
                field: "group-id",
                reason: "is empty; leave it out for every group".into(),
            });
        }
        events_into(body, filter, convert).map_err(trigger::WebhookError::InvalidPayload)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(field: &str, groups: &str) -> String {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"groups":[{groups}]}},"field":"{field}"}}]}}]}}"#
        )
    }

    const CREATED: &str = r#"{"timestamp":"1739321024","group_id":"G1","type":"group_create","request_id":"R1","subject":"Spring sale VIPs","invite_link":"https://chat.whatsapp.com/LINK"}"#;

    #[test]
    fn a_created_group_is_one_event_with_its_request_id() {
        let events = events_into(
            body("group_lifecycle_update", CREATED).as_bytes(),
            &GroupFilter::default(),
            |e| e,
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        let change = &events[0].entry.changes;
        assert_eq!(change.field, "group_lifecycle_update");
        assert_eq!(change.groups.request_id.as_deref(), Some("R1"));
        assert_eq!(change.groups.kind.as_deref(), Some("group_create"));
        assert_eq!(
            serde_json::to_value(&change.groups).unwrap(),
            serde_json::from_str::<serde_json::Value>(CREATED).unwrap()
        );
        assert!(events[0].dedup_key.starts_with("sha256:"));
        // The same update under another field is another event.
        let settings = events_into(
            body("group_settings_update", CREATED).as_bytes(),
            &GroupFilter::default(),
            |e| e,
        )
        .unwrap();
        assert_ne!(settings[0].dedup_key, events[0].dedup_key);
    }

    #[test]
    fn the_filters_and_odd_shapes() {
        let lifecycle = body("group_lifecycle_update", CREATED);
        let only = |fields: Vec<GroupField>, group_id: Option<&str>| {
            events_into(
                lifecycle.as_bytes(),
                &GroupFilter {
                    fields,
                    group_id: group_id.map(str::to_owned),
                },
                |e| e,
            )
            .unwrap()
            .len()
        };
        assert_eq!(only(vec![GroupField::Lifecycle], None), 1);
        assert_eq!(
            only(vec![GroupField::Participants, GroupField::Status], None),
            0
        );
        assert_eq!(only(vec![], Some("G1")), 1);
        assert_eq!(only(vec![], Some("G2")), 0);
        // A message webhook is no group update; a non-object element is carried raw.
        let messages = body("messages", CREATED);
        assert!(
            events_into(messages.as_bytes(), &GroupFilter::default(), |e| e)
                .unwrap()
                .is_empty()
        );
        let odd = body(
            "group_status_update",
            r#"[1],{"group_id":7,"type":"group_suspend"}"#,
        );
        let events = events_into(odd.as_bytes(), &GroupFilter::default(), |e| e).unwrap();
        assert_eq!(events.len(), 2);
        assert!(events[0].entry.changes.groups.raw.is_some());
        assert_eq!(events[1].entry.changes.groups.group_id, None);
        assert_eq!(events[1].entry.changes.groups.others[0].0, "group_id");
    }
}
