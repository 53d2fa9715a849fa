//! The JSON forms of the component's WIT records: what the CLI prints and what a
//! workflow host would store. Event JSON is exactly the trigger's documented output.

use serde_json::{Map, Value, json};
use whatsapp_connector::webhook::{self, RawJson};

use crate::bindings::{
    Account, ConnectorError, Event, GraphError, Removal, SendOutput, WebhookError,
};

/// `{messaging_product, contacts: [{input, wa_id?, user_id?}], messages: [{id}]}`.
pub fn send_output(output: &SendOutput) -> Value {
    json!({
        "messaging_product": output.messaging_product,
        "contacts": output.contacts.iter()
            .map(|c| {
                let mut contact = Map::new();
                contact.insert("input".into(), c.input.clone().into());
                if let Some(wa_id) = &c.wa_id {
                    contact.insert("wa_id".into(), wa_id.clone().into());
                }
                if let Some(user_id) = &c.user_id {
                    contact.insert("user_id".into(), user_id.clone().into());
                }
                Value::Object(contact)
            })
            .collect::<Vec<_>>(),
        "messages": output.messages.iter().map(|m| json!({"id": m.id})).collect::<Vec<_>>(),
    })
}

/// `{display_phone_number, verified_name, quality_rating}`.
pub fn account(account: &Account) -> Value {
    json!({
        "display_phone_number": account.display_phone_number,
        "verified_name": account.verified_name,
        "quality_rating": account.quality_rating,
    })
}

fn graph_error(kind: &str, e: &GraphError) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("kind".into(), kind.into());
    map.insert("status".into(), e.status.into());
    map.insert("message".into(), e.message.clone().into());
    map.insert("type".into(), e.error_type.clone().into());
    map.insert("code".into(), e.code.into());
    map.insert("error_subcode".into(), e.error_subcode.into());
    map.insert("details".into(), e.details.clone().into());
    map.insert("fbtrace_id".into(), e.fbtrace_id.clone().into());
    map.insert("retryable".into(), e.retryable.into());
    if let Some(hint) = &e.hint {
        map.insert("hint".into(), hint.clone().into());
    }
    map
}

/// A Graph call's error: `{"kind": "<variant>", ...fields}`.
pub fn connector_error(error: &ConnectorError) -> Value {
    match error {
        ConnectorError::InvalidInput(f) => {
            json!({"kind": "invalid-input", "field": f.field, "reason": f.reason})
        }
        ConnectorError::Unauthorized(e) => graph_error("unauthorized", e).into(),
        ConnectorError::Graph(e) => graph_error("graph", e).into(),
        ConnectorError::RateLimited(r) => {
            let mut map = graph_error("rate-limited", &r.error);
            map.insert("retry_after".into(), r.retry_after.into());
            map.into()
        }
        ConnectorError::Transport(t) => {
            json!({"kind": "transport", "message": t.message, "retryable": t.retryable})
        }
        ConnectorError::UnexpectedResponse(u) => json!({
            "kind": "unexpected-response",
            "status": u.status,
            "reason": u.reason,
            "retryable": u.retryable,
        }),
    }
}

/// A webhook error: `{"kind": "<variant>", "reason": ...}`.
pub fn webhook_error(error: &WebhookError) -> Value {
    let (kind, reason) = match error {
        WebhookError::InvalidSignature(r) => ("invalid-signature", r),
        WebhookError::InvalidPayload(r) => ("invalid-payload", r),
        WebhookError::VerificationFailed(r) => ("verification-failed", r),
        WebhookError::InvalidHandshake(r) => ("invalid-handshake", r),
        WebhookError::MethodNotAllowed(r) => ("method-not-allowed", r),
        WebhookError::InvalidProperty(f) => {
            return json!({"kind": "invalid-property", "field": f.field, "reason": f.reason});
        }
    };
    json!({"kind": kind, "reason": reason})
}

/// The HTTP status a webhook endpoint answers a refused request with.
pub fn webhook_error_status(error: &WebhookError) -> u16 {
    match error {
        WebhookError::InvalidSignature(_) => 401,
        WebhookError::InvalidPayload(_) | WebhookError::InvalidHandshake(_) => 400,
        WebhookError::VerificationFailed(_) => 403,
        WebhookError::MethodNotAllowed(_) => 405,
        WebhookError::InvalidProperty(_) => 500,
    }
}

/// A JSON-text field of an event that is not JSON: the component broke its contract.
#[derive(Debug, thiserror::Error)]
#[error("the component returned an event whose `{field}` is not JSON: {source}")]
pub struct InvalidEventJson {
    field: String,
    source: serde_json::Error,
}

/// The event as the component's domain type, whose `Serialize` is the trigger's
/// documented output. JSON-text fields are checked to be JSON (the component is
/// untrusted) but never parsed into a tree, so any depth comes through unchanged.
pub fn event(event: Event) -> Result<webhook::Event, InvalidEventJson> {
    let json = |field: &str, text: String| {
        RawJson::from_string(text).map_err(|source| InvalidEventJson {
            field: field.to_owned(),
            source,
        })
    };
    let raw = |field: &str, text: Option<String>| text.map(|text| json(field, text)).transpose();
    let change = event.entry.changes;
    let m = change.messages;
    Ok(webhook::Event {
        object: event.object,
        dedup_key: event.dedup_key,
        entry: webhook::Entry {
            id: event.entry.id,
            changes: webhook::Change {
                value: webhook::Value {
                    messaging_product: change.value.messaging_product,
                    metadata: change.value.metadata.map(|m| webhook::Metadata {
                        display_phone_number: m.display_phone_number,
                        phone_number_id: m.phone_number_id,
                    }),
                },
                contacts: change.contacts.map(|c| webhook::Contact {
                    profile_name: c.profile_name,
                    username: c.username,
                    wa_id: c.wa_id,
                    user_id: c.user_id,
                    parent_user_id: c.parent_user_id,
                }),
                messages: webhook::Message {
                    from: m.from,
                    from_user_id: m.from_user_id,
                    from_parent_user_id: m.from_parent_user_id,
                    id: m.id,
                    timestamp: m.timestamp,
                    kind: m.type_,
                    text: m.text.map(|t| t.body),
                    context: raw("context", m.context)?,
                    content: raw("content", m.content)?,
                    errors: raw("errors", m.errors)?,
                    others: m
                        .others
                        .into_iter()
                        .map(|member| Ok((member.name.clone(), json(&member.name, member.json)?)))
                        .collect::<Result<_, InvalidEventJson>>()?,
                    raw: raw("raw", m.raw)?,
                },
            },
        },
    })
}

/// One event's documented output as one line of JSON (no newline).
pub fn event_line(event: Event) -> anyhow::Result<String> {
    Ok(serde_json::to_string(&self::event(event)?)?)
}

/// A failure of the host itself (loading, trapping, I/O): `{"kind": "host", ...}`.
pub fn host_error(error: &anyhow::Error) -> Value {
    match error.downcast_ref::<crate::HostError>() {
        Some(stopped) => json!({"kind": stopped.kind(), "message": stopped.to_string()}),
        None => json!({"kind": "host", "message": format!("{error:#}")}),
    }
}

/// What `disable` did, as the WIT enum case names it.
pub fn removal(removal: Removal) -> &'static str {
    match removal {
        Removal::Removed => "removed",
        Removal::NothingToRemove => "nothing-to-remove",
        Removal::Superseded => "superseded",
    }
}
