//! The JSON forms of the component's WIT records: what the CLI prints and what a
//! workflow host would store. Event JSON is exactly the trigger's documented output.

use serde_json::{Map, Value, json};

use crate::bindings::{
    Account, ConnectorError, Event, GraphError, Removal, SendOutput, WebhookError,
};

/// `{messaging_product, contacts: [{input, wa_id}], messages: [{id}]}`.
pub fn send_output(output: &SendOutput) -> Value {
    json!({
        "messaging_product": output.messaging_product,
        "contacts": output.contacts.iter()
            .map(|c| json!({"input": c.input, "wa_id": c.wa_id}))
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

/// JSON text the component produced, parsed back; kept as a string if it is not JSON.
fn embedded(json_text: &str) -> Value {
    serde_json::from_str(json_text).unwrap_or_else(|_| json_text.into())
}

/// The trigger's documented output for one event.
pub fn event(event: &Event) -> Value {
    let change = &event.entry.changes;
    let m = &change.messages;
    let mut message = Map::new();
    message.insert("from".into(), m.from.clone().into());
    message.insert("id".into(), m.id.clone().into());
    message.insert("timestamp".into(), m.timestamp.clone().into());
    message.insert("type".into(), m.type_.clone().into());
    if let Some(text) = &m.text {
        message.insert("text".into(), json!({"body": text.body}));
    }
    if let Some(context) = &m.context {
        message.insert("context".into(), embedded(context));
    }
    if let Some(errors) = &m.errors {
        message.insert("errors".into(), embedded(errors));
    }
    if let Some(content) = &m.content {
        message
            .entry(m.type_.clone())
            .or_insert_with(|| embedded(content));
    }
    let mut changes = Map::new();
    changes.insert(
        "value".into(),
        json!({
            "messaging_product": change.value.messaging_product,
            "metadata": {
                "display_phone_number": change.value.metadata.display_phone_number,
                "phone_number_id": change.value.metadata.phone_number_id,
            },
        }),
    );
    if let Some(contact) = &change.contacts {
        let mut c = Map::new();
        if let Some(name) = &contact.profile_name {
            c.insert("profile".into(), json!({"name": name}));
        }
        c.insert("wa_id".into(), contact.wa_id.clone().into());
        changes.insert("contacts".into(), c.into());
    }
    changes.insert("messages".into(), message.into());
    json!({
        "object": event.object,
        "entry": {"id": event.entry.id, "changes": changes},
    })
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
