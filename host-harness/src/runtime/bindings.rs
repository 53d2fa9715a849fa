//! The host bindings of the `whatsapp:connector/connector` world, and every conversion
//! between their types and the host's: this is the one module that knows both.
//!
//! The bindings reuse wasmtime-wasi-http's `wasi:http` and wasmtime-wasi's `wasi:io`,
//! clocks and random types. Where the component crate already has the domain type (a
//! [`Registration`], an [`Event`](webhook::Event) with its documented JSON form, the
//! webhook-error → HTTP status table), the host converts to it rather than keep a copy.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
    },
});

use whatsapp_connector::registration::Registration;
use whatsapp_connector::webhook::{self, RawJson};
use whatsapp_connector::{echoes, group_updates, preferences, statuses, trigger};

pub use exports::whatsapp::connector::block_users::{
    self as block_users, BlockedPage, ListInput as BlockedListInput, UsersInput, UsersOutput,
};
pub use exports::whatsapp::connector::connection::{
    Account, Connection as WitConnection, Error as ConnectorError, FieldError, GraphError,
};
pub use exports::whatsapp::connector::download_media::{
    Input as DownloadInput, Output as DownloadOutput, TransferError,
};
pub use exports::whatsapp::connector::group_updated::{
    self as group, Event as GroupEvent, Outcome as GroupOutcome, Properties as GroupProperties,
};
pub use exports::whatsapp::connector::groups::{
    self as groups, CreateInput as GroupCreateInput, Created as GroupCreated, GroupInput,
    InviteLink, RemoveInput as GroupRemoveInput,
};
pub use exports::whatsapp::connector::mark_as_read::Input as ReadInput;
pub use exports::whatsapp::connector::message_echoed::{
    Event as EchoEvent, Outcome as EchoOutcome, Properties as EchoProperties,
};
pub use exports::whatsapp::connector::message_received::{
    Event, Outcome, Properties, Registration as WitRegistration, Removal, WebhookError,
    WebhookRequest, WebhookResponse, WebhookSecrets,
};
pub use exports::whatsapp::connector::preference_changed::{
    Event as PreferenceEvent, Outcome as PreferenceOutcome, Properties as PreferenceProperties,
};
pub use exports::whatsapp::connector::send_flow::{self as flow, Input as FlowInput};
pub use exports::whatsapp::connector::send_interactive::{
    self as interactive, Input as InteractiveInput,
};
pub use exports::whatsapp::connector::send_location::Input as LocationInput;
pub use exports::whatsapp::connector::send_media::{self as media, Input as MediaInput};
pub use exports::whatsapp::connector::send_message::{Input as SendInput, Output as SendOutput};
pub use exports::whatsapp::connector::send_reaction::Input as ReactionInput;
pub use exports::whatsapp::connector::send_template::{self as template, Input as TemplateInput};
pub use exports::whatsapp::connector::status_updated::{
    self as status, Event as StatusEvent, Outcome as StatusOutcome, Properties as StatusProperties,
};
pub use exports::whatsapp::connector::upload_media::{
    Input as UploadInput, Output as UploadOutput,
};

/// The connection as the component takes it.
pub fn connection(c: &super::Connection) -> WitConnection {
    WitConnection {
        system_user_access_token: c.system_user_access_token.expose().clone(),
        phone_number_id: c.phone_number_id.clone(),
        app_secret: c.app_secret.as_ref().map(|s| s.expose().clone()),
        verify_token: c.verify_token.as_ref().map(|s| s.expose().clone()),
    }
}

pub fn registration_from_wit(r: WitRegistration) -> Registration {
    Registration {
        phone_number_id: r.phone_number_id,
        callback_url: r.callback_url,
        verify_token: r.verify_token.into(),
        created_at: r.created_at,
    }
}

pub fn registration_to_wit(r: &Registration) -> WitRegistration {
    WitRegistration {
        phone_number_id: r.phone_number_id.clone(),
        callback_url: r.callback_url.clone(),
        verify_token: r.verify_token.expose().clone(),
        created_at: r.created_at,
    }
}

/// What `disable` did, as the WIT enum case names it.
pub fn removal_name(removal: Removal) -> &'static str {
    match removal {
        Removal::Removed => "removed",
        Removal::NothingToRemove => "nothing-to-remove",
        Removal::Superseded => "superseded",
    }
}

/// The WIT `webhook-error` variant's name, and its reason.
pub fn webhook_error_parts(error: &WebhookError) -> (&'static str, &str) {
    match error {
        WebhookError::InvalidSignature(r) => ("invalid-signature", r),
        WebhookError::InvalidPayload(r) => ("invalid-payload", r),
        WebhookError::VerificationFailed(r) => ("verification-failed", r),
        WebhookError::InvalidHandshake(r) => ("invalid-handshake", r),
        WebhookError::MethodNotAllowed(r) => ("method-not-allowed", r),
        WebhookError::InvalidProperty(f) => ("invalid-property", &f.reason),
        WebhookError::ExecutionFailed => (
            "execution-failed",
            "the call did not complete (the host's own report)",
        ),
    }
}

/// The HTTP status a webhook endpoint answers a refused request with: the component's
/// own table ([`trigger::http_status`]).
pub fn webhook_error_status(error: &WebhookError) -> u16 {
    trigger::http_status(webhook_error_parts(error).0)
}

/// A JSON-text field of an event that is not JSON: the component broke its contract.
#[derive(Debug, thiserror::Error)]
#[error("the component returned an event whose `{field}` is not JSON: {source}")]
pub struct InvalidEventJson {
    field: String,
    source: serde_json::Error,
}

fn raw_json(field: &str, text: String) -> Result<RawJson, InvalidEventJson> {
    RawJson::from_string(text).map_err(|source| InvalidEventJson {
        field: field.to_owned(),
        source,
    })
}

/// A status event as the component's domain type, whose `Serialize` is the status
/// trigger's documented output (JSON-text fields checked, never parsed into a tree).
pub fn status_event(event: StatusEvent) -> Result<statuses::StatusEvent, InvalidEventJson> {
    let raw = |field: &str, text: Option<String>| text.map(|t| raw_json(field, t)).transpose();
    let s = event.entry.changes.statuses;
    Ok(statuses::StatusEvent {
        object: event.object,
        dedup_key: event.dedup_key,
        entry: statuses::StatusEntry {
            id: event.entry.id,
            changes: statuses::StatusChange {
                value: value(event.entry.changes.value),
                statuses: statuses::Status {
                    id: s.id,
                    status: s.status,
                    timestamp: s.timestamp,
                    recipient_id: s.recipient_id,
                    recipient_user_id: s.recipient_user_id,
                    recipient_parent_user_id: s.recipient_parent_user_id,
                    recipient_type: s.recipient_type,
                    recipient_participant_id: s.recipient_participant_id,
                    recipient_participant_user_id: s.recipient_participant_user_id,
                    recipient_participant_parent_user_id: s.recipient_participant_parent_user_id,
                    conversation: raw("conversation", s.conversation)?,
                    pricing: raw("pricing", s.pricing)?,
                    biz_opaque_callback_data: s.biz_opaque_callback_data,
                    errors: s
                        .errors
                        .into_iter()
                        .map(|e| statuses::StatusError {
                            code: e.code,
                            title: e.title,
                            message: e.message,
                            details: e.details,
                            href: e.href,
                            hint: e.hint,
                        })
                        .collect(),
                    others: members(s.others)?,
                    raw: raw("raw", s.raw)?,
                },
            },
        },
    })
}

fn value(v: exports::whatsapp::connector::message_received::Value) -> webhook::Value {
    webhook::Value {
        messaging_product: v.messaging_product,
        metadata: v.metadata.map(|m| webhook::Metadata {
            display_phone_number: m.display_phone_number,
            phone_number_id: m.phone_number_id,
        }),
    }
}

fn members(
    members: Vec<exports::whatsapp::connector::message_received::JsonMember>,
) -> Result<Vec<(String, RawJson)>, InvalidEventJson> {
    members
        .into_iter()
        .map(|member| {
            let value = raw_json(&member.name, member.json)?;
            Ok((member.name, value))
        })
        .collect()
}

/// The event as the component's domain type, whose `Serialize` is the trigger's
/// documented output. JSON-text fields are checked to be JSON (the component is
/// untrusted) but never parsed into a tree, so any depth comes through unchanged.
pub fn event(event: Event) -> Result<webhook::Event, InvalidEventJson> {
    let change = event.entry.changes;
    let m = change.messages;
    Ok(webhook::Event {
        object: event.object,
        dedup_key: event.dedup_key,
        entry: webhook::Entry {
            id: event.entry.id,
            changes: webhook::Change {
                value: value(change.value),
                contacts: change.contacts.map(contact),
                messages: message(m)?,
            },
        },
    })
}

/// A message as the component's domain type (JSON-text fields checked).
fn message(
    m: exports::whatsapp::connector::message_received::Message,
) -> Result<webhook::Message, InvalidEventJson> {
    let raw = |field: &str, text: Option<String>| text.map(|t| raw_json(field, t)).transpose();
    Ok(webhook::Message {
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
        group_id: m.group_id,
        original_message_id: m.original_message_id,
        flow_reply: m
            .flow_reply
            .map(|r| {
                Ok::<_, InvalidEventJson>(webhook::FlowReply {
                    response: raw("flow_reply.response", r.response)?,
                    flow_token: r.flow_token,
                    invalid_reason: r.invalid_reason,
                })
            })
            .transpose()?,
        others: members(m.others)?,
        raw: raw("raw", m.raw)?,
    })
}

fn contact(c: exports::whatsapp::connector::message_received::Contact) -> webhook::Contact {
    webhook::Contact {
        profile_name: c.profile_name,
        username: c.username,
        wa_id: c.wa_id,
        user_id: c.user_id,
        parent_user_id: c.parent_user_id,
    }
}

/// An echo event as the component's domain type, whose `Serialize` is trigger "Message
/// echoed"'s documented output.
pub fn echo_event(event: EchoEvent) -> Result<echoes::EchoEvent, InvalidEventJson> {
    let change = event.entry.changes;
    Ok(echoes::EchoEvent {
        object: event.object,
        dedup_key: event.dedup_key,
        entry: echoes::EchoEntry {
            id: event.entry.id,
            changes: echoes::EchoChange {
                value: value(change.value),
                message_echoes: echoes::Echo {
                    to: change.message_echoes.to,
                    message: message(change.message_echoes.message)?,
                },
            },
        },
    })
}

/// A preference event as the component's domain type (trigger "Marketing preference
/// changed"'s documented output).
pub fn preference_event(
    event: PreferenceEvent,
) -> Result<preferences::PreferenceEvent, InvalidEventJson> {
    let raw = |field: &str, text: Option<String>| text.map(|t| raw_json(field, t)).transpose();
    let change = event.entry.changes;
    let p = change.user_preferences;
    Ok(preferences::PreferenceEvent {
        object: event.object,
        dedup_key: event.dedup_key,
        entry: preferences::PreferenceEntry {
            id: event.entry.id,
            changes: preferences::PreferenceChange {
                value: value(change.value),
                contacts: change.contacts.map(contact),
                user_preferences: preferences::Preference {
                    wa_id: p.wa_id,
                    user_id: p.user_id,
                    category: p.category,
                    value: p.value,
                    detail: p.detail,
                    timestamp: raw("timestamp", p.timestamp)?,
                    others: members(p.others)?,
                    raw: raw("raw", p.raw)?,
                },
            },
        },
    })
}

/// A group event as the component's domain type (trigger "Group updated"'s documented
/// output).
pub fn group_event(event: GroupEvent) -> Result<group_updates::GroupEvent, InvalidEventJson> {
    let raw = |field: &str, text: Option<String>| text.map(|t| raw_json(field, t)).transpose();
    let change = event.entry.changes;
    let u = change.groups;
    Ok(group_updates::GroupEvent {
        object: event.object,
        dedup_key: event.dedup_key,
        entry: group_updates::GroupEntry {
            id: event.entry.id,
            changes: group_updates::GroupChange {
                field: change.field,
                value: value(change.value),
                groups: group_updates::GroupUpdate {
                    group_id: u.group_id,
                    kind: u.type_,
                    timestamp: u.timestamp,
                    request_id: u.request_id,
                    errors: raw("errors", u.errors)?,
                    others: members(u.others)?,
                    raw: raw("raw", u.raw)?,
                },
            },
        },
    })
}

/// Trigger "Group updated"'s properties from the webhook fields' names as a host stores
/// them (`lifecycle`, `participants`, `settings`, `status`).
pub fn group_properties(
    fields: &[String],
    group_id: Option<String>,
) -> anyhow::Result<GroupProperties> {
    use group::GroupField as F;
    let fields = fields
        .iter()
        .map(|name| {
            Ok(match name.as_str() {
                "lifecycle" => F::Lifecycle,
                "participants" => F::Participants,
                "settings" => F::Settings,
                "status" => F::Status,
                other => anyhow::bail!(
                    "{other:?} is not a group update (lifecycle, participants, settings, status)"
                ),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(GroupProperties { fields, group_id })
}

/// A webhook request as the component crate's domain code takes it (the benchmark's
/// native baseline runs that code directly).
pub fn trigger_request(request: &WebhookRequest) -> trigger::WebhookRequest<'_> {
    trigger::WebhookRequest {
        method: &request.method,
        headers: &request.headers,
        query: &request.query,
        body: &request.body,
    }
}

/// Trigger "Message status updated"'s properties from the statuses' names (`sent`,
/// `delivered`, `read`, `failed`) as a host stores them.
pub fn status_properties(
    statuses: &[String],
    recipient: Option<String>,
) -> anyhow::Result<StatusProperties> {
    use status::StatusKind as K;
    let statuses = statuses
        .iter()
        .map(|name| {
            Ok(match name.as_str() {
                "sent" => K::Sent,
                "delivered" => K::Delivered,
                "read" => K::Read,
                "failed" => K::Failed,
                other => anyhow::bail!("{other:?} is not a status (sent, delivered, read, failed)"),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(StatusProperties {
        statuses,
        recipient,
    })
}
