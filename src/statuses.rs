//! Trigger "Message status updated": what became of a message the business sent. Meta
//! reports each step (`sent`, `delivered`, `read`, `failed`) on the same webhook as the
//! incoming messages, under `value.statuses`; the errors that matter most arrive only
//! here (131047: more than 24 hours since the customer last wrote; 131026:
//! undeliverable; 131049: marketing limit).
//!
//! One [`StatusEvent`] per status, in the documented nesting
//! `{object, entry: {id, changes: {value, statuses}}}`, read as leniently as messages
//! (see [`crate::webhook`]): nothing is dropped for its shape.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;

use crate::graph;
use crate::identity::{Identifiers, SenderFilter};
use crate::trigger;
use crate::webhook::{self, OBJECT, RawJson, Value, wire};

/// The statuses Meta reports for a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl StatusKind {
    /// The `status` value Meta sends.
    pub fn name(self) -> &'static str {
        match self {
            StatusKind::Sent => "sent",
            StatusKind::Delivered => "delivered",
            StatusKind::Read => "read",
            StatusKind::Failed => "failed",
        }
    }
}

/// Which statuses fire the trigger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusFilter {
    /// The statuses that fire; empty: every status (one Meta adds later included).
    pub kinds: Vec<StatusKind>,
    /// Only statuses of messages sent to this recipient: a phone number (compared by
    /// digits with `recipient_id`) or a BSUID (compared exactly with `recipient_user_id`
    /// and `recipient_parent_user_id`).
    pub recipient: Option<SenderFilter>,
}

impl StatusFilter {
    fn passes(&self, status: &Status) -> bool {
        let kind_passes = self.kinds.is_empty()
            || self
                .kinds
                .iter()
                .any(|kind| status.status.as_deref() == Some(kind.name()));
        let recipient_passes = self.recipient.as_ref().is_none_or(|filter| {
            let to_group = status.recipient_type.as_deref() == Some("group");
            filter.matches(Identifiers {
                phone: status.recipient_id.as_deref().filter(|_| !to_group),
                user_id: status.recipient_user_id.as_deref(),
                parent_user_id: status.recipient_parent_user_id.as_deref(),
                group_id: status.recipient_id.as_deref().filter(|_| to_group),
                ..Identifiers::default()
            })
        });
        kind_passes && recipient_passes
    }
}

/// One status update: the trigger's documented output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEvent {
    pub object: String,
    pub entry: StatusEntry,
    /// The status ID and the status (`wamid.…:delivered`), so that `delivered` and `read`
    /// of one message are two events and a redelivery of either is one; for a status
    /// without an ID, `sha256:` of its JSON text. Not part of the documented output.
    #[serde(skip)]
    pub dedup_key: String,
}

/// `entry`, narrowed to one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub changes: StatusChange,
}

/// `entry.changes`, narrowed to one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub value: Value,
    pub statuses: Status,
}

/// `statuses[]`: one status, every member kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    /// The sent message's ID.
    pub id: Option<String>,
    /// `sent`, `delivered`, `read`, `failed`, …
    pub status: Option<String>,
    pub timestamp: Option<String>,
    /// The recipient's phone number; absent when the message went to a BSUID and Meta
    /// does not share the number.
    pub recipient_id: Option<String>,
    pub recipient_user_id: Option<String>,
    pub recipient_parent_user_id: Option<String>,
    /// `recipient_type`: `group` for a send to a group.
    pub recipient_type: Option<String>,
    /// For a send to a group: the participant this status is about. Their phone number
    /// (`recipient_participant_id`, when the message went to phone numbers), BSUID
    /// (`recipient_participant_user_id`) and parent BSUID
    /// (`recipient_participant_parent_user_id`).
    pub recipient_participant_id: Option<String>,
    pub recipient_participant_user_id: Option<String>,
    pub recipient_participant_parent_user_id: Option<String>,
    pub conversation: Option<RawJson>,
    pub pricing: Option<RawJson>,
    pub biz_opaque_callback_data: Option<String>,
    /// `errors[]`, for a failed status.
    pub errors: Vec<StatusError>,
    /// Every other member, raw (an `errors` that is not a list of error objects too).
    pub others: Vec<(String, RawJson)>,
    /// The element itself when it is not an object, or repeats a key.
    pub raw: Option<RawJson>,
}

/// One of a failed status's `errors[]`, with the hint the connector has for its code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusError {
    pub code: Option<i64>,
    pub title: Option<String>,
    pub message: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
    pub href: Option<String>,
    /// What a workflow author can do about it ([`graph::hint`]).
    pub hint: Option<String>,
}

impl Serialize for StatusError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct ErrorData<'a> {
            details: &'a str,
        }
        let mut map = serializer.serialize_map(None)?;
        if let Some(code) = self.code {
            map.serialize_entry("code", &code)?;
        }
        for (key, value) in [("title", &self.title), ("message", &self.message)] {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        if let Some(details) = &self.details {
            map.serialize_entry("error_data", &ErrorData { details })?;
        }
        for (key, value) in [("href", &self.href), ("hint", &self.hint)] {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(raw) = &self.raw {
            return raw.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in [
            ("id", &self.id),
            ("status", &self.status),
            ("timestamp", &self.timestamp),
            ("recipient_id", &self.recipient_id),
            ("recipient_user_id", &self.recipient_user_id),
            ("recipient_parent_user_id", &self.recipient_parent_user_id),
            ("recipient_type", &self.recipient_type),
            ("recipient_participant_id", &self.recipient_participant_id),
            (
                "recipient_participant_user_id",
                &self.recipient_participant_user_id,
            ),
            (
                "recipient_participant_parent_user_id",
                &self.recipient_participant_parent_user_id,
            ),
        ] {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, value) in [
            ("conversation", &self.conversation),
            ("pricing", &self.pricing),
        ] {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        if let Some(data) = &self.biz_opaque_callback_data {
            map.serialize_entry("biz_opaque_callback_data", data)?;
        }
        if !self.errors.is_empty() {
            map.serialize_entry("errors", &self.errors)?;
        }
        for (key, value) in &self.others {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Parses a webhook body into status events that pass `filter`, each handed to
/// `convert` as it is made (see [`webhook::events_into`]).
pub fn events_into<T>(
    body: &[u8],
    filter: &StatusFilter,
    mut convert: impl FnMut(StatusEvent) -> T,
) -> Result<Vec<T>, String> {
    let payload = webhook::read(body)?;
    // Sized once, as the message events are: growing by doubling would hold two copies.
    let most = webhook::changes(&payload)
        .map(|(_, value)| value.statuses.0.as_ref().map_or(0, Vec::len))
        .sum();
    let mut events = Vec::with_capacity(most);
    for (entry, value) in webhook::changes(&payload) {
        let statuses = value.statuses.0.as_deref().unwrap_or_default();
        if statuses.is_empty() {
            continue;
        }
        let shared = value.to_value();
        for raw in statuses {
            let status = status(raw);
            if !filter.passes(&status) {
                continue;
            }
            let dedup_key = match (&status.id, &status.status) {
                // Meta aggregates a group send's `delivered` and `read`: one webhook holds
                // one status object per participant, all with the same ID and status. The
                // participant tells them apart; without one, the object's own text (the
                // same on a redelivery).
                (Some(id), Some(kind)) if status.recipient_type.as_deref() == Some("group") => {
                    match status
                        .recipient_participant_id
                        .as_ref()
                        .or(status.recipient_participant_user_id.as_ref())
                    {
                        Some(participant) => format!("{id}:{kind}:{participant}"),
                        None => format!("{id}:{kind}:{}", webhook::dedup_key(None, raw.get())),
                    }
                }
                (Some(id), Some(kind)) => format!("{id}:{kind}"),
                (id, _) => webhook::dedup_key(id.as_deref(), raw.get()),
            };
            events.push(convert(StatusEvent {
                object: OBJECT.to_owned(),
                dedup_key,
                entry: StatusEntry {
                    id: entry.id.0.as_deref().map(str::to_owned),
                    changes: StatusChange {
                        value: shared.clone(),
                        statuses: status,
                    },
                },
            }));
        }
    }
    Ok(events)
}

/// Handles one request to the status trigger's webhook URL, exactly as "Message
/// received" does (handshake, signature), with `statuses` (empty: all) and `recipient`
/// as the properties; each event is handed to `convert` as it is made.
pub fn handle_into<E>(
    request: trigger::WebhookRequest<'_>,
    statuses: &[StatusKind],
    recipient: Option<&str>,
    secrets: trigger::Secrets<'_>,
    convert: impl FnMut(StatusEvent) -> E,
) -> Result<trigger::Outcome<E>, trigger::WebhookError> {
    trigger::handle_with(request, secrets, |body| {
        let recipient = trigger::who("recipient", recipient)?;
        let filter = StatusFilter {
            kinds: statuses.to_vec(),
            recipient,
        };
        events_into(body, &filter, convert).map_err(trigger::WebhookError::InvalidPayload)
    })
}

/// [`events_into`], keeping the domain events.
pub fn events(body: &[u8], filter: &StatusFilter) -> Result<Vec<StatusEvent>, String> {
    events_into(body, filter, |event| event)
}

/// A failed status's error as Meta documents it. One with any other member (in it, or in
/// its `error_data`) is not read into [`StatusError`]s: the whole `errors` is carried raw
/// instead, so that nothing of it is lost.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireError {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
    error_data: Option<WireErrorData>,
    href: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireErrorData {
    details: Option<String>,
}

/// One `statuses[]` element, every member kept.
fn status(raw: &RawValue) -> Status {
    let Ok(wire::Members(members)) = serde_json::from_str::<wire::Members<'_>>(raw.get()) else {
        return Status {
            raw: Some(RawJson::from(raw)),
            ..Status::default()
        };
    };
    let mut status = Status::default();
    for (key, value) in members {
        let slot = match key.as_ref() {
            "id" => &mut status.id,
            "status" => &mut status.status,
            "timestamp" => &mut status.timestamp,
            "recipient_id" => &mut status.recipient_id,
            "recipient_user_id" => &mut status.recipient_user_id,
            "recipient_parent_user_id" => &mut status.recipient_parent_user_id,
            "recipient_type" => &mut status.recipient_type,
            "recipient_participant_id" => &mut status.recipient_participant_id,
            "recipient_participant_user_id" => &mut status.recipient_participant_user_id,
            "recipient_participant_parent_user_id" => {
                &mut status.recipient_participant_parent_user_id
            }
            "biz_opaque_callback_data" => &mut status.biz_opaque_callback_data,
            "conversation" => {
                status.conversation = Some(value.into());
                continue;
            }
            "pricing" => {
                status.pricing = Some(value.into());
                continue;
            }
            "errors" => {
                match serde_json::from_str::<Vec<WireError>>(value.get()) {
                    Ok(errors) => {
                        status.errors = errors
                            .into_iter()
                            .map(|e| StatusError {
                                hint: e.code.and_then(graph::hint).map(str::to_owned),
                                code: e.code,
                                title: e.title,
                                message: e.message,
                                details: e.error_data.and_then(|d| d.details),
                                href: e.href,
                            })
                            .collect();
                    }
                    Err(_) => status.others.push((key.into_owned(), value.into())),
                }
                continue;
            }
            _ => {
                status.others.push((key.into_owned(), value.into()));
                continue;
            }
        };
        match wire::string(value) {
            Some(read) => *slot = Some(read),
            None => status.others.push((key.into_owned(), value.into())),
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILED: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.A","status":"failed","timestamp":"1750263773","recipient_id":"16505551234","errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"href":"https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]},{"id":"wamid.B","status":"delivered","timestamp":"1750263774","recipient_user_id":"US.1349","pricing":{"billable":true,"category":"utility"}}]}}]}]}"#;

    #[test]
    fn one_event_per_status_with_errors_and_hints() {
        let events = events(FAILED.as_bytes(), &StatusFilter::default()).unwrap();
        assert_eq!(events.len(), 2);
        let failed = &events[0].entry.changes.statuses;
        assert_eq!(failed.errors[0].code, Some(131047));
        assert!(
            failed.errors[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("template")
        );
        assert!(
            failed.errors[0]
                .details
                .as_deref()
                .unwrap()
                .contains("24 hours")
        );
        assert_eq!(events[0].dedup_key, "wamid.A:failed");
        assert_eq!(events[1].dedup_key, "wamid.B:delivered");
        let json = serde_json::to_value(&events[1]).unwrap();
        assert_eq!(
            json["entry"]["changes"]["statuses"]["pricing"]["category"],
            "utility"
        );
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(
            json["entry"]["changes"]["statuses"]["errors"][0]["error_data"]["details"],
            failed.errors[0].details.as_deref().unwrap()
        );
    }

    #[test]
    fn filters_by_status_and_recipient() {
        let only_failed = StatusFilter {
            kinds: vec![StatusKind::Failed],
            recipient: None,
        };
        assert_eq!(events(FAILED.as_bytes(), &only_failed).unwrap().len(), 1);
        let by_user = StatusFilter {
            kinds: vec![],
            recipient: SenderFilter::parse(Some("US.1349")).unwrap(),
        };
        let ids: Vec<_> = events(FAILED.as_bytes(), &by_user)
            .unwrap()
            .into_iter()
            .map(|e| e.entry.changes.statuses.id.unwrap())
            .collect();
        assert_eq!(ids, ["wamid.B"]);
        let by_phone = StatusFilter {
            kinds: vec![],
            recipient: SenderFilter::parse(Some("+1 650 555 1234")).unwrap(),
        };
        assert_eq!(events(FAILED.as_bytes(), &by_phone).unwrap().len(), 1);
    }

    #[test]
    fn odd_statuses_are_kept() {
        let body = FAILED.replace(
            r#""errors":[{"code":131047"#,
            r#""errors":"oops","x":[{"code":131047"#,
        );
        let events = events(body.as_bytes(), &StatusFilter::default()).unwrap();
        let others: Vec<&str> = events[0]
            .entry
            .changes
            .statuses
            .others
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(others, ["errors", "x"]);
    }

    #[test]
    fn an_error_with_members_meta_did_not_document_is_carried_whole() {
        let body = FAILED.replace(
            r#""error_data":{"details":"#,
            r#""error_user_msg":"Ask again","error_data":{"extra":7,"details":"#,
        );
        let events = events(body.as_bytes(), &StatusFilter::default()).unwrap();
        let failed = &events[0].entry.changes.statuses;
        assert!(failed.errors.is_empty());
        let json = serde_json::to_value(&events[0]).unwrap();
        let error = &json["entry"]["changes"]["statuses"]["errors"][0];
        assert_eq!(error["error_user_msg"], "Ask again");
        assert_eq!(error["error_data"]["extra"], 7);
        assert_eq!(error["code"], 131047);
    }
}
