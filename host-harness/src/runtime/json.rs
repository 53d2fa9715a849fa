//! The JSON forms of the component's outputs and errors: what the CLI prints, what the
//! webhook endpoint answers, what a workflow host would store. An event's JSON form is
//! the component's own ([`bindings::event`]); these are the rest.

use serde_json::{Map, Value, json};

use super::CallError;
use super::bindings::{
    self, Account, ConnectorError, DownloadOutput, Event, GraphError, SendOutput, TransferError,
    WebhookError,
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
        ConnectorError::ExecutionFailed => json!({"kind": "execution-failed"}),
    }
}

/// `{id, mime_type, sha256, file_size}`: what Download Media checked.
pub fn download_output(output: &DownloadOutput) -> Value {
    json!({
        "id": output.id,
        "mime_type": output.mime_type,
        "sha256": output.sha256,
        "file_size": output.file_size,
    })
}

/// A media transfer's error: a Graph call's error as [`connector_error`] gives it, or
/// `{"kind": "url-refused" | "mismatch" | "stream", ...}`.
pub fn transfer_error(error: &TransferError) -> Value {
    match error {
        TransferError::Request(e) => connector_error(e),
        TransferError::UrlRefused(reason) => json!({"kind": "url-refused", "reason": reason}),
        TransferError::Mismatch(m) => json!({
            "kind": "mismatch",
            "check": m.check,
            "expected": m.expected,
            "actual": m.actual,
        }),
        TransferError::Stream(reason) => json!({"kind": "stream", "reason": reason}),
        TransferError::ExecutionFailed => json!({"kind": "execution-failed"}),
    }
}

/// A webhook error: `{"kind": "<variant>", "reason": ...}` (and `field` for
/// `invalid-property`).
pub fn webhook_error(error: &WebhookError) -> Value {
    let (kind, reason) = bindings::webhook_error_parts(error);
    match error {
        WebhookError::InvalidProperty(f) => {
            json!({"kind": kind, "field": f.field, "reason": reason})
        }
        _ => json!({"kind": kind, "reason": reason}),
    }
}

/// One event's documented output as one line of JSON (no newline).
pub fn event_line(event: Event) -> anyhow::Result<String> {
    let mut line = Vec::new();
    write_event_line(&mut line, &bindings::event(event)?)?;
    line.pop(); // the newline
    Ok(String::from_utf8(line)?)
}

/// Appends an event's JSON form to `out` as one line, newline included. The event's
/// JSON-text fields are the body's own text, line breaks and all when Meta's JSON was
/// pretty-printed; outside a string a line break is only whitespace (serde_json escapes
/// those inside strings), so each becomes a space: the same JSON, on one line.
pub fn write_event_line(
    out: &mut Vec<u8>,
    event: &impl serde::Serialize,
) -> serde_json::Result<()> {
    let start = out.len();
    serde_json::to_writer(&mut *out, event)?;
    for byte in &mut out[start..] {
        if matches!(byte, b'\n' | b'\r') {
            *byte = b' ';
        }
    }
    out.push(b'\n');
    Ok(())
}

/// A failure of the host itself: `{"kind": "timeout" | "memory-limit" | "trap" |
/// "host", "message": ...}`.
pub fn host_error(error: &CallError) -> Value {
    json!({"kind": error.kind(), "message": format!("{error:#}")})
}

/// Block or unblock's per-user results: `{"done": [...], "failed": [...]}`, each user
/// `{input, wa_id?, errors: [{code?, message?, details?, hint?}]}`.
pub fn users_output(output: &bindings::UsersOutput) -> Value {
    let users = |list: &[bindings::block_users::UserResult]| -> Vec<Value> {
        list.iter()
            .map(|u| {
                json!({
                    "input": u.input,
                    "wa_id": u.wa_id,
                    "errors": u.errors.iter().map(|e| json!({
                        "code": e.code,
                        "message": e.message,
                        "details": e.details,
                        "hint": e.hint,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    json!({"done": users(&output.done), "failed": users(&output.failed)})
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    #[test]
    fn an_event_line_has_no_line_break_but_its_last() {
        #[derive(serde::Serialize)]
        struct Event {
            text: String,
            content: Box<RawValue>,
        }
        let event = Event {
            text: "two\nlines".into(),
            content: RawValue::from_string("{\n  \"id\": \"42\",\r\n  \"n\": [1,\n2]\n}".into())
                .unwrap(),
        };
        let mut out = b"before\n".to_vec();
        super::write_event_line(&mut out, &event).unwrap();
        let line = std::str::from_utf8(&out)
            .unwrap()
            .strip_prefix("before\n")
            .unwrap();
        let line = line.strip_suffix('\n').unwrap();
        assert!(!line.contains(['\n', '\r']), "{line}");
        let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"text": "two\nlines", "content": {"id": "42", "n": [1, 2]}})
        );
    }
}
