//! A webhook body → one event per incoming message, in the trigger's documented shape.
//!
//! Meta batches: one POST holds entries, each with changes, each change's `value` with
//! `contacts` and `messages`. Every message of every `messages` change becomes one
//! [`Event`], in order; status updates and other fields yield nothing.
//!
//! **No message is lost for its shape.** Only a body that is not a WhatsApp Business
//! Account webhook is refused: not JSON, not an object, an `object` other than
//! `whatsapp_business_account`, an `entry` that is not a list, or a key given twice in
//! the containers the trigger reads (an ambiguous document: which `from` is the sender
//! cannot be known, and Meta never sends one). Inside it the reader is lenient:
//!
//! - a field Meta made optional, or may make optional (`from`, `wa_id`, `id`,
//!   `timestamp`, `contacts`, `profile`, `metadata` and its parts), is simply absent
//!   from the event;
//! - a known field of an unexpected type (a `from` that is a number, say) is carried as
//!   raw JSON among the message's other members instead of being read;
//! - every other member of a message (`identity`, `referral`, `group_id`, whatever Meta
//!   adds) is carried as raw JSON;
//! - a `messages[]` element that is not an object, or repeats a key, becomes an event
//!   that carries it raw ([`Message::raw`]);
//! - an entry, change or value that is not an object, or a `changes` or `messages` that
//!   is not a list, holds no message that could be read, and yields nothing.
//!
//! The body is read in one pass into borrowed, lenient structs; each message is then
//! read from its raw slice. Raw JSON is validated once and carried as text
//! ([`RawJson`]), never parsed into a tree, so its depth never changes the output.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

pub use crate::flow::FlowReply;
use crate::identity::{Identifiers, SenderFilter};

/// The only `object` a WhatsApp Business Account webhook carries.
pub const OBJECT: &str = "whatsapp_business_account";

/// JSON text carried verbatim: valid JSON, never re-parsed into a tree.
#[derive(Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// Checks that `text` is one JSON value (at any depth: the check does not recurse).
    pub fn from_string(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(Self)
    }

    pub fn get(&self) -> &str {
        self.0.get()
    }

    pub(crate) fn as_raw(&self) -> &RawValue {
        &self.0
    }

    pub fn into_string(self) -> String {
        Box::<str>::from(self.0).into_string()
    }
}

impl From<&RawValue> for RawJson {
    fn from(raw: &RawValue) -> Self {
        Self(raw.to_owned())
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for RawJson {}

impl core::fmt::Debug for RawJson {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.get())
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// One incoming message with its context: the trigger's documented output
/// `{object, entry: {id, changes: {value, contacts, messages}}}` (its JSON form is this
/// type's `Serialize`), plus the key that deduplicates redeliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub object: String,
    pub entry: Entry,
    /// The message ID; for a message without one, `sha256:` and the SHA-256 of the
    /// message's JSON text, so that a redelivery of the same body gives the same key.
    /// Not part of the documented output.
    #[serde(skip)]
    pub dedup_key: String,
}

/// `entry`, narrowed to one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The WhatsApp Business Account ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub changes: Change,
}

/// `entry.changes`, narrowed to one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub value: Value,
    /// The sender's contact card, when the change has one for this message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Contact>,
    pub messages: Message,
}

/// `entry.changes.value`, without its lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Value {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messaging_product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// `value.metadata`: the business phone number that received the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
}

/// `contacts[]`: who sent the message. JSON: `{profile: {name, username}, wa_id,
/// user_id, parent_user_id}`, each only when present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    pub profile_name: Option<String>,
    pub username: Option<String>,
    /// The sender's phone number; absent for a username user who hides it.
    pub wa_id: Option<String>,
    /// The sender's BSUID.
    pub user_id: Option<String>,
    /// The sender's parent BSUID.
    pub parent_user_id: Option<String>,
}

/// `messages[]`: one incoming message, every member of it kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The sender's phone number; absent for a username user who hides it.
    pub from: Option<String>,
    /// The sender's BSUID.
    pub from_user_id: Option<String>,
    /// The sender's parent BSUID.
    pub from_parent_user_id: Option<String>,
    pub id: Option<String>,
    pub timestamp: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `text.body`, for text messages.
    pub text: Option<String>,
    pub context: Option<RawJson>,
    /// For any type but text: the object under the key named by `type`.
    pub content: Option<RawJson>,
    pub errors: Option<RawJson>,
    /// `group_id`: the group the message was sent in (Groups API).
    pub group_id: Option<String>,
    /// For `edit` and `revoke`: the ID of the message edited or deleted, read from
    /// `content` (its `original_message_id`).
    pub original_message_id: Option<String>,
    /// For an `interactive` `nfm_reply`: the Flow's answers, read from `content`.
    pub flow_reply: Option<FlowReply>,
    /// Every other member, raw, in order: `identity`, `referral`, a known member of an
    /// unexpected type, whatever Meta adds.
    pub others: Vec<(String, RawJson)>,
    /// The element itself when it is not an object, or repeats a key: nothing in it is
    /// interpreted, and it is carried whole.
    pub raw: Option<RawJson>,
}

impl Message {
    fn identifiers<'a>(&'a self, contact: Option<&'a Contact>) -> Identifiers<'a> {
        Identifiers {
            phone: self.from.as_deref(),
            user_id: self.from_user_id.as_deref(),
            parent_user_id: self.from_parent_user_id.as_deref(),
            wa_id: contact.and_then(|c| c.wa_id.as_deref()),
            contact_user_id: contact.and_then(|c| c.user_id.as_deref()),
            contact_parent_user_id: contact.and_then(|c| c.parent_user_id.as_deref()),
            group_id: self.group_id.as_deref(),
        }
    }
}

impl Serialize for Contact {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Profile<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            name: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            username: Option<&'a str>,
        }
        let mut map = serializer.serialize_map(None)?;
        if self.profile_name.is_some() || self.username.is_some() {
            let profile = Profile {
                name: self.profile_name.as_deref(),
                username: self.username.as_deref(),
            };
            map.serialize_entry("profile", &profile)?;
        }
        for (key, value) in [
            ("wa_id", &self.wa_id),
            ("user_id", &self.user_id),
            ("parent_user_id", &self.parent_user_id),
        ] {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_to(None, serializer)
    }
}

impl Message {
    /// The message's JSON form, with `to` after `from` when given (a message the
    /// business sent, [`crate::echoes`]).
    pub(crate) fn serialize_to<S: Serializer>(
        &self,
        to: Option<&String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if let Some(raw) = &self.raw {
            return raw.serialize(serializer);
        }
        #[derive(Serialize)]
        struct Text<'a> {
            body: &'a str,
        }
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in [
            ("from", self.from.as_ref()),
            ("to", to),
            ("from_user_id", self.from_user_id.as_ref()),
            ("from_parent_user_id", self.from_parent_user_id.as_ref()),
            ("id", self.id.as_ref()),
            ("timestamp", self.timestamp.as_ref()),
            ("type", self.kind.as_ref()),
        ] {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        if let Some(body) = &self.text {
            map.serialize_entry("text", &Text { body })?;
        }
        if let (Some(kind), Some(content)) = (&self.kind, &self.content) {
            map.serialize_entry(kind, content)?;
        }
        if let Some(context) = &self.context {
            map.serialize_entry("context", context)?;
        }
        if let Some(errors) = &self.errors {
            map.serialize_entry("errors", errors)?;
        }
        if let Some(group_id) = &self.group_id {
            map.serialize_entry("group_id", group_id)?;
        }
        if let Some(original) = &self.original_message_id {
            map.serialize_entry("original_message_id", original)?;
        }
        if let Some(reply) = &self.flow_reply {
            map.serialize_entry("flow_reply", reply)?;
        }
        for (key, value) in &self.others {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Parses a webhook body into events, keeping only messages that pass `filter` (every
/// message when `None`). The error says why and where the body is not a webhook.
pub fn events(body: &[u8], filter: Option<&SenderFilter>) -> Result<Vec<Event>, String> {
    events_into(body, filter, |event| event)
}

/// [`events`], each event handed to `convert` as soon as it is made: a caller that
/// needs another type (the component's bindings) never holds both lists at once, so
/// memory per event stays as small as the converted form.
pub fn events_into<T>(
    body: &[u8],
    filter: Option<&SenderFilter>,
    mut convert: impl FnMut(Event) -> T,
) -> Result<Vec<T>, String> {
    let payload = read(body)?;
    let values = || changes(&payload);
    // Sized once: growing a list of large events by doubling would hold two copies.
    let most = values()
        .map(|(_, value)| value.messages.0.as_ref().map_or(0, Vec::len))
        .sum();
    let mut events = Vec::with_capacity(most);
    for (entry, value) in values() {
        let messages = value.messages.0.as_deref().unwrap_or_default();
        if messages.is_empty() {
            continue; // statuses, errors: no message, no event
        }
        let contacts: Vec<Contact> = value
            .contacts
            .0
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.0.as_ref().map(|o| o.0.to_contact()))
            .collect();
        let shared = wire::Shared {
            entry_id: entry.id.0.as_deref(),
            value: value.to_value(),
        };
        for raw in messages {
            let message = wire::message(raw);
            let contact = contact_for(&message, &contacts);
            if let Some(filter) = filter
                && !filter.matches(message.identifiers(contact))
            {
                continue;
            }
            events.push(convert(shared.event(raw, message, contact.cloned())));
        }
    }
    Ok(events)
}

/// Reads a body that is a WhatsApp Business Account webhook, or says why it is not.
pub(crate) fn read(body: &[u8]) -> Result<wire::Payload<'_>, String> {
    let text = core::str::from_utf8(body).map_err(|_| "the body is not valid UTF-8".to_owned())?;
    if !text.trim_start().starts_with('{') {
        return Err("the body is not a JSON object".into());
    }
    let payload: wire::Payload<'_> =
        serde_json::from_str(text).map_err(|e| wire::describe_error(body, &e))?;
    match payload.object.0.as_deref() {
        Some(OBJECT) => {}
        Some(other) => return Err(wire::wrong_object(other)),
        None => {
            return Err(
                "`object` is missing or not a string: not a WhatsApp Business Account webhook"
                    .into(),
            );
        }
    }
    if payload.entry.0.is_none() {
        return Err(
            "`entry` is missing or not a list: not a WhatsApp Business Account webhook".into(),
        );
    }
    Ok(payload)
}

/// Every `messages`-field change of a webhook, with its entry: where messages and
/// statuses are. Entries and changes that are not objects hold nothing readable.
pub(crate) fn changes<'p, 'b>(
    payload: &'p wire::Payload<'b>,
) -> impl Iterator<Item = (&'p wire::Entry<'b>, &'p wire::ChangeValue<'b>)> {
    changes_of(payload, |field| field.is_none_or(|f| f == "messages"))
        .map(|(entry, _, value)| (entry, value))
}

/// Every change of a webhook whose `field` passes `accept`, with its entry and field.
pub(crate) fn changes_of<'p, 'b>(
    payload: &'p wire::Payload<'b>,
    accept: impl Fn(Option<&str>) -> bool + Copy + 'p,
) -> impl Iterator<
    Item = (
        &'p wire::Entry<'b>,
        Option<&'p str>,
        &'p wire::ChangeValue<'b>,
    ),
> {
    payload
        .entry
        .0
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.0.as_ref().map(|o| &o.0))
        .flat_map(move |entry| {
            let changes = entry.changes.0.as_deref().unwrap_or_default();
            changes
                .iter()
                .filter_map(|c| c.0.as_ref().map(|o| &o.0))
                .filter(move |change| accept(change.field.0.as_deref()))
                .filter_map(move |change| {
                    let field = change.field.0.as_deref();
                    Some((entry, field, &change.value.0.as_ref()?.0))
                })
        })
}

/// The contact card of a message's sender: the one whose `wa_id` is the message's
/// `from`, else whose `user_id` is its `from_user_id`, else the change's only contact,
/// unless both it and the message carry IDs (which did not match); else none.
fn contact_for<'c>(message: &Message, contacts: &'c [Contact]) -> Option<&'c Contact> {
    let by = |key: Option<&str>, field: fn(&Contact) -> Option<&str>| {
        key.and_then(|key| contacts.iter().find(|c| field(c) == Some(key)))
    };
    by(message.from.as_deref(), |c| c.wa_id.as_deref())
        .or_else(|| by(message.from_user_id.as_deref(), |c| c.user_id.as_deref()))
        .or(match contacts {
            // Not found by either ID: the only contact is the sender's unless both it
            // and the message carry identifiers (which then did not match).
            [only]
                if (only.wa_id.is_none() && only.user_id.is_none())
                    || (message.from.is_none() && message.from_user_id.is_none()) =>
            {
                Some(only)
            }
            _ => None,
        })
}

/// The deduplication key of a message: its ID, else a digest of its JSON text.
pub fn dedup_key(id: Option<&str>, raw_message: &str) -> String {
    match id {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!(
            "sha256:{}",
            hex::encode(Sha256::digest(raw_message.as_bytes()))
        ),
    }
}

/// The body as Meta sends it, borrowed from the raw bytes, read leniently.
pub(crate) mod wire {
    #[allow(unused_imports)]
    use crate::prelude::*;
    use alloc::borrow::Cow;
    use alloc::collections::BinaryHeap;
    use core::fmt;
    use core::marker::PhantomData;

    use serde::Deserialize;
    use serde::de::value::MapAccessDeserializer;
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde_json::value::RawValue;

    use super::{Contact, Event, Message, Metadata, RawJson, Value};

    /// A JSON value read as `T` when it has the shape `T` takes, else `None` (and
    /// skipped, at any depth, without recursion). It never fails for a value's type:
    /// only a key given twice in an object read as `T` is an error.
    pub struct Loose<T>(pub Option<T>);

    impl<T> Default for Loose<T> {
        fn default() -> Self {
            Self(None)
        }
    }

    /// How a [`Loose`] value is taken from the JSON value that is there.
    pub trait Accept<'de>: Sized {
        fn string(_value: Cow<'de, str>) -> Option<Self> {
            None
        }
        fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }

    impl<'de: 'a, 'a> Accept<'de> for Cow<'a, str> {
        fn string(value: Cow<'de, str>) -> Option<Self> {
            Some(value)
        }
    }

    impl<'de, T: Deserialize<'de>> Accept<'de> for Vec<T> {
        fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Some(items))
        }
    }

    /// An object read as the struct `T`.
    pub struct Obj<T>(pub T);

    impl<'de, T: Deserialize<'de>> Accept<'de> for Obj<T> {
        fn map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(|t| Some(Obj(t)))
        }
    }

    impl<'de, T: Accept<'de>> Deserialize<'de> for Loose<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(PhantomData<T>);
            impl<'de, T: Accept<'de>> Visitor<'de> for V<T> {
                type Value = Loose<T>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Loose<T>, E> {
                    Ok(Loose(T::string(Cow::Borrowed(v))))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose<T>, E> {
                    Ok(Loose(T::string(Cow::Owned(v.to_owned()))))
                }
                fn visit_string<E: de::Error>(self, v: String) -> Result<Loose<T>, E> {
                    Ok(Loose(T::string(Cow::Owned(v))))
                }
                fn visit_bool<E: de::Error>(self, _: bool) -> Result<Loose<T>, E> {
                    Ok(Loose(None))
                }
                fn visit_i64<E: de::Error>(self, _: i64) -> Result<Loose<T>, E> {
                    Ok(Loose(None))
                }
                fn visit_u64<E: de::Error>(self, _: u64) -> Result<Loose<T>, E> {
                    Ok(Loose(None))
                }
                fn visit_f64<E: de::Error>(self, _: f64) -> Result<Loose<T>, E> {
                    Ok(Loose(None))
                }
                fn visit_unit<E: de::Error>(self) -> Result<Loose<T>, E> {
                    Ok(Loose(None))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Loose<T>, A::Error> {
                    T::seq(seq).map(Loose)
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Loose<T>, A::Error> {
                    T::map(map).map(Loose)
                }
            }
            d.deserialize_any(V(PhantomData))
        }
    }

    type Str<'a> = Loose<Cow<'a, str>>;
    type List<T> = Loose<Vec<T>>;
    type Object<T> = Loose<Obj<T>>;

    fn owned(s: &Str<'_>) -> Option<String> {
        s.0.as_deref().map(str::to_owned)
    }

    #[derive(Deserialize)]
    pub struct Payload<'a> {
        #[serde(borrow, default)]
        pub object: Str<'a>,
        #[serde(borrow, default)]
        pub entry: List<Object<Entry<'a>>>,
    }

    #[derive(Deserialize)]
    pub struct Entry<'a> {
        #[serde(borrow, default)]
        pub id: Str<'a>,
        #[serde(borrow, default)]
        pub changes: List<Object<Change<'a>>>,
    }

    #[derive(Deserialize)]
    pub struct Change<'a> {
        #[serde(borrow, default)]
        pub field: Str<'a>,
        #[serde(borrow, default)]
        pub value: Object<ChangeValue<'a>>,
    }

    /// Other fields (`statuses`, `errors`, ...) share the shape loosely.
    #[derive(Deserialize)]
    pub struct ChangeValue<'a> {
        #[serde(borrow, default)]
        pub messaging_product: Str<'a>,
        #[serde(borrow, default)]
        pub metadata: Object<WireMetadata<'a>>,
        #[serde(borrow, default)]
        pub contacts: List<Object<WireContact<'a>>>,
        #[serde(borrow, default)]
        pub messages: List<&'a RawValue>,
        #[serde(borrow, default)]
        pub statuses: List<&'a RawValue>,
        /// `smb_message_echoes`: what the business sent from the WhatsApp Business app.
        #[serde(borrow, default)]
        pub message_echoes: List<&'a RawValue>,
        /// `user_preferences`: customers stopping or resuming marketing messages.
        #[serde(borrow, default)]
        pub user_preferences: List<&'a RawValue>,
        /// The four group webhooks.
        #[serde(borrow, default)]
        pub groups: List<&'a RawValue>,
    }

    impl ChangeValue<'_> {
        pub fn to_value(&self) -> Value {
            Value {
                messaging_product: owned(&self.messaging_product),
                metadata: self.metadata.0.as_ref().map(|Obj(m)| Metadata {
                    display_phone_number: owned(&m.display_phone_number),
                    phone_number_id: owned(&m.phone_number_id),
                }),
            }
        }
    }

    #[derive(Deserialize)]
    pub struct WireMetadata<'a> {
        #[serde(borrow, default)]
        pub display_phone_number: Str<'a>,
        #[serde(borrow, default)]
        pub phone_number_id: Str<'a>,
    }

    #[derive(Deserialize)]
    pub struct WireContact<'a> {
        #[serde(borrow, default)]
        pub profile: Object<Profile<'a>>,
        #[serde(borrow, default)]
        pub wa_id: Str<'a>,
        #[serde(borrow, default)]
        pub user_id: Str<'a>,
        #[serde(borrow, default)]
        pub parent_user_id: Str<'a>,
    }

    impl WireContact<'_> {
        pub fn to_contact(&self) -> Contact {
            let profile = self.profile.0.as_ref().map(|Obj(p)| p);
            Contact {
                profile_name: profile.and_then(|p| owned(&p.name)),
                username: profile.and_then(|p| owned(&p.username)),
                wa_id: owned(&self.wa_id),
                user_id: owned(&self.user_id),
                parent_user_id: owned(&self.parent_user_id),
            }
        }
    }

    #[derive(Deserialize)]
    pub struct Profile<'a> {
        #[serde(borrow, default)]
        pub name: Str<'a>,
        #[serde(borrow, default)]
        pub username: Str<'a>,
    }

    /// What every event of one change shares.
    pub struct Shared<'a> {
        pub entry_id: Option<&'a str>,
        pub value: Value,
    }

    impl Shared<'_> {
        pub fn event(&self, raw: &RawValue, message: Message, contact: Option<Contact>) -> Event {
            Event {
                object: super::OBJECT.to_owned(),
                dedup_key: super::dedup_key(message.id.as_deref(), raw.get()),
                entry: super::Entry {
                    id: self.entry_id.map(str::to_owned),
                    changes: super::Change {
                        value: self.value.clone(),
                        contacts: contact,
                        messages: message,
                    },
                },
            }
        }
    }

    /// An object's members in order, each value raw; a key given twice is an error.
    pub(crate) struct Members<'a>(pub(crate) Vec<(Cow<'a, str>, &'a RawValue)>);

    impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<'a>(PhantomData<&'a ()>);
            impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
                type Value = Members<'a>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'a>, A::Error> {
                    let mut members: Vec<(Cow<'a, str>, &'a RawValue)> = Vec::new();
                    while let Some(Loose(key)) = map.next_key::<Str<'a>>()? {
                        let key = key.ok_or_else(|| de::Error::custom("a key is not a string"))?;
                        members.push((key, map.next_value()?));
                    }
                    if let Some(key) = repeated_key(&members) {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    Ok(Members(members))
                }
            }
            d.deserialize_map(V(PhantomData))
        }
    }

    impl<'a> Members<'a> {
        /// An object's members; `None` when `text` is not an object, or repeats a key.
        pub(crate) fn of(text: &'a str) -> Option<Self> {
            serde_json::from_str(text).ok()
        }

        /// The value of member `key`.
        pub(crate) fn get(&self, key: &str) -> Option<&'a RawValue> {
            self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
        }

        /// The value of member `key` when it is a string, unescaped.
        pub(crate) fn string(&self, key: &str) -> Option<String> {
            self.get(key).and_then(string)
        }
    }

    /// Reads an element's members: `take` keeps the ones it knows (returning true), and
    /// every other member is returned, raw, in order. `None` when the element is not an
    /// object or repeats a key: then nothing of it is interpreted.
    pub(crate) fn members_into<'a>(
        raw: &'a RawValue,
        mut take: impl FnMut(&str, &'a RawValue) -> bool,
    ) -> Option<Vec<(String, RawJson)>> {
        let Members(members) = Members::of(raw.get())?;
        let mut others = Vec::new();
        for (key, value) in members {
            if !take(&key, value) {
                others.push((key.into_owned(), value.into()));
            }
        }
        Some(others)
    }

    /// Whether a (valid) JSON value is a number.
    pub(crate) fn is_number(raw: &RawValue) -> bool {
        raw.get()
            .starts_with(|c: char| c == '-' || c.is_ascii_digit())
    }

    /// A key given twice among an object's members, if any.
    fn repeated_key<'m>(members: &'m [(Cow<'_, str>, &RawValue)]) -> Option<&'m str> {
        if members.len() <= 16 {
            // A message has about six members: comparing each pair allocates nothing
            // and is the quickest.
            return members.iter().enumerate().find_map(|(i, (key, _))| {
                members[i + 1..]
                    .iter()
                    .any(|(other, _)| other == key)
                    .then_some(key.as_ref())
            });
        }
        // Many members (a hostile body may send thousands): sorted, O(n log n). A heap,
        // not `sort_unstable`, whose quicksort would be the guest's largest function
        // (15 KB) for this one use.
        let keys: Vec<&str> = members.iter().map(|(key, _)| key.as_ref()).collect();
        let keys = BinaryHeap::from(keys).into_sorted_vec();
        keys.windows(2)
            .find(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
    }

    /// A string member's value, unescaped; `None` when it is not a string.
    pub(crate) fn string(raw: &RawValue) -> Option<String> {
        let text = raw.get();
        let inner = text.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            return Some(inner.to_owned());
        }
        serde_json::from_str(text).ok()
    }

    /// `{"body": "..."}`, the text of a text message.
    /// `text.body`, when `text` is exactly `{"body": "…"}`: a `text` with any other
    /// member is carried whole (under `others`), so that nothing of it is lost.
    fn text_body(raw: &RawValue) -> Option<String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Text<'a> {
            #[serde(borrow)]
            body: Cow<'a, str>,
        }
        serde_json::from_str::<Text<'_>>(raw.get())
            .ok()
            .map(|t| t.body.into_owned())
    }

    /// One `messages[]` element, every member kept (see the module's rules).
    pub fn message(raw: &RawValue) -> Message {
        let Ok(Members(members)) = serde_json::from_str::<Members<'_>>(raw.get()) else {
            return Message {
                raw: Some(RawJson::from(raw)),
                ..Message::default()
            };
        };
        let kind = members
            .iter()
            .find(|(k, _)| k == "type")
            .and_then(|(_, v)| string(v));
        let mut message = Message::default();
        for (key, value) in members {
            let slot = match key.as_ref() {
                "from" => &mut message.from,
                "from_user_id" => &mut message.from_user_id,
                "from_parent_user_id" => &mut message.from_parent_user_id,
                "id" => &mut message.id,
                "timestamp" => &mut message.timestamp,
                "type" => &mut message.kind,
                "group_id" => &mut message.group_id,
                "text" if kind.as_deref() == Some("text") => &mut message.text,
                "context" => {
                    message.context = Some(value.into());
                    continue;
                }
                "errors" => {
                    message.errors = Some(value.into());
                    continue;
                }
                other if kind.as_deref().is_some_and(|k| k != "text" && k == other) => {
                    message.content = Some(value.into());
                    continue;
                }
                _ => {
                    message.others.push((key.into_owned(), value.into()));
                    continue;
                }
            };
            let read = if key == "text" {
                text_body(value)
            } else {
                string(value)
            };
            match read {
                Some(read) => *slot = Some(read),
                None => message.others.push((key.into_owned(), value.into())),
            }
        }
        if let Some(content) = &message.content {
            match message.kind.as_deref() {
                Some("edit" | "revoke") => {
                    message.original_message_id = original_message_id(content.get());
                }
                Some("interactive") => message.flow_reply = crate::flow::read_reply(content.get()),
                _ => {}
            }
        }
        message
    }

    /// `original_message_id` of an `edit` or `revoke` object, when it is a string.
    fn original_message_id(content: &str) -> Option<String> {
        Members::of(content)?.string("original_message_id")
    }

    pub fn wrong_object(object: &str) -> String {
        format!(
            "`object` is {object:?}, expected \"{}\": not a WhatsApp Business Account webhook",
            super::OBJECT
        )
    }

    /// The slow path, taken only for a body that failed to parse with `error`: says why
    /// and where.
    pub fn describe_error(body: &[u8], error: &serde_json::Error) -> String {
        if body.trim_ascii_start().first() != Some(&b'{') {
            return "the body is not a JSON object".to_owned();
        }
        match json_path_at(body, byte_offset(body, error.line(), error.column())) {
            path if path.is_empty() => format!("not a webhook body: {error}"),
            path => format!("{path}: {error}"),
        }
    }

    /// The byte offset of serde_json's one-based line and column.
    fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
        let line_start: usize = body
            .split(|b| *b == b'\n')
            .take(line.saturating_sub(1))
            .map(|l| l.len() + 1)
            .sum();
        (line_start + column).min(body.len())
    }

    /// Where in the document `offset` is, as a path like
    /// `entry[0].changes[0].value.messages[0].from`: the objects and arrays open there,
    /// with the key or index being read in each. A small scanner instead of tracking the
    /// path while deserializing, which would double the deserializer code in the component.
    pub(super) fn json_path_at(body: &[u8], offset: usize) -> String {
        enum Frame {
            /// The key being read or whose value is being read; `None` between members.
            Object(Option<String>),
            Array(usize),
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut key_start = None;
        let mut in_string = false;
        let mut escaped = false;
        let mut i = 0;
        while i < offset {
            let b = body[i];
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if let (Some(start), Some(Frame::Object(key))) =
                        (key_start.take(), stack.last_mut())
                    {
                        *key = Some(String::from_utf8_lossy(&body[start..i]).into_owned());
                    }
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => {
                    in_string = true;
                    // A string where a key is expected is the key.
                    if matches!(stack.last(), Some(Frame::Object(None))) {
                        key_start = Some(i + 1);
                    }
                }
                b'{' => stack.push(Frame::Object(None)),
                b'[' => stack.push(Frame::Array(0)),
                b'}' | b']' => {
                    stack.pop();
                }
                b',' => match stack.last_mut() {
                    Some(Frame::Array(index)) => *index += 1,
                    Some(Frame::Object(key)) => *key = None,
                    None => {}
                },
                _ => {}
            }
            i += 1;
        }
        const MAX_SEGMENTS: usize = 12;
        let mut path = String::new();
        for frame in stack.iter().take(MAX_SEGMENTS) {
            match frame {
                Frame::Object(Some(key)) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Object(None) => {}
                Frame::Array(index) => path.push_str(&format!("[{index}]")),
            }
        }
        if stack.len() > MAX_SEGMENTS {
            path.push('…');
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_TEXT: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;

    fn only(body: &str) -> Event {
        let mut events = events(body.as_bytes(), None).unwrap();
        assert_eq!(events.len(), 1, "{body}");
        events.remove(0)
    }

    #[test]
    fn one_text_message_is_one_event_in_the_documented_nesting() {
        let e = only(ONE_TEXT);
        assert_eq!(e.entry.id.as_deref(), Some("102290129340398"));
        let change = &e.entry.changes;
        let metadata = change.value.metadata.as_ref().unwrap();
        assert_eq!(metadata.phone_number_id.as_deref(), Some("106540352242922"));
        let contact = change.contacts.as_ref().unwrap();
        assert_eq!(contact.profile_name.as_deref(), Some("Sheena Nelson"));
        let m = &change.messages;
        assert_eq!(m.text.as_deref(), Some("Does it come in another color?"));
        assert_eq!(m.kind.as_deref(), Some("text"));
        assert_eq!(m.content, None);
        assert_eq!(e.dedup_key, m.id.clone().unwrap());
        let json: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(json["entry"]["changes"]["contacts"]["wa_id"], "16505551234");
        assert_eq!(
            json["entry"]["changes"]["messages"]["text"]["body"],
            "Does it come in another color?"
        );
        assert!(json.get("dedup_key").is_none());
    }

    #[test]
    fn escaped_text_is_unescaped() {
        let body = ONE_TEXT.replace("Does it come", "Caf\\u00e9 \\\"quoted\\\"");
        let e = only(&body);
        assert!(
            e.entry
                .changes
                .messages
                .text
                .as_deref()
                .unwrap()
                .starts_with("Café \"quoted\"")
        );
    }

    #[test]
    fn paths_name_the_place_in_the_document() {
        let body = br#"{"entry":[{"id":"1","changes":[{},{"value":{"messages":[{"id":12}]}}]}]}"#;
        let at = |needle: &str| {
            let offset = body
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .unwrap();
            wire::json_path_at(body, offset + needle.len())
        };
        assert_eq!(at(r#""id":12"#), "entry[0].changes[1].value.messages[0].id");
        assert_eq!(at(r#""id":12}"#), "entry[0].changes[1].value.messages[0]");
        assert_eq!(at(r#""id":"1","#), "entry[0]");
        assert_eq!(wire::json_path_at(body, 0), "");
        let escaped = br#"{"a\"b":{"c":["x\\",1,"#;
        assert_eq!(wire::json_path_at(escaped, escaped.len()), r#"a\"b.c[2]"#);
    }

    #[test]
    fn only_a_body_that_is_not_a_webhook_is_refused() {
        let page = r#"{"object":"page","entry":[{"id":"1","time":1,"messaging":[]}]}"#;
        assert!(
            events(page.as_bytes(), None)
                .unwrap_err()
                .contains("\"page\"")
        );
        assert!(events(b"not json", None).is_err());
        assert!(
            events(b"[]", None)
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(
            events(br#"{"object":"whatsapp_business_account"}"#, None)
                .unwrap_err()
                .contains("`entry`")
        );
        assert!(
            events(
                br#"{"object":"whatsapp_business_account","entry":{"id":"1"}}"#,
                None
            )
            .unwrap_err()
            .contains("not a list")
        );
        let dup = ONE_TEXT.replacen(
            "\"object\":\"whatsapp_business_account\"",
            "\"object\":\"whatsapp_business_account\",\"object\":\"page\"",
            1,
        );
        let err = events(dup.as_bytes(), None).unwrap_err();
        assert!(err.contains("duplicate field `object`"), "{err}");
        let dup_in_value = ONE_TEXT.replace(
            "\"messaging_product\":\"whatsapp\"",
            "\"messaging_product\":\"whatsapp\",\"messaging_product\":\"x\"",
        );
        let err = events(dup_in_value.as_bytes(), None).unwrap_err();
        assert!(
            err.contains("entry[0].changes[0].value") && err.contains("duplicate"),
            "{err}"
        );
    }

    #[test]
    fn a_text_with_more_than_its_body_is_carried_whole() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"m","type":"text","text":{"body":"hi","preview":{"url":"x"}}}]}}]}]}"#;
        let events = events(body.as_bytes(), None).unwrap();
        let m = &events[0].entry.changes.messages;
        assert_eq!(m.text, None);
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(
            json["entry"]["changes"]["messages"]["text"],
            serde_json::json!({"body": "hi", "preview": {"url": "x"}})
        );
    }

    #[test]
    fn a_message_without_any_optional_field_is_still_an_event() {
        let bare = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"type":"text","text":{"body":"hi"}}]}}]}]}"#;
        let e = only(bare);
        assert_eq!(e.entry.id, None);
        assert_eq!(e.entry.changes.value, Value::default());
        assert_eq!(e.entry.changes.contacts, None);
        let m = &e.entry.changes.messages;
        assert_eq!((m.from.as_deref(), m.id.as_deref()), (None, None));
        assert_eq!(m.text.as_deref(), Some("hi"));
        assert!(e.dedup_key.starts_with("sha256:"));
        assert_eq!(
            e.dedup_key,
            only(bare).dedup_key,
            "stable for the same bytes"
        );
        let other = bare.replace("hi", "ho");
        assert_ne!(e.dedup_key, only(&other).dedup_key);
    }

    #[test]
    fn wrong_types_and_unknown_members_are_carried_raw() {
        let body = ONE_TEXT.replace(
            "\"from\":\"16505551234\"",
            "\"from\":16505551234,\"identity\":{\"acknowledged\":true},\"group_id\":7",
        );
        let m = only(&body).entry.changes.messages;
        assert_eq!(m.from, None);
        assert_eq!(m.group_id, None);
        let others: Vec<(&str, &str)> = m
            .others
            .iter()
            .map(|(k, v)| (k.as_str(), v.get()))
            .collect();
        assert_eq!(
            others,
            [
                ("from", "16505551234"),
                ("identity", "{\"acknowledged\":true}"),
                ("group_id", "7")
            ]
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["from"], 16505551234u64);
        assert_eq!(json["identity"]["acknowledged"], true);
    }

    #[test]
    fn a_message_that_is_not_an_object_is_an_event_that_carries_it() {
        for element in ["\"just text\"", "[1,2]", "{\"id\":\"a\",\"id\":\"b\"}"] {
            let body = ONE_TEXT.replace("\"messages\":[{", &format!("\"messages\":[{element},{{"));
            let events = events(body.as_bytes(), None).unwrap();
            assert_eq!(events.len(), 2, "{element}");
            let raw = &events[0].entry.changes.messages;
            assert_eq!(raw.raw.as_ref().unwrap().get(), element);
            assert!(events[0].dedup_key.starts_with("sha256:"));
            let json = serde_json::to_string(&events[0]).unwrap();
            assert!(json.contains(&format!("\"messages\":{element}")), "{json}");
        }
    }

    #[test]
    fn a_key_given_twice_is_found_among_few_or_many_members() {
        for count in [2, 16, 17, 300] {
            let distinct: Vec<String> = (0..count).map(|i| format!("\"k{i}\":{i}")).collect();
            let unique = format!("{{\"id\":\"wamid.x\",{}}}", distinct.join(","));
            let repeated = format!(
                "{{\"id\":\"wamid.x\",{},\"k{}\":0}}",
                distinct.join(","),
                count / 2
            );
            for (element, twice) in [(unique, false), (repeated, true)] {
                let body =
                    ONE_TEXT.replace("\"messages\":[{", &format!("\"messages\":[{element},{{"));
                let events = events(body.as_bytes(), None).unwrap();
                let message = &events[0].entry.changes.messages;
                assert_eq!(
                    message.raw.is_some(),
                    twice,
                    "{count} members, repeated: {twice}"
                );
                if !twice {
                    assert_eq!(message.others.len(), count);
                }
            }
        }
    }

    #[test]
    fn deep_raw_json_keeps_its_shape() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let body = ONE_TEXT.replace(
            "\"type\":\"text\"",
            &format!("\"type\":\"text\",\"context\":{deep},\"x\":{deep}"),
        );
        let e = only(&body);
        assert_eq!(
            e.entry.changes.messages.context.as_ref().unwrap().get(),
            deep
        );
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(&format!("\"context\":{deep}")));
        let deep_entry = format!(
            r#"{{"object":"whatsapp_business_account","entry":{}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(events(deep_entry.as_bytes(), None).unwrap(), vec![]);
        let deep_top = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(events(deep_top.as_bytes(), None).is_err());
    }

    #[test]
    fn the_contact_is_the_senders_else_the_only_one() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"contacts":[{"profile":{"name":"A"},"wa_id":"111"},{"profile":{"name":"B","username":"@b"},"user_id":"US.2"}],"messages":[{"from":"111","id":"m1","type":"text","text":{"body":"a"}},{"from_user_id":"US.2","id":"m2","type":"text","text":{"body":"b"}},{"from":"999","id":"m3","type":"text","text":{"body":"c"}}]}}]}]}"#;
        let events = events(body.as_bytes(), None).unwrap();
        let names: Vec<Option<&str>> = events
            .iter()
            .map(|e| {
                e.entry
                    .changes
                    .contacts
                    .as_ref()
                    .and_then(|c| c.profile_name.as_deref())
            })
            .collect();
        assert_eq!(names, [Some("A"), Some("B"), None]);
        let b = events[1].entry.changes.contacts.as_ref().unwrap();
        assert_eq!(b.username.as_deref(), Some("@b"));
        // The only contact belongs to another sender: it is not this message's.
        let other = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"contacts":[{"wa_id":"111","user_id":"US.1"}],"messages":[{"from_user_id":"US.2","type":"text","text":{"body":"x"}},{"type":"text","text":{"body":"y"}}]}}]}]}"#;
        let events = super::events(other.as_bytes(), None).unwrap();
        assert_eq!(events[0].entry.changes.contacts, None);
        assert!(
            events[1].entry.changes.contacts.is_some(),
            "no identifier: the only contact"
        );
    }
}
